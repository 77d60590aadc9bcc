/**
 * `onInvalidReplay: backfill` (issue 18 item 2): a bridge stopped for "4 days" (the emulator's
 * clock moves past the 72 h retention, so the events of the outage are gone from the stream)
 * ends with the latest state of every record changed meanwhile — deletions included, from the
 * recycle bin — then live events; the replay-gap marker says what was backfilled.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileReplayStore } from '../../src/replay/file/file-store.js';
import { makeBridge, readSink } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';

const DAY = 24 * 3600_000;

describe('backfill past retention', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  it('a 4-day outage ends with every changed record (deletions included) and then live events', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const routes = [
      {
        name: 'acc',
        source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent', initial: 'earliest', onInvalidReplay: 'backfill' },
        sinks: [{ type: 'file', dir: out }],
      },
    ];
    const first = await t.admin('records/create', { object: 'Account', count: 50 });
    const ids: string[] = first.ids;
    const a = makeBridge(t, dir, routes);
    await a.bridge.start();
    await until(() => (a.bridge.status().routes[0]?.eventsCommitted ?? 0) >= 50, 20_000, 'first run committed');
    await a.bridge.stop();

    // While the bridge is down: updates, deletions, new records; then 4 days pass and Salesforce
    // purges every event of the outage (retention 72 h).
    const tok = await t.token();
    for (const id of ids.slice(0, 10))
      await t.http('PATCH', `/services/data/v63.0/sobjects/Account/${id}`, { token: tok, body: { Name: `changed ${id}` } });
    for (const id of ids.slice(10, 15)) await t.http('DELETE', `/services/data/v63.0/sobjects/Account/${id}`, { token: tok });
    const added: string[] = (await t.admin('records/create', { object: 'Account', count: 5, fields: { Industry: 'Mining' } })).ids;
    await t.admin('clock', { advanceMs: 4 * DAY });
    const store = new FileReplayStore({ type: 'file', path: join(dir, 'replay.json'), fsync: true });
    await store.open();
    const stored = await store.load('acc');
    await store.commit('acc', { replayId: stored?.replayId as string, eventTime: new Date(Date.now() - 4 * DAY).toISOString() });
    await store.close();

    const before = readSink(out).length;
    const b = makeBridge(t, dir, routes);
    await b.bridge.start();
    await until(
      () =>
        readSink(out)
          .slice(before)
          .some((e) => e.kind === 'replay-gap'),
      20_000,
      'the backfill and its marker',
    );
    await t.subscribed('/data/AccountChangeEvent');
    const live: string[] = (await t.admin('records/create', { object: 'Account', count: 3, fields: { Industry: 'Live' } })).ids;
    await until(
      () => readSink(out).filter((e) => e.kind === 'cdc' && live.includes(e.changeHeader.recordIds[0])).length >= 3,
      20_000,
      'live events',
    );
    await b.bridge.stop();

    const got = readSink(out).slice(before);
    const snap = got.filter((e) => e.kind === 'snapshot');
    const marker = got.find((e) => e.kind === 'replay-gap');
    expect(marker?.payload).toMatchObject({ policy: 'backfill', backfilled: { records: snap.length } });
    // Latest state of every changed record, deletions flagged; the marker comes after the export, live events after both.
    const byId = new Map(snap.map((e) => [e.changeHeader.recordIds[0], e]));
    for (const id of ids.slice(0, 10)) expect(byId.get(id)?.payload.Name).toBe(`changed ${id}`);
    for (const id of ids.slice(10, 15)) expect(byId.get(id)?.deleted, id).toBe(true);
    for (const id of added) expect(byId.get(id)?.payload.Industry).toBe('Mining');
    const order = got.map((e) => e.kind);
    expect(order.lastIndexOf('snapshot')).toBeLessThan(order.indexOf('replay-gap'));
    expect(order.indexOf('replay-gap')).toBeLessThan(order.indexOf('cdc'));
  });
});
