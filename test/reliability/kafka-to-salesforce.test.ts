/**
 * Kafka → Salesforce: 20,000 JSON records on a 3-partition topic become Order_Event__e platform
 * events (the real broker, the emulator, the real CLI). A clean run publishes each record exactly
 * once in per-partition order and leaves the group's committed offsets at the end of the topic;
 * a run SIGKILLed 5 times loses nothing, with duplicates within the in-flight window.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { service } from '../helpers/services.js';
import { tempDir } from '../helpers/tmp.js';
import { BridgeProcess, WINDOW, waitFor, writeConfig } from './harness.js';

const kafka = service('kafka');
const RECORDS = 20_000;
const PARTITIONS = 3;
const CHANNEL = '/event/Order_Event__e';

describe.skipIf(!kafka.url)(`Kafka source → salesforce sink ${kafka.reason ?? ''}`, () => {
  let t: TestEmulator;
  const client = new Kafka({ brokers: (kafka.url ?? '').split(','), clientId: 'sfbridge-test', logLevel: logLevel.NOTHING });
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  /** A new topic holding RECORDS records, partition = i % 3; the value names its run, partition and place. */
  async function fill(run: string): Promise<string> {
    const topic = `orders-${run}`;
    const admin = client.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const producer = client.producer();
    await producer.connect();
    for (let from = 0; from < RECORDS; from += 2000) {
      const messages = Array.from({ length: 2000 }, (_, k) => {
        const i = from + k;
        const p = i % PARTITIONS;
        return { partition: p, key: `k${i}`, value: JSON.stringify({ order: `${run}:${p}:${Math.floor(i / PARTITIONS)}`, amount: i }) };
      });
      await producer.send({ topic, messages });
    }
    await producer.disconnect();
    return topic;
  }

  function config(dir: string, topic: string): string {
    return writeConfig(dir, t, { type: 'kafka', brokers: (kafka.url as string).split(','), topics: [topic], groupId: `g-${topic}` }, [
      { type: 'salesforce', org: 'emu', topic: CHANNEL, mapping: '{ "OrderNumber__c": payload.order, "Amount__c": payload.amount }' },
    ]);
  }

  /** Orders of this run on the channel, in publish order. */
  async function published(run: string): Promise<string[]> {
    return (await t.published(CHANNEL)).map((e) => e.fields.OrderNumber__c as string).filter((o) => o?.startsWith(`${run}:`));
  }

  function countOf(run: string): number {
    const prefix = Buffer.from(`${run}:`);
    // In-process emulator: count retained events of this run without decoding them all.
    return t.emu.bus.retained(CHANNEL).filter((e) => e.payload?.includes(prefix)).length;
  }

  async function committedOffsets(topic: string): Promise<{ committed: number[]; ends: number[] }> {
    const admin = client.admin();
    await admin.connect();
    const [group] = await admin.fetchOffsets({ groupId: `g-${topic}`, topics: [topic] });
    const ends = await admin.fetchTopicOffsets(topic);
    await admin.disconnect();
    const byPart = (rows: Array<{ partition: number; offset: string }>) =>
      [...rows].sort((a, b) => a.partition - b.partition).map((r) => Number(r.offset));
    return { committed: byPart(group?.partitions ?? []), ends: byPart(ends.map((e) => ({ partition: e.partition, offset: e.high }))) };
  }

  it('publishes 20,000 records exactly once, in per-partition order, and commits the group to the end of the topic', async () => {
    const run = randomUUID().slice(0, 8);
    const topic = await fill(run);
    const bridge = new BridgeProcess(config(tempDir(), topic));
    await bridge.start();
    await waitFor(() => countOf(run), RECORDS, 120_000, 'all records published');
    const fin = await bridge.kill('SIGTERM');
    expect(fin.code, fin.stderr.slice(-1500)).toBe(0);
    const got = await published(run);
    expect(got).toHaveLength(RECORDS);
    expect(new Set(got).size).toBe(RECORDS);
    for (let p = 0; p < PARTITIONS; p++) {
      const seqs = got.filter((o) => o.split(':')[1] === String(p)).map((o) => Number(o.split(':')[2]));
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }
    const { committed, ends } = await committedOffsets(topic);
    expect(committed).toEqual(ends);
  }, 240_000);

  it('loses nothing through 5 SIGKILLs; duplicates stay within the in-flight window', async () => {
    const run = randomUUID().slice(0, 8);
    const topic = await fill(run);
    const bridge = new BridgeProcess(config(tempDir(), topic));
    let midStream = 0;
    for (let k = 0; k < 5; k++) {
      await bridge.start();
      const at = countOf(run);
      // Kill once the bridge has published something more in this life (or after 3 s).
      await waitFor(() => Math.min(countOf(run) - at, 1), 1, 3_000, 'progress before the kill').catch(() => undefined);
      if (countOf(run) < RECORDS) midStream++;
      expect((await bridge.kill('SIGKILL')).signal).toBe('SIGKILL');
    }
    await bridge.start();
    await waitFor(async () => new Set(await published(run)).size, RECORDS, 120_000, 'catch-up');
    const got = await published(run);
    const fin = await bridge.kill('SIGTERM');
    expect(fin.code, fin.stderr.slice(-1500)).toBe(0);
    const unique = new Set(await published(run));
    expect(unique.size).toBe(RECORDS);
    expect(got.length - new Set(got).size).toBeLessThanOrEqual(WINDOW * 5);
    expect(midStream).toBeGreaterThanOrEqual(3);
    const { committed, ends } = await committedOffsets(topic);
    expect(committed).toEqual(ends);
  }, 300_000);
});
