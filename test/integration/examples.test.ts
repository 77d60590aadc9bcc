/**
 * The receiving-end examples (examples/) run against the bridge and the emulator, so they cannot
 * rot: the webhook receiver stores each event once across a full re-delivery and refuses bad
 * signatures and stale timestamps; the Kafka consumer reads an exactly-once topic with
 * read_committed and applies each event once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as connectNats } from '@nats-io/transport-node';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBridge } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { service } from '../helpers/services.js';
import { tempDir } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '..', '..');
const OLD = `whsec_${Buffer.from('example-old-secret-0123456789').toString('base64')}`;
const NEW = `whsec_${Buffer.from('example-new-secret-0123456789').toString('base64')}`;
const kafka = service('kafka');
const registry = service('registry');

/** Start an example; resolves with its first stdout line matching `ready`. */
function startExample(
  script: string,
  env: Record<string, string>,
  ready: RegExp,
): Promise<{ child: ChildProcess; line: string; lines: string[] }> {
  const child = spawn(process.execPath, [join(ROOT, script)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  child.stderr?.on('data', (c) => {
    stderr += String(c);
  });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      lines.push(l);
      if (ready.test(l)) resolve({ child, line: l, lines });
    });
    child.on('exit', (code) => reject(new Error(`${script} exited ${code} before it was ready: ${stderr}`)));
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.on('exit', (c) => r(c)));
}

describe('examples', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  it('webhook receiver: verifies (rotated secrets), rejects stale timestamps, stores each event once across a full re-delivery', async () => {
    const dir = tempDir();
    const out = join(dir, 'received.ndjson');
    const rx = await startExample(
      'examples/webhook-receiver/server.mjs',
      { WEBHOOK_SECRETS: `${OLD},${NEW}`, OUT: out, PORT: '0' },
      /^listening on /,
    );
    try {
      const url = `${rx.line.replace('listening on ', '')}/hook`;
      await t.admin('events/emit', { spec: 'cdc:Account', count: 50 });
      // The same events twice: a second bridge with a fresh replay store re-delivers every one.
      for (const run of ['first', 'again']) {
        const a = makeBridge(
          t,
          join(dir, run),
          [
            {
              name: 'accounts',
              source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent', initial: 'earliest' },
              sinks: [{ type: 'webhook', url, secrets: [NEW] }],
            },
          ],
          {},
          'warn',
        );
        await a.bridge.start();
        await until(() => (a.bridge.status().routes[0]?.eventsAcked ?? 0) >= 50, 20_000, `${run}: all acknowledged`);
        await a.bridge.stop();
      }
      const stored = readFileSync(out, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(stored).toHaveLength(50);
      expect(new Set(stored.map((s) => s.events[0].eventId)).size).toBe(50);
      // Signed with the old secret (rotation): accepted; a wrong key or a stale timestamp: 401.
      const body = JSON.stringify({ ...stored[0].events[0], eventId: 'e-rotated' });
      const post = (secret: string, ts: Date, id: string) =>
        fetch(url, {
          method: 'POST',
          body,
          headers: {
            'webhook-id': id,
            'webhook-timestamp': String(Math.floor(ts.getTime() / 1000)),
            'webhook-signature': new Webhook(secret).sign(id, ts, body),
            'content-type': 'application/json',
          },
        });
      expect((await post(OLD, new Date(), 'msg-old-key')).status).toBe(204);
      const wrong = `whsec_${Buffer.from('someone-else-0123456789012').toString('base64')}`;
      expect((await post(wrong, new Date(), 'msg-wrong-key')).status).toBe(401);
      expect((await post(NEW, new Date(Date.now() - 3600_000), 'msg-stale')).status).toBe(401);
      expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(51);
    } finally {
      rx.child.kill('SIGTERM');
      await exited(rx.child);
    }
  });

  for (const via of ['nats', 'rabbitmq'] as const) {
    it(`${via} consumer: applies every event once, acknowledging only what its saved state holds; a second bridge run's duplicates are skipped`, async () => {
      const dir = tempDir();
      const tag = `ex${randomUUID().slice(0, 8)}`;
      const state = join(dir, 'state.json');
      await t.admin('events/emit', { spec: 'cdc:Lead', count: 60 });
      const ledger = await t.ledger('/data/LeadChangeEvent');
      const records = new Set<string>();
      for (const l of ledger) for (const id of l.recordIds ?? []) l.changeType === 'DELETE' ? records.delete(id) : records.add(id);
      const sink =
        via === 'nats'
          ? {
              type: 'nats',
              servers: ['nats://127.0.0.1:4222'],
              subject: `${tag}.{channel}`,
              createStream: { name: tag, subjects: [`${tag}.>`] },
            }
          : {
              type: 'rabbitmq',
              url: 'amqp://guest:guest@127.0.0.1:5672',
              exchange: tag,
              routingKey: '{channel}',
              queue: { name: tag, bindingKey: '#' },
            };
      // Two runs with no stored position between them: every event is sent twice.
      for (const run of ['first', 'again']) {
        const a = makeBridge(
          t,
          join(dir, run),
          [{ name: 'leads', source: { type: 'pubsub', org: 'emu', topic: '/data/LeadChangeEvent', initial: 'earliest' }, sinks: [sink] }],
          {},
          'warn',
        );
        await a.bridge.start();
        await until(() => (a.bridge.status().routes[0]?.eventsCommitted ?? 0) >= ledger.length, 30_000, `${run}: all committed`);
        await a.bridge.stop();
      }
      const env: Record<string, string> = via === 'nats' ? { STREAM: tag } : { QUEUE: tag };
      const c = await startExample(
        `examples/${via}-consumer/consumer.mjs`,
        { ...env, STATE: state, EXPECT: String(ledger.length) },
        /^\{"applied"/,
      );
      expect(await exited(c.child)).toBe(0);
      const summary = JSON.parse(c.line);
      expect(summary).toMatchObject({ applied: ledger.length, records: records.size });
      if (via === 'rabbitmq') {
        // RabbitMQ delivers the second run's copies; the consumer reads the queue dry and skips every one.
        expect(summary.duplicates).toBe(ledger.length);
      } else {
        // JetStream dropped the second run's copies (Nats-Msg-Id within the duplicate window).
        const nc = await connectNats({ servers: 'nats://127.0.0.1:4222' });
        expect((await (await jetstreamManager(nc)).streams.info(tag)).state.messages).toBe(ledger.length);
        await nc.close();
      }
    });
  }

  describe.skipIf(!kafka.url)(`Kafka consumer ${kafka.reason ?? ''}`, () => {
    it('reads an exactly-once topic with read_committed and applies each event once, duplicates included', async () => {
      const dir = tempDir();
      const topic = `examples-${randomUUID().slice(0, 8)}`;
      const state = join(dir, 'state.json');
      await t.admin('events/emit', { spec: 'cdc:Contact', count: 60 });
      const ledger = await t.ledger('/data/ContactChangeEvent');
      // The view the consumer should end with: record ids alive after the ledger's changes.
      const records = new Set<string>();
      for (const l of ledger) for (const id of l.recordIds ?? []) l.changeType === 'DELETE' ? records.delete(id) : records.add(id);
      for (const [run, exactlyOnce] of [
        ['eos', true],
        ['again', false],
      ] as const) {
        const a = makeBridge(
          t,
          join(dir, run),
          [
            {
              name: 'contacts',
              source: { type: 'pubsub', org: 'emu', topic: '/data/ContactChangeEvent', initial: 'earliest' },
              sinks: [{ type: 'kafka', brokers: (kafka.url as string).split(','), topic, exactlyOnce, createTopics: { partitions: 3 } }],
            },
          ],
          // Exactly-once keeps positions in Kafka, inside each write's transaction.
          exactlyOnce
            ? { replayStore: { type: 'kafka', brokers: (kafka.url as string).split(','), topic: `${topic}.replay`, namespace: topic } }
            : {},
          'warn',
        );
        await a.bridge.start();
        await until(() => (a.bridge.status().routes[0]?.eventsCommitted ?? 0) >= ledger.length, 30_000, `${run}: all committed`);
        await a.bridge.stop();
      }
      // 120 records in Kafka (every event twice); the consumer applies each event once.
      const c = await startExample(
        'examples/kafka-consumer/consumer.mjs',
        { BROKERS: kafka.url as string, TOPIC: topic, STATE: state, EXPECT: String(ledger.length) },
        /^\{"applied"/,
      );
      expect(await exited(c.child)).toBe(0);
      const summary = JSON.parse(c.line);
      expect(summary.applied).toBe(ledger.length);
      expect(summary.records).toBe(records.size);
      const saved = JSON.parse(readFileSync(state, 'utf8'));
      expect(saved.applied).toHaveLength(ledger.length);
      // A second run of the consumer (same group) reads the duplicates and applies none of them.
      const again = await startExample(
        'examples/kafka-consumer/consumer.mjs',
        { BROKERS: kafka.url as string, TOPIC: topic, STATE: state, EXPECT: String(ledger.length) },
        /^\{"applied"/,
      );
      expect(await exited(again.child)).toBe(0);
      expect(JSON.parse(again.line)).toMatchObject({ applied: ledger.length, records: records.size });
      expect(JSON.parse(again.line).duplicates).toBeGreaterThanOrEqual(1);
    });
  });

  describe.skipIf(!kafka.url || !registry.url)(`schema registry consumer ${kafka.reason ?? registry.reason ?? ''}`, () => {
    it('decodes Avro envelopes through the registry, a field added mid-stream included', async () => {
      const dir = tempDir();
      const topic = `examples-avro-${randomUUID().slice(0, 8)}`;
      await t.admin('events/emit', { spec: 'cdc:Opportunity', count: 30 });
      const sink = {
        type: 'kafka',
        brokers: (kafka.url as string).split(','),
        topic,
        format: 'avro',
        schemaRegistry: { url: registry.url },
      };
      const { bridge } = makeBridge(
        t,
        dir,
        [
          {
            name: 'opps',
            source: { type: 'pubsub', org: 'emu', topic: '/data/OpportunityChangeEvent', initial: 'earliest' },
            sinks: [sink],
          },
        ],
        {},
        'warn',
      );
      await bridge.start();
      try {
        await until(() => (bridge.status().routes[0]?.eventsCommitted ?? 0) >= 30, 30_000, 'the first 30');
        await t.admin('schema/change', { target: 'Opportunity', field: { name: 'Region__c', type: 'string' } });
        const token = await t.token();
        const made = await t.http('POST', '/services/data/v63.0/sobjects/Opportunity', {
          token,
          body: { Name: 'Registry deal', StageName: 'Prospecting', CloseDate: '2027-01-31', Region__c: 'EMEA' },
        });
        expect(made.status).toBe(201);
        await until(() => (bridge.status().routes[0]?.eventsCommitted ?? 0) >= 31, 30_000, 'the one with the new field');
      } finally {
        await bridge.stop();
      }
      const c = await startExample(
        'examples/schema-registry-consumer/consumer.mjs',
        { BROKERS: kafka.url as string, TOPIC: topic, REGISTRY: registry.url as string, EXPECT: '31' },
        /^\{"decoded"/,
      );
      expect(await exited(c.child)).toBe(0);
      expect(JSON.parse(c.line)).toEqual({ decoded: 31, kinds: { cdc: 31 }, schemaIds: [expect.any(Number), expect.any(Number)] });
      const records = c.lines.filter((l) => l.startsWith('{"kind"')).map((l) => JSON.parse(l));
      expect(records).toHaveLength(31);
      expect(records.at(-1)?.payload).toMatchObject({ Name: 'Registry deal', Region__c: 'EMEA' });
    });
  });
});
