/** The Kafka sink on a real broker: topics, keys, headers, per-record order under retries, exactly-once across SIGKILLs. */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import type { Envelope } from '../../src/envelope.js';
import { Bridge } from '../../src/pipeline/bridge.js';
import { sinkTypes } from '../../src/registry.js';
import { kafkaSinkConfigSchema } from '../../src/sinks/kafka/config.js';
import { KafkaSink } from '../../src/sinks/kafka/kafka-sink.js';
import { captureLogger, emulatorOrg } from '../helpers/bridge.js';
import { runCli, startCli } from '../helpers/cli.js';
import { type TestEmulator, startEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { consumeAll, replaySeq } from '../helpers/kafka.js';
import { service } from '../helpers/services.js';
import { tempDir } from '../helpers/tmp.js';

const kafka = service('kafka');

describe.skipIf(!kafka.url)(`Kafka sink ${kafka.reason ?? ''}`, () => {
  let t: TestEmulator;
  const brokers = (kafka.url ?? '').split(',');
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  function bridge(dir: string, routes: unknown[], extra: Record<string, unknown> = {}) {
    const config = configSchema.parse({ orgs: { emu: emulatorOrg(t) }, replayStore: { type: 'file', path: join(dir, 'replay.json') }, pipeline: { commitIntervalMs: 50 }, routes, ...extra });
    return new Bridge(config, captureLogger('warn').log);
  }

  it('writes envelopes to templated topics with record keys and headers, acked only when Kafka acks', async () => {
    const dir = tempDir();
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const b = bridge(dir, [
      {
        name: 'accounts',
        source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent', start: 'latest' },
        sinks: [{ type: 'kafka', brokers, topic: `${prefix}.{org}.{channel}`, compression: 'gzip', createTopics: { partitions: 3 } }],
      },
    ]);
    await b.start();
    await new Promise((r) => setTimeout(r, 300));
    const emitted = await t.admin('events/emit', { spec: 'cdc:Account', count: 300 });
    await until(() => (b.status().routes[0]?.eventsAcked ?? 0) >= 300, 20_000);
    await b.stop();
    const topic = `${prefix}.${t.emu.info.orgId}.data.AccountChangeEvent`;
    const got = await consumeAll(kafka.url as string, topic, 300);
    expect(got).toHaveLength(300);
    const first = got.find((m) => replaySeq(m.value.replayId) === BigInt(emitted.firstReplayId));
    expect(first?.key).toBe(first?.value.changeHeader.recordIds[0]);
    expect(first?.headers).toMatchObject({ 'replay-id': first?.value.replayId, channel: '/data/AccountChangeEvent', 'schema-id': first?.value.schemaId, 'change-type': 'CREATE', 'event-id': first?.value.eventId });
    // One record's changes stay in one partition, in order.
    const byKey = new Map<string, Array<{ partition: number; seq: bigint }>>();
    for (const m of got) byKey.set(m.key as string, [...(byKey.get(m.key as string) ?? []), { partition: m.partition, seq: replaySeq(m.value.replayId) }]);
    for (const list of byKey.values()) {
      expect(new Set(list.map((x) => x.partition)).size).toBe(1);
      const seqs = list.map((x) => x.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => (a < b ? -1 : 1)));
    }
  });

  it('keeps per-record order when writes fail and are retried', async () => {
    const dir = tempDir();
    const topic = `retry-${randomUUID().slice(0, 8)}`;
    // Fault injection around the real sink: every third write fails before reaching Kafka.
    let writes = 0;
    sinkTypes.flakykafka = {
      schema: kafkaSinkConfigSchema.extend({ type: (await import('zod')).z.literal('flakykafka') }) as never,
      create: (c, ctx) => {
        const real = new KafkaSink({ ...c, type: 'kafka' }, ctx);
        return Object.assign(Object.create(real), {
          write: (batch: readonly Envelope[]) => (++writes % 3 === 0 ? Promise.reject(Object.assign(new Error('injected'), { retriable: true })) : real.write(batch)),
          open: () => real.open(),
          close: () => real.close(),
          drain: () => real.drain(),
          describe: () => real.describe(),
        });
      },
    };
    try {
      const b = bridge(dir, [
        {
          name: 'leads',
          source: { type: 'pubsub', org: 'emu', topic: '/data/LeadChangeEvent', start: 'latest', batchSize: 20 },
          sinks: [{ type: 'flakykafka', brokers, topic, createTopics: { partitions: 4 } }],
        },
      ], { pipeline: { commitIntervalMs: 50, maxBatchEvents: 20, maxInFlight: 100 } });
      await b.start();
      await new Promise((r) => setTimeout(r, 300));
      await t.admin('events/emit', { spec: 'cdc:Lead', count: 400 });
      await until(() => (b.status().routes[0]?.eventsAcked ?? 0) >= 400, 30_000);
      await b.stop();
      expect(writes).toBeGreaterThan(5);
      const got = await consumeAll(kafka.url as string, topic, 400);
      expect(new Set(got.map((m) => m.value.replayId)).size).toBe(400);
      const byKey = new Map<string, bigint[]>();
      for (const m of got) byKey.set(m.key as string, [...(byKey.get(m.key as string) ?? []), replaySeq(m.value.replayId)]);
      for (const seqs of byKey.values()) expect(seqs).toEqual([...seqs].sort((a, b) => (a < b ? -1 : 1)));
    } finally {
      delete sinkTypes.flakykafka;
    }
  });

  it('exactly-once mode: SIGKILL at random moments, a read_committed consumer sees every event exactly once', async () => {
    const dir = tempDir();
    const ns = `eos-${randomUUID().slice(0, 8)}`;
    const topic = `${ns}.events`;
    const org = emulatorOrg(t);
    const cfg = join(dir, 'bridge.yaml');
    writeFileSync(
      cfg,
      `orgs:
  emu:
    loginUrl: ${org.loginUrl}
    caCertFile: ${org.caCertFile}
    pubsubEndpoint: ${org.pubsubEndpoint}
    auth: { flow: client_credentials, clientId: ${t.emu.info.clientId}, clientSecret: ${t.emu.info.clientSecret} }
replayStore: { type: kafka, brokers: [${brokers.join(', ')}], topic: ${ns}.replay, namespace: ${ns} }
pipeline: { maxInFlight: 500, maxBatchEvents: 200 }
routes:
  - name: orders
    source: { type: pubsub, org: emu, topic: /data/OpportunityChangeEvent, initial: earliest }
    sinks: [{ type: kafka, brokers: [${brokers.join(', ')}], topic: ${topic}, exactlyOnce: true, createTopics: { partitions: 2 } }]
`,
    );
    const before = (await t.ledger('/data/OpportunityChangeEvent')).length;
    const emitted = await t.admin('events/emit', { spec: 'cdc:Opportunity', count: 15_000 });
    await t.admin('throttle', { eventsPerSecond: 4000 });
    const kills = 6;
    try {
      for (let k = 0; k < kills; k++) {
        const run = startCli(['run', '-c', cfg], { env: { SFBRIDGE_LOG_LEVEL: 'info' } });
        let started = false;
        run.child.stderr?.on('data', (d) => {
          if (String(d).includes('bridge running')) started = true;
        });
        await until(() => started || run.child.exitCode !== null, 20_000, 'bridge start');
        await new Promise((r) => setTimeout(r, 300 + Math.random() * 700));
        run.child.kill('SIGKILL');
        await run.result;
      }
    } finally {
      await t.admin('throttle', { eventsPerSecond: 0 });
    }
    const final = startCli(['run', '-c', cfg], { env: { SFBRIDGE_LOG_LEVEL: 'warn' } });
    const wanted = (await t.ledger('/data/OpportunityChangeEvent')).slice(before).filter((l) => l.replayId >= emitted.firstReplayId);
    const got = await consumeAll(kafka.url as string, topic, wanted.length, { timeoutMs: 60_000 });
    final.child.kill('SIGTERM');
    await final.result;
    const ids = got.map((m) => m.value.replayId);
    const unique = new Set(ids);
    expect(wanted.filter((l) => !unique.has(l.replayIdBase64))).toEqual([]);
    expect(ids.length - unique.size).toBe(0);
    console.log(`exactly-once: ${kills} SIGKILLs, ${ids.length} events read_committed, 0 duplicates`);
    const list = await runCli(['replay', 'list', '-c', cfg, '--json']);
    expect(JSON.parse(list.stdout)[0].key).toBe('orders');
  }, 240_000);
});
