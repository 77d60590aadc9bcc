/**
 * Redis Streams sink (issue 31) against the real Redis on 127.0.0.1:6379: 10,000 CDC events from
 * the emulator, read back with redis-cli: every ledger event, each record's changes in order; the
 * fields layout and approximate trimming.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBridge } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { readStreamEnvelopes } from '../helpers/redis-cli.js';
import { service } from '../helpers/services.js';
import { tempDir } from '../helpers/tmp.js';
import { expectLedgerInRecordOrder } from '../reliability/harness.js';

const redis = service('redis');
const CHANNEL = '/data/AccountChangeEvent';

describe.skipIf(!redis.url)(`redis-stream sink ${redis.reason ?? ''}`, () => {
  const url = redis.url as string;
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  it('10,000 change events reach the stream: every ledger event, each record in order, read back with redis-cli', async () => {
    const prefix = `it-${randomUUID().slice(0, 8)}`;
    const b = makeBridge(t, tempDir(), [
      {
        name: 'rs',
        source: { type: 'pubsub', org: 'emu', topic: CHANNEL, initial: 'latest' },
        sinks: [{ type: 'redis-stream', url, stream: `${prefix}:{route}:{channel}` }],
      },
    ]);
    await b.bridge.start();
    await t.subscribed(CHANNEL);
    const before = (await t.ledger(CHANNEL)).length;
    await t.admin('events/emit', { spec: 'cdc:Account', count: 10_000 });
    const ledger = (await t.ledger(CHANNEL)).slice(before);
    await until(() => (b.bridge.status().routes[0]?.eventsCommitted ?? 0) >= 10_000, 60_000, '10,000 committed');
    const st = b.bridge.status().routes[0];
    await b.bridge.stop();
    const got = readStreamEnvelopes(url, `${prefix}:rs:data/AccountChangeEvent`);
    expectLedgerInRecordOrder(ledger, got);
    expect(st?.sinks[0]?.stats).toMatchObject({ entriesAdded: 10_000 });
    expect(Number(st?.sinks[0]?.stats?.bytesWritten)).toBeGreaterThan(10_000 * 500);
  });

  it('fields layout and MAXLEN trimming', async () => {
    const prefix = `it-${randomUUID().slice(0, 8)}`;
    const { Redis } = await import('ioredis');
    const r = new Redis(url);
    const b = makeBridge(
      t,
      tempDir(),
      [
        {
          name: 'rs2',
          source: { type: 'pubsub', org: 'emu', topic: '/data/ChangeEvents', initial: 'latest' },
          sinks: [{ type: 'redis-stream', url, stream: `${prefix}:{channel}`, layout: 'fields', maxLen: 50 }],
        },
      ],
      {},
    );
    await b.bridge.start();
    await t.subscribed('/data/ChangeEvents');
    await t.admin('records/create', { object: 'Account', count: 200 });
    await until(() => (b.bridge.status().routes[0]?.eventsCommitted ?? 0) >= 200, 20_000, '200 committed');
    const st = b.bridge.status().routes[0];
    await b.bridge.stop();
    const len = await r.xlen(`${prefix}:data/ChangeEvents`);
    expect(len).toBeGreaterThanOrEqual(50);
    expect(len).toBeLessThan(200); // trimmed (approximately)
    const [entry] = await r.xrevrange(`${prefix}:data/ChangeEvents`, '+', '-', 'COUNT', 1);
    const fields = entry?.[1] ?? [];
    expect(fields.filter((_, i) => i % 2 === 0)).toEqual(['replay-id', 'event-id', 'channel', 'kind', 'payload']);
    expect(JSON.parse(fields[9] as string)).toHaveProperty('Name');
    expect(st?.sinks[0]?.eventsWritten).toBe(200);
    r.disconnect();
  });
});
