/** Record changes through the emulator's REST API, and the live events a bridge should deliver after them. */
import { expect } from 'vitest';
import { makeBridge, readSink } from './bridge.js';
import type { TestEmulator } from './emulator.js';
import { until } from './fakes.js';

/** Set `Name` to `<tag> <id>` on each Account, as a REST client would (one change event each). */
export async function renameAccounts(t: TestEmulator, ids: string[], tag: string): Promise<void> {
  const token = await t.token(); // a fresh one when the emulator's clock has jumped past the last
  for (const id of ids) {
    const r = await t.http('PATCH', `/services/data/v63.0/sobjects/Account/${id}`, { token, body: { Name: `${tag} ${id}` } });
    expect(r.status).toBe(204);
  }
}

/** Create three Accounts and wait until their CREATE events reach the file sink in `out`. */
export async function liveEventsArrive(t: TestEmulator, out: string): Promise<string[]> {
  const live: string[] = (await t.admin('records/create', { object: 'Account', count: 3, fields: { Industry: 'Live' } })).ids;
  await until(
    () => readSink(out).filter((e) => e.kind === 'cdc' && live.includes(e.changeHeader.recordIds[0])).length >= 3,
    20_000,
    'live events',
  );
  return live;
}

/**
 * A first run of `routes` (one route, `initial: latest` on `channel`) that bridges 100 new
 * Accounts and stops: the stored position a later run resumes from. Returns the Accounts' ids.
 */
export async function firstRunOf100(
  t: TestEmulator,
  dir: string,
  routes: unknown[],
  extra: Record<string, unknown>,
  channel: string,
): Promise<string[]> {
  const a = makeBridge(t, dir, routes, extra);
  await a.bridge.start();
  await t.subscribed(channel);
  const ids: string[] = (await t.admin('records/create', { object: 'Account', count: 100 })).ids;
  await until(() => (a.bridge.status().routes[0]?.eventsCommitted ?? 0) >= 100, 20_000, 'first run committed');
  await a.bridge.stop();
  return ids;
}

/** Wait until the file sink in `out` has a replay-gap marker among the envelopes after the first `before`. */
export function markerArrives(out: string, before: number, what = 'the backfill and its marker'): Promise<void> {
  return until(
    () =>
      readSink(out)
        .slice(before)
        .some((e) => e.kind === 'replay-gap'),
    30_000,
    what,
  );
}
