/**
 * Epoch milliseconds -> ISO 8601 (`Date#toISOString`'s exact text), about 8x cheaper per call:
 * the date part is formatted once per day and the time of day by arithmetic. Every event's
 * `eventTime` goes through here, so it is on the hot path. Out of 0000–9999 it defers to Date.
 */
const DAY = 86_400_000;
const LAST = 253_402_300_800_000; // 10000-01-01T00:00:00.000Z
let cachedDay = Number.NaN;
let cachedPrefix = '';

const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);
const pad3 = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);

export function isoTime(ms: number): string {
  if (!(ms >= 0 && ms < LAST) || !Number.isInteger(ms)) return new Date(ms).toISOString();
  const day = Math.floor(ms / DAY);
  if (day !== cachedDay) {
    cachedPrefix = new Date(day * DAY).toISOString().slice(0, 11);
    cachedDay = day;
  }
  let rest = ms - day * DAY;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = Math.floor(rest / 1000);
  return `${cachedPrefix}${pad2(h)}:${pad2(m)}:${pad2(s)}.${pad3(rest - s * 1000)}Z`;
}
