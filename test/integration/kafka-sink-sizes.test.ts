/**
 * The Kafka sink on a broker with default limits (max.message.bytes 1 MiB), as a new user runs
 * it: ordinary CDC traffic must never build a record batch the broker refuses, and an event too
 * large for its topic is a per-event outcome — dead-lettered on dead-letter routes, a one-line
 * stop naming the event, its size, the limit and the fix on block routes.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileDeadLetterStore } from '../../src/deadletter/file-store.js';
import { makeBridge } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { consumeAll, replaySeq } from '../helpers/kafka.js';
import { service } from '../helpers/services.js';
import { tempDir } from '../helpers/tmp.js';

const kafka = service('kafka');

describe.skipIf(!kafka.url)(`Kafka sink: sizes on a default broker ${kafka.reason ?? ''}`, () => {
  let t: TestEmulator;
  const brokers = (kafka.url ?? '').split(',');
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  it('1,000 Account change events into a fresh 3-partition topic: each once, keyed by record id, in order per record', async () => {
    const dir = tempDir();
    const topic = `sizes-${randomUUID().slice(0, 8)}`;
    const { bridge } = makeBridge(t, dir, [
      {
        name: 'accounts',
        source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent', initial: 'earliest' },
        sinks: [{ type: 'kafka', brokers, topic, createTopics: { partitions: 3 } }],
      },
    ]);
    await t.admin('events/emit', { spec: 'cdc:Account', count: 1000 });
    await bridge.start();
    await until(() => (bridge.status().routes[0]?.eventsAcked ?? 0) >= 1000, 60_000, '1,000 events acknowledged');
    const route = bridge.status().routes[0];
    await bridge.stop();
    expect(route?.state).toBe('running');
    const got = await consumeAll(kafka.url as string, topic, 1000);
    expect(got).toHaveLength(1000);
    expect(new Set(got.map((m) => m.value.eventId)).size).toBe(1000);
    expect(new Set(got.map((m) => m.partition)).size).toBe(3);
    const lastByKey = new Map<string, bigint>();
    for (const m of got.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)))) {
      expect(m.key).toBe(m.value.changeHeader.recordIds[0]);
      const seq = replaySeq(m.value.replayId);
      expect(seq > (lastByKey.get(m.key as string) ?? -1n)).toBe(true);
      lastByKey.set(m.key as string, seq);
    }
  });

  function inbox(dir: string): string {
    const path = join(dir, 'in.ndjson');
    const big = { id: 'big-event', blob: 'x'.repeat(1_500_000) };
    // A platform event near Salesforce's 1 MB maximum still fits a default topic, alone in its request.
    const nearLimit = { id: 'one-megabyte', blob: 'y'.repeat(1_000_000) };
    writeFileSync(path, [{ id: 'small-1' }, big, nearLimit, { id: 'small-2' }].map((l) => `${JSON.stringify(l)}\n`).join(''));
    return path;
  }

  it('a 1.5 MB event on a 1 MiB topic is dead-lettered on a dead-letter route; the others, a 1 MB one included, arrive in order', async () => {
    const dir = tempDir();
    const topic = `sizes-${randomUUID().slice(0, 8)}`;
    const { bridge } = makeBridge(t, dir, [
      {
        name: 'big',
        source: { type: 'file', path: inbox(dir) },
        sinkOutage: { mode: 'dead-letter', after: '1h' },
        sinks: [{ type: 'kafka', brokers, topic, createTopics: { partitions: 1 } }],
      },
    ]);
    await bridge.start();
    expect(await bridge.routes[0]?.done).toBe('ended');
    await bridge.stop();
    const got = await consumeAll(kafka.url as string, topic, 3);
    expect(got.map((m) => m.value.eventId)).toEqual(['small-1', 'one-megabyte', 'small-2']);
    const dl = await new FileDeadLetterStore({ type: 'file', dir: join(dir, 'dead-letters'), fsync: true }).list();
    expect(dl.map((d) => d.envelope?.eventId)).toEqual(['big-event']);
    expect(dl[0]?.error).toMatch(
      /an event of \d{7} bytes does not fit topic sizes-\w+, which accepts record batches of at most 1048588 bytes/,
    );
  });

  it('on a block route the same event stops the route with one line naming the event, its size, the limit and the fix', async () => {
    const dir = tempDir();
    const topic = `sizes-${randomUUID().slice(0, 8)}`;
    const { bridge } = makeBridge(t, dir, [
      {
        name: 'big',
        source: { type: 'file', path: inbox(dir) },
        sinks: [{ type: 'kafka', brokers, topic, createTopics: { partitions: 1 } }],
      },
    ]);
    await bridge.start();
    expect(await bridge.routes[0]?.done).toBe('failed');
    const status = bridge.status().routes[0];
    await bridge.stop();
    expect(status?.error).toMatch(
      /an event of \d{7} bytes does not fit topic .* at most 1048588 bytes \(max\.message\.bytes\)\. Raise the topic's max\.message\.bytes .* sinkOutage\.mode: dead-letter.*event big-event/,
    );
    expect(status?.error).not.toMatch(/\n/);
    // Nothing past the big event was committed (positions are byte offsets in the inbox).
    expect(Number(status?.committed?.replayId ?? 0)).toBeLessThanOrEqual(`${JSON.stringify({ id: 'small-1' })}\n`.length);
  });
});
