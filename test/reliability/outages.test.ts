/**
 * Scenario 4: the sink's Kafka broker stopped for 30 s and restarted; the Redis and PostgreSQL
 * replay stores unreachable for 30 s (a TCP proxy in front of the real servers drops every
 * connection and refuses new ones). Scenario 8: the file sink's disk full (a small tmpfs).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { consumeAll } from '../helpers/kafka.js';
import { service } from '../helpers/services.js';
import { tempDir } from '../helpers/tmp.js';
import {
  BridgeProcess,
  CuttableProxy,
  readFiles,
  recordTally,
  retainedStream,
  SIZE,
  tally,
  WINDOW,
  waitFor,
  writeConfig,
} from './harness.js';

const kafka = service('kafka');
const redis = service('redis');
const postgres = service('postgres');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CI = process.env.CI === 'true';

describe('reliability: sink and store outages', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  const stream = (object: string, count: number, rate: number) => retainedStream(t, object, count, rate);

  // Its own broker (another port), so stopping it does not disturb the other tests' broker.
  it.skipIf(!kafka.url && !CI)(
    'Kafka broker stopped for 30 s and restarted: nothing lost',
    async () => {
      const port = 19095;
      // @ts-expect-error plain JS launcher shared with .ci/run
      const { startBroker, restartBroker, stopBroker } = await import('../../scripts/kafka-broker.mjs');
      await startBroker({ port });
      try {
        const dir = tempDir();
        const brokers = [`127.0.0.1:${port}`];
        const topic = `outage-${Date.now()}`;
        const s = await stream('Account', 8000, 400);
        const bridge = new BridgeProcess(
          writeConfig(dir, t, { type: 'pubsub', org: 'emu', topic: s.channel }, [
            { type: 'kafka', brokers, topic, createTopics: { partitions: 1 }, requestTimeoutMs: 5000 },
          ]),
        );
        await bridge.start();
        await sleep(3000);
        const upAgain = restartBroker({ port, downMs: SIZE.outageMs });
        await upAgain;
        const back = Date.now();
        await t.admin('throttle', { eventsPerSecond: 0 });
        const got = await consumeAll(brokers.join(','), topic, s.ledger.length, { timeoutMs: 120_000 });
        const recoveryMs = Date.now() - back;
        await bridge.kill('SIGTERM');
        const r = tally(
          s.ledger,
          got.map((m) => m.value),
        );
        recordTally(`Kafka broker down ${SIZE.outageMs / 1000} s`, 'pubsub', r, recoveryMs, 'idempotent producer, acks=all');
        expect(r.lost, `lost e.g. ${r.lostSample}`).toBe(0);
        expect(r.duplicated).toBeLessThanOrEqual(WINDOW);
      } finally {
        await t.admin('throttle', { eventsPerSecond: 0 });
        await stopBroker({ port });
      }
    },
    240_000,
  );

  for (const which of ['redis', 'postgres'] as const) {
    const svc = which === 'redis' ? redis : postgres;
    it.skipIf(!svc.url)(
      `${which} replay store unreachable for 30 s mid-stream: nothing lost`,
      async () => {
        const target = new URL(svc.url as string);
        const proxy = new CuttableProxy(target.hostname, Number(target.port || (which === 'redis' ? 6379 : 5432)));
        await proxy.start();
        try {
          const dir = tempDir();
          const out = join(dir, 'out');
          const via = new URL(svc.url as string);
          via.host = `127.0.0.1:${proxy.port}`;
          const s = await stream(which === 'redis' ? 'Lead' : 'Case', 6000, 400);
          const store =
            which === 'redis'
              ? { type: 'redis', url: via.toString(), namespace: `rel-${Date.now()}` }
              : { type: 'postgres', url: via.toString(), namespace: `rel-${Date.now()}` };
          const bridge = new BridgeProcess(
            writeConfig(dir, t, { type: 'pubsub', org: 'emu', topic: s.channel }, [{ type: 'file', dir: out }], { replayStore: store }),
          );
          await bridge.start();
          await sleep(3000);
          await proxy.cut(SIZE.outageMs);
          const back = Date.now();
          await t.admin('throttle', { eventsPerSecond: 0 });
          await waitFor(() => tally(s.ledger, readFiles(out)).delivered, s.ledger.length, 90_000, 'catch-up');
          const recoveryMs = Date.now() - back;
          await bridge.kill('SIGTERM');
          const r = tally(s.ledger, readFiles(out));
          recordTally(`${which} store down ${SIZE.outageMs / 1000} s`, 'pubsub', r, recoveryMs, 'fetching pauses while commits fail');
          expect(r.lost).toBe(0);
          expect(r.duplicated).toBe(0);
          // Restart: it resumes from a position at the end, so nothing is delivered twice.
          const again = new BridgeProcess(
            writeConfig(dir, t, { type: 'pubsub', org: 'emu', topic: s.channel }, [{ type: 'file', dir: out }], { replayStore: store }),
          );
          await again.start();
          await sleep(1000);
          await again.kill('SIGTERM');
          expect(tally(s.ledger, readFiles(out)).duplicated).toBeLessThanOrEqual(WINDOW);
        } finally {
          await t.admin('throttle', { eventsPerSecond: 0 });
          await proxy.stop();
        }
      },
      180_000,
    );
  }

  it('disk full under the file sink: clear error, nothing acknowledged past it, recovery when space returns', async () => {
    const dir = tempDir();
    const mnt = join(dir, 'small');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    try {
      const out = join(mnt, 'out');
      const s = await stream('Opportunity', 4000, 0);
      const bridge = new BridgeProcess(writeConfig(dir, t, { type: 'pubsub', org: 'emu', topic: s.channel }, [{ type: 'file', dir: out }]));
      await bridge.start();
      await waitFor(() => (/ENOSPC|no space/i.test(bridge.stderr) ? 1 : 0), 1, 30_000, 'disk-full error in the log');
      const heldAt = tally(s.ledger, readFiles(out)).delivered;
      expect(heldAt).toBeLessThan(s.ledger.length);
      await sleep(1000);
      execFileSync('mount', ['-o', 'remount,size=64m', mnt]);
      const back = Date.now();
      await waitFor(() => tally(s.ledger, readFiles(out)).delivered, s.ledger.length, 60_000, 'catch-up after space returned').catch(
        (err) => {
          console.error(bridge.stderr.split('\n').slice(-12).join('\n'));
          throw err;
        },
      );
      const recoveryMs = Date.now() - back;
      await bridge.kill('SIGTERM');
      const r = tally(s.ledger, readFiles(out));
      recordTally('disk full (1 MB tmpfs), then space returns', 'pubsub', r, recoveryMs, `held at ${heldAt} events while full`);
      expect(r.lost).toBe(0);
      expect(r.duplicated).toBe(0);
      expect(bridge.stderr).toMatch(/sink write failed; holding the replay commit and retrying/);
    } finally {
      execFileSync('umount', ['-l', mnt]);
    }
  }, 120_000);
});
