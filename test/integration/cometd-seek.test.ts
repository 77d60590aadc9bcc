/**
 * Issue 27: a CometD stream that stalls while Salesforce seeks the replay id after a large data
 * load (knowledge article 005321562). The emulator answers the subscribe, then no /meta/connect
 * for the whole seek, and a subscribe from the replay id starts the seek over; it ends by
 * refusing the replay id. The bridge must tell "alive but seeking" from a dead connection (a
 * handshake probe), show it in /status, not rebuild in a loop (each rebuild would restart the
 * seek), and let the invalid-replay policy finish the job: here a backfill, so nothing is lost.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulatorOrg, makeBridge, readSink } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { firstRunOf100, liveEventsArrive, markerArrives, renameAccounts } from '../helpers/records.js';
import { tempDir } from '../helpers/tmp.js';

const CHANNEL = '/data/AccountChangeEvent';

describe('CometD: Salesforce seeking a replay id', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  it('shows "seeking", does not rebuild in a loop, then backfills what the refused replay id would have delivered', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    // A 1 s watchdog: without the liveness probe the client would be rebuilt about 8 times during the seek.
    const source = { type: 'cometd', org: 'emu', channel: CHANNEL, initial: 'latest', onInvalidReplay: 'backfill', watchdogSeconds: 1 };
    const routes = [{ name: 'seek', source, sinks: [{ type: 'file', dir: out }] }];
    const orgs = { orgs: { emu: { ...emulatorOrg(t), limits: { poll: 0 } } } };
    const ids = await firstRunOf100(t, dir, routes, orgs, CHANNEL);

    // A data load while the bridge is down; then Salesforce needs a long seek to find the replay id.
    await renameAccounts(t, ids.slice(0, 50), 'loaded');
    await t.admin('cometd/seek', { channel: CHANNEL, ms: 8000, outcome: 'invalid' });

    const before = readSink(out).length;
    const b = makeBridge(t, dir, routes, orgs, 'debug');
    await b.bridge.start();
    const stats = () => (b.bridge.status().routes[0]?.sourceStats ?? {}) as Record<string, number>;
    await until(() => stats().seeking === 1, 20_000, '"seeking" in status');
    expect(stats().watchdogRebuilds).toBe(0);
    expect(stats().livenessProbes).toBeGreaterThanOrEqual(1);
    await markerArrives(out, before, 'the refusal, backfill and marker');
    // The seek ran its course once: no rebuild restarted it.
    expect(stats().watchdogRebuilds).toBe(0);
    expect(stats().seeking).toBe(0);
    await until(() => stats().subscribed === 1, 10_000, 'subscribed again');
    await liveEventsArrive(t, out);
    await b.bridge.stop();

    const got = readSink(out).slice(before);
    const byId = new Map(got.filter((e) => e.kind === 'snapshot').map((e) => [e.changeHeader.recordIds[0], e]));
    for (const id of ids.slice(0, 50)) expect(byId.get(id)?.payload.Name, id).toBe(`loaded ${id}`);
    expect(got.find((e) => e.kind === 'replay-gap')?.payload).toMatchObject({ policy: 'backfill', backfilled: { records: byId.size } });
    expect(b.capture.text()).toMatch(/Salesforce answers a new handshake: it is seeking the replay ids/);
  });
});
