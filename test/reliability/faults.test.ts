/**
 * Scenarios 2, 3, 5, 6, 7: token expiry, dropped streams and an emulator restart, a webhook
 * receiver down for a long window then slow, an invalidated stored replay id, and gap / overflow
 * events with a schema change — each checked against the emulator's ledger.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { tempDir } from '../helpers/tmp.js';
import { Receiver } from '../helpers/webhook-receiver.js';
import { BridgeProcess, readFiles, recordTally, SIZE, tally, WINDOW, waitFor, writeConfig } from './harness.js';

const SOURCES = {
  pubsub: (channel: string) => ({ type: 'pubsub', org: 'emu', topic: channel }),
  cometd: (channel: string) => ({ type: 'cometd', org: 'emu', channel }),
} as const;
type Path = keyof typeof SOURCES;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('reliability: Salesforce-side faults', () => {
  let t: TestEmulator;
  const emuDir = mkdtempSync(join(tmpdir(), 'sfbridge-rel-emu-')); // lives across tests (tempDir is per test)
  beforeAll(async () => {
    t = await startEmulator({}, { dataDir: emuDir });
  });
  afterAll(async () => {
    await t?.stop();
    rmSync(emuDir, { recursive: true, force: true });
  });

  async function stream(path: Path, object: string, count: number, rate: number) {
    const channel = `/data/${object}ChangeEvent`;
    const before = (await t.ledger(channel)).length;
    await t.admin('events/emit', { spec: `cdc:${object}`, count });
    await t.admin('throttle', { eventsPerSecond: rate });
    return { channel, ledger: (await t.ledger(channel)).slice(before), source: SOURCES[path](channel) };
  }

  for (const path of ['pubsub', 'cometd'] as const) {
    it(`${path}: access tokens revoked three times mid-stream`, async () => {
      const dir = tempDir();
      const out = join(dir, 'out');
      const s = await stream(path, path === 'pubsub' ? 'Lead' : 'Case', 6000, 2000);
      const bridge = new BridgeProcess(writeConfig(dir, t, s.source, [{ type: 'file', dir: out }]));
      await bridge.start();
      for (let i = 0; i < 3; i++) {
        await sleep(700);
        await t.admin('tokens/expire');
      }
      await t.admin('throttle', { eventsPerSecond: 0 });
      const recoveryMs = await waitFor(() => tally(s.ledger, readFiles(out)).delivered, s.ledger.length, 60_000, 'catch-up');
      await bridge.kill('SIGTERM');
      const r = tally(s.ledger, readFiles(out));
      recordTally('token revoked x3 mid-stream', path, r, recoveryMs, '');
      expect(r.lost).toBe(0);
      expect(r.duplicated).toBeLessThanOrEqual(3 * WINDOW);
      expect(bridge.errors()).toEqual([]);
    }, 120_000);
  }

  it('pubsub + cometd: every stream and session dropped three times, then the emulator restarted from its data dir', async () => {
    const dir = tempDir();
    const outP = join(dir, 'out-pubsub');
    const outC = join(dir, 'out-cometd');
    const channel = '/data/OpportunityChangeEvent';
    const before = (await t.ledger(channel)).length;
    await t.admin('events/emit', { spec: 'cdc:Opportunity', count: 6000 });
    const ledger = (await t.ledger(channel)).slice(before);
    await t.admin('throttle', { eventsPerSecond: 1500 });
    const cfgP = writeConfig(join(dir), t, SOURCES.pubsub(channel), [{ type: 'file', dir: outP }]);
    const bP = new BridgeProcess(cfgP);
    await bP.start();
    const dirC = tempDir();
    const bC = new BridgeProcess(writeConfig(dirC, t, SOURCES.cometd(channel), [{ type: 'file', dir: outC }]));
    await bC.start();
    for (let i = 0; i < 3; i++) {
      await sleep(600);
      await t.admin('streams/drop');
    }
    // Restart the emulator on the same ports and data: both bridges must reconnect and resume.
    const port = Number(new URL(t.emu.info.loginUrl).port);
    const grpcPort = Number(t.emu.info.pubsubEndpoint.split(':')[1]);
    await t.stop();
    await sleep(2000);
    t = await startEmulator({}, { dataDir: emuDir, port, grpcPort });
    const restartedAt = Date.now();
    await t.admin('throttle', { eventsPerSecond: 0 });
    const recP = await waitFor(() => tally(ledger, readFiles(outP)).delivered, ledger.length, 90_000, 'pubsub catch-up').catch((err) => {
      console.error(bP.stderr.split('\n').slice(-15).join('\n'));
      throw err;
    });
    await waitFor(() => tally(ledger, readFiles(outC)).delivered, ledger.length, 90_000, 'cometd catch-up');
    const recC = Date.now() - restartedAt; // both catch up in parallel: time since the restart
    await bP.kill('SIGTERM');
    await bC.kill('SIGTERM');
    for (const [path, out, rec] of [
      ['pubsub', outP, recP],
      ['cometd', outC, recC],
    ] as const) {
      const r = tally(ledger, readFiles(out));
      recordTally('streams dropped x3 + emulator restart', path, r, rec, '');
      expect(r.lost, `${path} lost, e.g. ${r.lostSample}`).toBe(0);
      expect(r.duplicated).toBeLessThanOrEqual(4 * WINDOW);
    }
  }, 180_000);

  it(`webhook: receiver answers 500 for ${SIZE.webhookDownMs / 1000} s, then recovers but is slow`, async () => {
    const dir = tempDir();
    const r = new Receiver(`whsec_${Buffer.from('reliability-secret-0123456789').toString('base64')}`);
    await r.start();
    const down = { until: Date.now() + 1e12 };
    r.respond = () => (Date.now() < down.until ? { status: 500 } : { status: 200, delayMs: 20 });
    try {
      const s = await stream('pubsub', 'Account', 3000, 0);
      const cfg = writeConfig(dir, t, s.source, [
        {
          type: 'webhook',
          url: r.url,
          secrets: [`whsec_${Buffer.from('reliability-secret-0123456789').toString('base64')}`],
          retrySchedule: ['500ms', '1s', '2s'],
          concurrency: 8,
        },
      ]);
      const bridge = new BridgeProcess(cfg);
      down.until = Date.now() + SIZE.webhookDownMs;
      await bridge.start();
      await sleep(SIZE.webhookDownMs);
      const recoveryMs = await waitFor(() => tally(s.ledger, r.delivered).delivered, s.ledger.length, 120_000, 'webhook catch-up');
      await bridge.kill('SIGTERM');
      const x = tally(s.ledger, r.delivered);
      recordTally(
        `webhook 500 for ${SIZE.webhookDownMs / 1000} s, then slow (20 ms)`,
        'pubsub',
        x,
        recoveryMs,
        `${r.attempts.length} attempts`,
      );
      expect(x.lost).toBe(0);
      expect(x.duplicated).toBe(0);
      expect(x.outOfOrder).toBe(0);
    } finally {
      await r.stop();
    }
  }, 240_000);

  it('pubsub: stored replay id invalidated while stopped: loud, replay-gap marker, every retained event delivered', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const s = await stream('pubsub', 'Account', 2000, 0);
    const cfg = writeConfig(dir, t, { ...s.source, onInvalidReplay: 'earliest' }, [{ type: 'file', dir: out }]);
    const bridge = new BridgeProcess(cfg);
    await bridge.start();
    await waitFor(() => tally(s.ledger, readFiles(out)).delivered, s.ledger.length, 60_000, 'first run');
    await bridge.kill('SIGTERM');
    await t.admin('replay/invalidate');
    const before = (await t.ledger(s.channel)).length;
    await t.admin('events/emit', { spec: 'cdc:Account', count: 500 });
    const more = (await t.ledger(s.channel)).slice(before);
    await bridge.start();
    const recoveryMs = await waitFor(() => tally(more, readFiles(out)).delivered, more.length, 60_000, 'after invalidation');
    await bridge.kill('SIGTERM');
    const all = readFiles(out);
    const r = tally([...s.ledger, ...more], all);
    recordTally('stored replay id invalid (policy earliest)', 'pubsub', r, recoveryMs, 'replay-gap marker written');
    expect(r.lost).toBe(0);
    expect(all.filter((e) => e.kind === 'replay-gap')).toHaveLength(1);
    expect(
      bridge.errors().some((l) => /replay position cannot be used/.test(l)),
      bridge.stderr.slice(-3000),
    ).toBe(true);
  }, 120_000);

  it('pubsub + cometd: gap and overflow events and a schema change mid-stream are delivered like any other', async () => {
    const dir = tempDir();
    const outP = join(dir, 'p');
    const outC = join(dir, 'c');
    const channel = '/data/AccountChangeEvent';
    const before = (await t.ledger(channel)).length;
    const bP = new BridgeProcess(writeConfig(dir, t, { ...SOURCES.pubsub(channel), initial: 'latest' }, [{ type: 'file', dir: outP }]));
    const dirC = tempDir();
    const bC = new BridgeProcess(writeConfig(dirC, t, { ...SOURCES.cometd(channel), initial: 'latest' }, [{ type: 'file', dir: outC }]));
    await bP.start();
    await bC.start();
    await sleep(500);
    await t.admin('events/emit', { spec: 'cdc:Account', count: 300 });
    await t.admin('events/gap', { object: 'Account' });
    await t.admin('events/overflow', { object: 'Account' });
    await t.admin('schema/change', { target: 'Account', field: { name: `Tier_${Date.now()}__c`, type: 'string' } });
    await t.admin('events/emit', { spec: 'cdc:Account', count: 300 });
    const ledger = (await t.ledger(channel)).slice(before);
    await waitFor(() => tally(ledger, readFiles(outP)).delivered, ledger.length, 30_000, 'pubsub');
    await waitFor(() => tally(ledger, readFiles(outC)).delivered, ledger.length, 30_000, 'cometd');
    await bP.kill('SIGTERM');
    await bC.kill('SIGTERM');
    for (const [path, out] of [
      ['pubsub', outP],
      ['cometd', outC],
    ] as const) {
      const all = readFiles(out);
      const r = tally(ledger, all);
      recordTally('gap + overflow events, schema change', path, r, null, '');
      expect(r.lost).toBe(0);
      expect(r.duplicated).toBe(0);
      expect(all.some((e) => e.kind === 'gap')).toBe(true);
      expect(all.some((e) => e.kind === 'overflow')).toBe(true);
      if (path === 'pubsub') expect(new Set(all.map((e) => e.schemaId)).size).toBeGreaterThanOrEqual(2);
    }
  }, 120_000);
});
