/**
 * Issue 27: `onInvalidReplay: backfill` when Salesforce refuses the position. The bridge's own
 * clock says the stored position is fresh (its age check passes); Salesforce, 4 days ahead,
 * refuses it at the first subscribe. Its word wins: the backfill runs from the last committed
 * event's time, on both transports. /limits polling is off, so the bridge cannot know Salesforce's
 * clock and only the refusal can tell it.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulatorOrg, makeBridge, readSink } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { firstRunOf100, liveEventsArrive, markerArrives, renameAccounts } from '../helpers/records.js';
import { tempDir } from '../helpers/tmp.js';

const DAY = 24 * 3600_000;

/** An `initial: latest` route source on `channel` whose refused positions are backfilled. */
function backfillSource(transport: 'pubsub' | 'cometd', channel: string) {
  const common = { org: 'emu', initial: 'latest', onInvalidReplay: 'backfill' };
  return transport === 'pubsub' ? { type: 'pubsub', topic: channel, ...common } : { type: 'cometd', channel, ...common };
}

describe('backfill when Salesforce refuses the position', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  for (const transport of ['pubsub', 'cometd'] as const) {
    it(`${transport}: a position Salesforce refuses at the first subscribe is backfilled, then live events follow`, async () => {
      const dir = tempDir();
      const out = join(dir, 'out');
      const channel = '/data/AccountChangeEvent';
      const source = backfillSource(transport, channel);
      const routes = [{ name: `refused-${transport}`, source, sinks: [{ type: 'file', dir: out }] }];
      const orgs = { orgs: { emu: { ...emulatorOrg(t), limits: { poll: 0 } } } };
      const ids = await firstRunOf100(t, dir, routes, orgs, channel);

      await renameAccounts(t, ids.slice(0, 60), 'before');
      await t.admin('clock', { advanceMs: 4 * DAY });
      await renameAccounts(t, ids.slice(50, 71), 'after');
      const changed = ids.slice(0, 71);
      const latest = (id: string) => (ids.indexOf(id) >= 50 ? `after ${id}` : `before ${id}`);

      const before = readSink(out).length;
      const b = makeBridge(t, dir, routes, orgs);
      await b.bridge.start();
      await markerArrives(out, before);
      await t.subscribed(channel);
      await liveEventsArrive(t, out);
      await b.bridge.stop();

      const got = readSink(out).slice(before);
      const snap = got.filter((e) => e.kind === 'snapshot');
      const byId = new Map(snap.map((e) => [e.changeHeader.recordIds[0], e]));
      for (const id of changed) expect(byId.get(id)?.payload.Name, id).toBe(latest(id));
      const marker = got.find((e) => e.kind === 'replay-gap');
      expect(marker?.payload).toMatchObject({ policy: 'backfill', backfilled: { records: snap.length } });
      expect(marker?.payload.reason).toMatch(/Salesforce rejected the replay id/);
      // From the last committed event's time (less a margin), not from the bridge's idea of age.
      expect(Date.parse(marker?.payload.backfilled.since)).toBeLessThan(Date.parse(marker?.payload.storedEventTime));
      const order = got.map((e) => e.kind);
      expect(order.lastIndexOf('snapshot')).toBeLessThan(order.indexOf('replay-gap'));
      expect(order.indexOf('replay-gap')).toBeLessThan(order.findIndex((k, i) => k === 'cdc' && i > order.indexOf('replay-gap')));
      expect(b.capture.text()).not.toMatch(/no backfill ran/);
    });
  }

  // The refusal comes at a later reconnect of a running bridge: its stream drops, Salesforce is
  // unreachable long enough (here: 4 days on its clock) for the events after the position to expire.
  for (const transport of ['pubsub', 'cometd'] as const) {
    it(`${transport}: a position refused at a reconnect of a running route is backfilled from the last delivered event`, async () => {
      const dir = tempDir();
      const out = join(dir, 'out');
      const channel = '/data/AccountChangeEvent';
      const source = backfillSource(transport, channel);
      const b = makeBridge(t, dir, [{ name: `later-${transport}`, source, sinks: [{ type: 'file', dir: out }] }], {
        orgs: { emu: { ...emulatorOrg(t), limits: { poll: 0 } } },
      });
      await b.bridge.start();
      await t.subscribed(channel);
      const ids: string[] = (await t.admin('records/create', { object: 'Account', count: 60 })).ids;
      await until(() => readSink(out).length >= 60, 20_000, 'the first events');
      const before = readSink(out).length;

      await t.admin('streams/drop', { refuseMs: 4000 });
      await renameAccounts(t, ids.slice(0, 30), 'lost');
      await t.admin('clock', { advanceMs: 4 * DAY });
      await renameAccounts(t, ids.slice(20, 40), 'kept');
      await markerArrives(out, before);
      await until(
        () =>
          readSink(out)
            .slice(before)
            .filter((e) => e.kind === 'cdc' && e.changeHeader.changeType === 'UPDATE').length >= 20,
        20_000,
        'the retained updates, streamed after the backfill',
      );
      await b.bridge.stop();

      const got = readSink(out).slice(before);
      const byId = new Map(got.filter((e) => e.kind === 'snapshot').map((e) => [e.changeHeader.recordIds[0], e]));
      for (const id of ids.slice(0, 40)) expect(byId.get(id)?.payload.Name, id).toBe(`${ids.indexOf(id) >= 20 ? 'kept' : 'lost'} ${id}`);
      const marker = got.find((e) => e.kind === 'replay-gap');
      expect(marker?.payload).toMatchObject({ policy: 'backfill', backfilled: { records: byId.size } });
      expect(marker?.payload.reason).toMatch(/Salesforce rejected the replay id/);
    });
  }
});
