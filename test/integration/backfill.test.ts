/**
 * `onInvalidReplay: backfill` (issue 18 item 2): a bridge stopped for "4 days" (the emulator's
 * clock moves past the 72 h retention, so the events of the outage are gone from the stream)
 * ends with the latest state of every record changed meanwhile — deletions included, from the
 * recycle bin — then live events; the replay-gap marker says what was backfilled.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileReplayStore } from '../../src/replay/file/file-store.js';
import { emulatorOrg, makeBridge, readSink } from '../helpers/bridge.js';
import { runCli, startCli } from '../helpers/cli.js';
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

  it("sfbridge backfill exports through the route's sinks, can be interrupted and resumes where it stopped", async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const created: string[] = (await t.admin('records/create', { object: 'Account', count: 3000, fields: { Industry: 'Backfilled' } })).ids;
    const cfg = join(dir, 'bridge.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        log: { level: 'info', format: 'json' },
        orgs: { emu: emulatorOrg(t) },
        replayStore: { type: 'file', path: join(dir, 'replay.json') },
        deadLetter: { type: 'file', dir: join(dir, 'dlq') },
        pipeline: { commitIntervalMs: 20, maxBatchEvents: 50 },
        routes: [
          {
            name: 'acc',
            source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent' },
            sinks: [{ type: 'file', dir: out }],
            maxInFlight: 100,
          },
        ],
      }),
    );
    const since = new Date(Date.now() - 3600_000).toISOString();
    const missing = await runCli(['backfill', '--route', 'acc', '-c', cfg]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no stored position with a time; give --since TIME/);
    const first = startCli(['backfill', '--route', 'acc', '--since', since, '-c', cfg]);
    await until(() => readSink(out).length >= 500 || first.child.exitCode !== null, 30_000, 'the export to be under way');
    first.child.kill('SIGINT');
    const r1 = await first.result;
    expect(r1.code, r1.stderr).toBe(130);
    expect(r1.stderr).toMatch(/interrupted; run the same command again to resume/);
    const half = readSink(out).length;
    const r2 = await runCli(['backfill', '--route', 'acc', '--since', since, '-c', cfg]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stderr).toMatch(/resuming the export stopped earlier/);
    expect(r2.stderr).toMatch(/backfill acc: done/);
    const got = readSink(out);
    const ids = new Set(got.filter((e) => e.kind === 'snapshot').map((e) => e.changeHeader.recordIds[0]));
    for (const id of created) expect(ids.has(id), id).toBe(true);
    // Resumed, not restarted: the second run added far fewer than everything again.
    expect(got.length - half).toBeLessThan(got.length);
    expect(got.length).toBeLessThan(half + 3000 + 200);
  });
});
