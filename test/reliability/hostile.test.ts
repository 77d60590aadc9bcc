/**
 * Hostile input: what a careless operator or an attacker would try. Each case failed before its
 * fix (issue 14) and is listed in docs/reliability.md ("Hostile input").
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { tempDir } from '../helpers/tmp.js';
import { BridgeProcess, readFiles, seqOf, waitFor, writeConfig } from './harness.js';

describe('reliability: hostile input (run time)', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  it.each([
    ['pubsub', 'Contact'],
    ['cometd', 'Case'],
  ])('%s, initial latest: a dropped stream before the first event loses nothing published after "subscribed"', async (path, object) => {
    const dir = tempDir();
    const channel = `/data/${object}ChangeEvent`;
    const source =
      path === 'pubsub'
        ? { type: 'pubsub', org: 'emu', topic: channel, initial: 'latest' }
        : { type: 'cometd', org: 'emu', channel, initial: 'latest' };
    const out = join(dir, 'out');
    const b = new BridgeProcess(writeConfig(dir, t, source, [{ type: 'file', dir: out }]));
    await b.start();
    // A signal, not a sleep: the emulator holds the subscription (CometD acknowledges it late).
    const subscribed = async () => {
      const s = await t.admin('status');
      const live = path === 'pubsub' ? s.pubsub.streams.map((x: { topic: string }) => x.topic) : s.cometd.channels;
      return live.includes(channel) ? 1 : 0;
    };
    await waitFor(subscribed, 1, 30_000, 'subscription on the emulator');
    // The stream drops and the service refuses new subscriptions for a while; events go on.
    await t.admin('streams/drop', { refuseMs: 1500 });
    await t.admin('events/emit', { spec: `cdc:${object}`, count: 5 });
    await waitFor(subscribed, 1, 30_000, 'resubscription on the emulator');
    await t.admin('events/emit', { spec: `cdc:${object}`, count: 5 });
    const ledger = (await t.ledger(channel)).map((l) => l.replayId as number);
    expect(ledger).toHaveLength(10);
    await waitFor(() => readFiles(out).length, 10, 30_000, 'events after the drop');
    const got = readFiles(out).map((e) => seqOf(e.replayId));
    expect(new Set(got)).toEqual(new Set(ledger));
    expect(b.stderr).toMatch(/skipping only events from before the subscription/);
    expect((await b.kill('SIGTERM')).code).toBe(0);
  });
});
