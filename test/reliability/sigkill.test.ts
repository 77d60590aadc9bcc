/** Scenario 1: the bridge SIGKILLed at random moments during a long stream, restarted each time. */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { tempDir } from '../helpers/tmp.js';
import { BridgeProcess, readFiles, recordTally, SIZE, tally, WINDOW, waitFor, writeConfig } from './harness.js';

describe('reliability: SIGKILL during a stream', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  const paths = [
    {
      path: 'pubsub',
      events: SIZE.events,
      spec: 'cdc:Account',
      channel: '/data/AccountChangeEvent',
      source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent' },
    },
    {
      path: 'cometd',
      events: SIZE.cometdEvents,
      spec: 'cdc:Contact',
      channel: '/data/ContactChangeEvent',
      source: { type: 'cometd', org: 'emu', channel: '/data/ContactChangeEvent' },
    },
  ];

  for (const p of paths) {
    it(`${p.path}: ${SIZE.kills} SIGKILLs, nothing lost, duplicates within the in-flight window`, async () => {
      const dir = tempDir();
      const out = join(dir, 'out');
      const cfg = writeConfig(dir, t, p.source, [{ type: 'file', dir: out }]);
      const before = (await t.ledger(p.channel)).length;
      await t.admin('events/emit', { spec: p.spec, count: p.events });
      const ledger = (await t.ledger(p.channel)).slice(before);
      // Spread the stream over the kills: the emulator serves at a fixed rate.
      // Spread the stream over the kill loop (each cycle takes about a second).
      await t.admin('throttle', { eventsPerSecond: Math.round(p.events / (SIZE.kills * 0.9)) });
      const bridge = new BridgeProcess(cfg);
      let killedMidStream = 0;
      try {
        for (let k = 0; k < SIZE.kills; k++) {
          await bridge.start();
          await new Promise((r) => setTimeout(r, 150 + Math.random() * 600));
          const got = readFiles(out).length;
          if (got > 0 && got < ledger.length) killedMidStream++;
          const r = await bridge.kill('SIGKILL');
          if (process.env.RELIABILITY_DEBUG) console.log(`kill ${k}: ${got} in sink`);
          expect(r.signal).toBe('SIGKILL');
        }
      } finally {
        await t.admin('throttle', { eventsPerSecond: 0 });
      }
      await bridge.start();
      const recoveryMs = await waitFor(() => tally(ledger, readFiles(out)).delivered, ledger.length, 120_000, 'catch-up after the kills');
      const fin = await bridge.kill('SIGTERM');
      expect(fin.code, fin.stderr.slice(-1500)).toBe(0);
      const r = tally(ledger, readFiles(out));
      recordTally(`SIGKILL x${SIZE.kills}`, p.path, r, recoveryMs, `${killedMidStream} kills landed mid-stream`);
      expect(r.lost, `lost, e.g. ${r.lostSample}`).toBe(0);
      expect(r.duplicated).toBeLessThanOrEqual(WINDOW * SIZE.kills);
      expect(r.outOfOrder).toBe(0);
      expect(killedMidStream).toBeGreaterThanOrEqual(Math.floor(SIZE.kills / 2));
    }, 300_000);
  }
});
