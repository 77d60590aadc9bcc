/** The Kafka sink on a real broker: topics, keys, headers, per-record order under retries, exactly-once across SIGKILLs. */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orgSchema } from '../../src/config/schema.js';
import type { Envelope } from '../../src/envelope.js';
import { OrgServices } from '../../src/orgs.js';
import { Route } from '../../src/pipeline/route.js';
import { FileReplayStore } from '../../src/replay/file/file-store.js';
import { kafkaSinkConfigSchema } from '../../src/sinks/kafka/config.js';
import { KafkaSink } from '../../src/sinks/kafka/kafka-sink.js';
import { pubsubSubscriberConfigSchema } from '../../src/subscribers/pubsub/config.js';
import { PubSubSubscriber } from '../../src/subscribers/pubsub/subscriber.js';
import { captureLogger, emulatorOrg, makeBridge } from '../helpers/bridge.js';
import { runCli, startCli } from '../helpers/cli.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
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

  const bridge = (dir: string, routes: unknown[], extra: Record<string, unknown> = {}) => makeBridge(t, dir, routes, extra, 'warn').bridge;

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
    await t.subscribed('/data/AccountChangeEvent'); // a signal: the emulator holds the subscription
    const emitted = await t.admin('events/emit', { spec: 'cdc:Account', count: 300 });
    await until(() => (b.status().routes[0]?.eventsAcked ?? 0) >= 300, 20_000);
    await b.stop();
    const topic = `${prefix}.${t.emu.info.orgId}.data.AccountChangeEvent`;
    const got = await consumeAll(kafka.url as string, topic, 300);
    expect(got).toHaveLength(300);
    const first = got.find((m) => replaySeq(m.value.replayId) === BigInt(emitted.firstReplayId));
    expect(first?.key).toBe(first?.value.changeHeader.recordIds[0]);
    expect(first?.headers).toMatchObject({
      'replay-id': first?.value.replayId,
      channel: '/data/AccountChangeEvent',
      'schema-id': first?.value.schemaId,
      'change-type': 'CREATE',
      'event-id': first?.value.eventId,
    });
    // One record's changes stay in one partition, in order.
    const byKey = new Map<string, Array<{ partition: number; seq: bigint }>>();
    for (const m of got)
      byKey.set(m.key as string, [...(byKey.get(m.key as string) ?? []), { partition: m.partition, seq: replaySeq(m.value.replayId) }]);
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
    const { log } = captureLogger('warn');
    const real = new KafkaSink(kafkaSinkConfigSchema.parse({ type: 'kafka', brokers, topic, createTopics: { partitions: 4 } }), {
      route: 'leads',
      log,
    });
    const flaky = {
      open: () => real.open(),
      close: () => real.close(),
      drain: () => real.drain(),
      describe: () => real.describe(),
      write: (batch: readonly Envelope[]) =>
        ++writes % 3 === 0 ? Promise.reject(Object.assign(new Error('injected'), { retriable: true })) : real.write(batch),
    };
    const orgs = new OrgServices({ emu: orgSchema.parse(emulatorOrg(t)) }, log);
    const sub = new PubSubSubscriber(
      pubsubSubscriberConfigSchema.parse({ type: 'pubsub', org: 'emu', topic: '/data/LeadChangeEvent', start: 'latest', batchSize: 20 }),
      orgs,
    );
    const store = new FileReplayStore({ type: 'file', path: join(dir, 'r.json'), fsync: false });
    await store.open();
    await flaky.open();
    const route = new Route({
      key: 'leads',
      subscriber: sub,
      sinks: [{ name: 'k', sink: flaky }],
      store,
      maxInFlight: 100,
      maxBatchEvents: 20,
      commitIntervalMs: 50,
      commitMaxEvents: 1000,
      log,
    });
    await route.start();
    await t.subscribed('/data/LeadChangeEvent'); // a signal: the emulator holds the subscription
    await t.admin('events/emit', { spec: 'cdc:Lead', count: 400 });
    await until(() => route.status().eventsAcked >= 400, 30_000);
    await route.stop(1000);
    await flaky.close();
    orgs.close();
    expect(writes).toBeGreaterThan(5);
    const got = await consumeAll(kafka.url as string, topic, 400);
    expect(new Set(got.map((m) => m.value.replayId)).size).toBe(400);
    const byKey = new Map<string, bigint[]>();
    for (const m of got) byKey.set(m.key as string, [...(byKey.get(m.key as string) ?? []), replaySeq(m.value.replayId)]);
    for (const seqs of byKey.values()) expect(seqs).toEqual([...seqs].sort((a, b) => (a < b ? -1 : 1)));
  });

  it('exactly-once mode: SIGKILL at random moments, a read_committed consumer sees every event exactly once', async () => {
    const dir = tempDir();
    const ns = `eos-${randomUUID().slice(0, 8)}`;
    const topic = `${ns}.events`;
    const org = emulatorOrg(t);
    const cfg = join(dir, 'bridge.yaml');
    writeFileSync(
      cfg,
      JSON.stringify({
        orgs: { emu: org },
        replayStore: { type: 'kafka', brokers, topic: `${ns}.replay`, namespace: ns },
        deadLetter: { type: 'file', dir: join(dir, 'dlq') },
        pipeline: { maxInFlight: 500, maxBatchEvents: 200 },
        routes: [
          {
            name: 'opps',
            source: { type: 'pubsub', org: 'emu', topic: '/data/OpportunityChangeEvent', initial: 'earliest' },
            sinks: [{ type: 'kafka', brokers, topic, exactlyOnce: true, createTopics: { partitions: 2 } }],
          },
        ],
      }),
    );
    const emitted = await t.admin('events/emit', { spec: 'cdc:Opportunity', count: 10_000 });
    await t.admin('throttle', { eventsPerSecond: 3000 });
    const kills = Number(process.env.EOS_KILLS ?? 5);
    const t0 = Date.now();
    try {
      for (let k = 0; k < kills; k++) {
        const run = startCli(['run', '-c', cfg], { env: { SFBRIDGE_LOG_LEVEL: 'info' } });
        let started = false;
        run.child.stderr?.on('data', (d) => {
          if (String(d).includes('route starting')) started = true;
        });
        await until(() => started || run.child.exitCode !== null, 30_000, 'bridge start');
        expect(run.child.exitCode).toBeNull();
        await new Promise((r) => setTimeout(r, 400 + Math.random() * 800));
        run.child.kill('SIGKILL');
        await run.result;
      }
    } finally {
      await t.admin('throttle', { eventsPerSecond: 0 });
    }
    const killedAt = Date.now();
    // The killed runs made progress: a checkpoint was committed inside a transaction.
    const stored = await runCli(['replay', 'get', '-c', cfg, 'opps', '--json']);
    expect(stored.code).toBe(0);
    const final = startCli(['run', '-c', cfg], { env: { SFBRIDGE_LOG_LEVEL: 'warn' } });
    const got = await consumeAll(kafka.url as string, topic, 10_000, { timeoutMs: 90_000 });
    final.child.kill('SIGTERM');
    const fin = await final.result;
    const seqs = got.map((m) => replaySeq(m.value.replayId));
    const first = BigInt(emitted.firstReplayId);
    const mine = seqs.filter((s) => s >= first && s < first + 10_000n);
    const unique = new Set(mine.map(String));
    const missing = 10_000 - unique.size;
    console.log(
      `exactly-once: ${kills} SIGKILLs in ${killedAt - t0} ms, then ${got.length} events read_committed in ${Date.now() - killedAt} ms: ${missing} missing, ${mine.length - unique.size} duplicates`,
    );
    expect(fin.code, 'the final run drains and exits cleanly on SIGTERM').toBe(0);
    expect(fin.stderr).not.toMatch(/"level":("error"|"fatal"|50|60)/);
    expect(missing).toBe(0);
    expect(mine.length - unique.size).toBe(0);
  }, 240_000);
});
