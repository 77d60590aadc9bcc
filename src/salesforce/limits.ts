/**
 * The org's API allowance, as `/services/data/vXX.X/limits` reports it. Exports (snapshot,
 * backfill) wait here while an allowance they spend is nearly gone, so a long export never takes
 * the last API calls of the org's other integrations.
 */
import type { Logger } from '../log.js';
import { sleep } from '../retry.js';
import type { RestClient } from './rest.js';

type Limits = Record<string, { Max: number; Remaining: number } | undefined>;

/** What an export spends: API requests, a Bulk API 2.0 query job per export, and result storage. */
const SPENT_BY_EXPORTS = ['DailyApiRequests', 'DailyBulkV2QueryJobs', 'DailyBulkV2QueryFileStorageMB'];

export interface AllowanceSettings {
  reservePercent: number;
  recheckMs: number;
}

/** The first allowance under the reserve, or null. */
export function lowAllowance(limits: Limits, reservePercent: number): { name: string; remaining: number; max: number } | null {
  for (const name of SPENT_BY_EXPORTS) {
    const l = limits[name];
    if (l && l.Max > 0 && (l.Remaining / l.Max) * 100 < reservePercent) return { name, remaining: l.Remaining, max: l.Max };
  }
  return null;
}

/** Resolves once the allowances are above the reserve (or `stopped()`); says so loudly while it waits. */
export async function waitForAllowance(rest: RestClient, s: AllowanceSettings, log: Logger, stopped: () => boolean): Promise<void> {
  for (;;) {
    const low = lowAllowance(await rest.request<Limits>('GET', '/limits'), s.reservePercent);
    if (!low || stopped()) return;
    log.error(
      { allowance: low.name, remaining: low.remaining, max: low.max, reservePercent: s.reservePercent, recheckMs: s.recheckMs },
      `export paused: the org's ${low.name} is down to ${low.remaining} of ${low.max} (under the ${s.reservePercent}% reserve); checking again in ${Math.round(s.recheckMs / 1000)} s`,
    );
    await sleep(s.recheckMs);
  }
}
