/**
 * Issue 31's reliability rows: the NATS JetStream and SQS FIFO sinks through 5 SIGKILLs of the
 * bridge hold every ledger event exactly once (Nats-Msg-Id within the duplicate window, the SQS
 * deduplication id within 5 minutes); the Redis Streams sink with
 * Redis unreachable for 30 s mid-stream (a TCP proxy drops every connection) loses nothing.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { CreateQueueCommand, DeleteMessageBatchCommand, DeleteQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import amqp from 'amqplib';
import { connectAsync as mqttConnect } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { readStreamEnvelopes } from '../helpers/redis-cli.js';
import { service } from '../helpers/services.js';
import { tempDir } from '../helpers/tmp.js';
import { BridgeProcess, CuttableProxy, recordTally, retainedStream, SIZE, tally, WINDOW, waitFor, writeConfig } from './harness.js';

const NATS = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const AMQP = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const redis = service('redis');
const sqs = service('sqs');
// ElasticMQ takes any credentials; the bridge reads them from the standard AWS chain (its environment).
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('reliability: messaging sinks', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  const stream = (object: string, count: number, rate: number) => retainedStream(t, object, count, rate);

  it('NATS JetStream: 5 SIGKILLs of the bridge, every event exactly once in the stream', async () => {
    const tag = `rel${randomUUID().slice(0, 8)}`;
    const name = `REL_${tag}`;
    const s = await stream('Account', 6000, 1500);
    const cfg = writeConfig(tempDir(), t, { type: 'pubsub', org: 'emu', topic: s.channel }, [
      {
        type: 'nats',
        servers: [NATS],
        subject: `${tag}.{channel}`,
        createStream: { name, subjects: [`${tag}.>`], duplicateWindowSeconds: 600 },
      },
    ]);
    const nc = await connect({ servers: NATS });
    const jsm = await jetstreamManager(nc);
    const count = async () => (await jsm.streams.info(name).catch(() => null))?.state.messages ?? 0;
    const bridge = new BridgeProcess(cfg);
    try {
      for (let k = 0; k < 5; k++) {
        await bridge.start();
        await sleep(400 + Math.random() * 600);
        expect((await bridge.kill('SIGKILL')).signal).toBe('SIGKILL');
      }
      await t.admin('throttle', { eventsPerSecond: 0 });
      await bridge.start();
      const recoveryMs = await waitFor(count, s.ledger.length, 120_000, 'every event in the stream');
      await bridge.kill('SIGTERM');
      const consumer = await jetstream(nc).consumers.get(name);
      const envelopes: any[] = [];
      while (envelopes.length < (await count()))
        for await (const m of await consumer.fetch({ max_messages: 1000, expires: 2000 })) envelopes.push(m.json());
      const r = tally(s.ledger, envelopes);
      recordTally('NATS JetStream sink, SIGKILL x5', 'pubsub', r, recoveryMs, 'Nats-Msg-Id = event id, duplicate window 600 s');
      expect(r.lost).toBe(0);
      expect(r.duplicated).toBe(0);
    } finally {
      await t.admin('throttle', { eventsPerSecond: 0 });
      await jsm.streams.delete(name).catch(() => undefined);
      await nc.close();
    }
  }, 240_000);

  it.skipIf(!sqs.url)(
    'SQS FIFO: 5 SIGKILLs of the bridge, every event exactly once in the queue',
    async () => {
      const endpoint = sqs.url as string;
      const client = new SQSClient({ region: 'us-east-1', endpoint });
      const q = await client.send(
        new CreateQueueCommand({ QueueName: `rel-${randomUUID().slice(0, 8)}.fifo`, Attributes: { FifoQueue: 'true' } }),
      );
      const queueUrl = q.QueueUrl as string;
      const s = await stream('Contact', 3000, 600);
      const bridge = new BridgeProcess(
        writeConfig(tempDir(), t, { type: 'pubsub', org: 'emu', topic: s.channel }, [
          { type: 'sqs', queueUrl, endpoint, region: 'us-east-1' },
        ]),
      );
      try {
        for (let k = 0; k < 5; k++) {
          await bridge.start();
          await sleep(400 + Math.random() * 600);
          expect((await bridge.kill('SIGKILL')).signal).toBe('SIGKILL');
        }
        await t.admin('throttle', { eventsPerSecond: 0 });
        await bridge.start();
        const envelopes: any[] = [];
        const recoveryMs = await waitFor(
          async () => {
            // Up to 1,000 messages a poll (10 a call), taken off the queue as they are read.
            for (let k = 0; k < 100; k++) {
              const r = await client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
              if (!r.Messages?.length) break;
              for (const m of r.Messages) envelopes.push(JSON.parse(m.Body as string));
              await client.send(
                new DeleteMessageBatchCommand({
                  QueueUrl: queueUrl,
                  Entries: r.Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle as string })),
                }),
              );
            }
            return tally(s.ledger, envelopes).delivered;
          },
          s.ledger.length,
          120_000,
          'every event received',
        );
        await bridge.kill('SIGTERM');
        // Anything sent twice would be in the queue by now.
        const late = await client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 2 }));
        for (const m of late.Messages ?? []) envelopes.push(JSON.parse(m.Body as string));
        const r = tally(s.ledger, envelopes);
        recordTally('SQS FIFO sink (ElasticMQ), SIGKILL x5', 'pubsub', r, recoveryMs, 'MessageDeduplicationId = event id');
        expect(r.lost).toBe(0);
        expect(r.duplicated).toBe(0);
      } finally {
        await t.admin('throttle', { eventsPerSecond: 0 });
        await client.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => undefined);
        client.destroy();
      }
    },
    240_000,
  );

  /** Each messaging server behind a TCP proxy that drops every connection for 30 s mid-stream: 0 lost. */
  const servers = [
    { name: 'NATS JetStream', port: 4222, object: 'Opportunity' },
    { name: 'RabbitMQ', port: 5672, object: 'Case' },
    { name: 'MQTT (Mosquitto)', port: 1883, object: 'Contact' },
    { name: 'SQS (ElasticMQ)', port: 9324, object: 'Account' },
  ] as const;
  for (const srv of servers) {
    it(`${srv.name} unreachable for ${SIZE.outageMs / 1000} s mid-stream: nothing lost`, async () => {
      const proxy = new CuttableProxy('127.0.0.1', srv.port);
      await proxy.start();
      const tag = `out${randomUUID().slice(0, 8)}`;
      const reader = await readerFor(srv.port, tag);
      try {
        const s = await stream(srv.object, 4000, 300);
        const bridge = new BridgeProcess(
          writeConfig(tempDir(), t, { type: 'pubsub', org: 'emu', topic: s.channel }, [reader.sink(proxy.port)]),
        );
        await bridge.start();
        await sleep(3000);
        await proxy.cut(SIZE.outageMs);
        const back = Date.now();
        await t.admin('throttle', { eventsPerSecond: 0 });
        await waitFor(async () => tally(s.ledger, await reader.read()).delivered, s.ledger.length, 120_000, 'catch-up');
        const recoveryMs = Date.now() - back;
        await bridge.kill('SIGTERM');
        const r = tally(s.ledger, await reader.read());
        recordTally(
          `${srv.name} sink, server unreachable ${SIZE.outageMs / 1000} s`,
          'pubsub',
          r,
          recoveryMs,
          'a TCP proxy drops every connection',
        );
        expect(r.lost).toBe(0);
        expect(r.duplicated).toBeLessThanOrEqual(WINDOW);
      } finally {
        await t.admin('throttle', { eventsPerSecond: 0 });
        await reader.close();
        await proxy.stop();
      }
    }, 240_000);
  }

  it.skipIf(!redis.url)(
    `Redis Streams sink: Redis unreachable for ${SIZE.outageMs / 1000} s mid-stream, nothing lost`,
    async () => {
      const target = new URL(redis.url as string);
      const proxy = new CuttableProxy(target.hostname, Number(target.port || 6379));
      await proxy.start();
      try {
        const via = new URL(redis.url as string);
        via.host = `127.0.0.1:${proxy.port}`;
        const key = `rel-${randomUUID().slice(0, 8)}`;
        const s = await stream('Lead', 6000, 400);
        const bridge = new BridgeProcess(
          writeConfig(tempDir(), t, { type: 'pubsub', org: 'emu', topic: s.channel }, [
            { type: 'redis-stream', url: via.toString(), stream: key },
          ]),
        );
        await bridge.start();
        await sleep(3000);
        await proxy.cut(SIZE.outageMs);
        const back = Date.now();
        await t.admin('throttle', { eventsPerSecond: 0 });
        const read = () => tally(s.ledger, readStreamEnvelopes(redis.url as string, key)).delivered;
        await waitFor(read, s.ledger.length, 90_000, 'catch-up');
        const recoveryMs = Date.now() - back;
        await bridge.kill('SIGTERM');
        const r = tally(s.ledger, readStreamEnvelopes(redis.url as string, key));
        recordTally(
          `Redis Streams sink, Redis down ${SIZE.outageMs / 1000} s`,
          'pubsub',
          r,
          recoveryMs,
          'XADD replies are the acknowledgement',
        );
        expect(r.lost).toBe(0);
        expect(r.duplicated).toBeLessThanOrEqual(WINDOW);
      } finally {
        await t.admin('throttle', { eventsPerSecond: 0 });
        await proxy.stop();
      }
    },
    180_000,
  );
});

/** A sink config through the proxy and a reader straight at the server, accumulating envelopes. */
async function readerFor(
  port: number,
  tag: string,
): Promise<{ sink: (via: number) => object; read: () => Promise<any[]>; close: () => Promise<void> }> {
  const got: any[] = [];
  if (port === 4222) {
    const nc = await connect({ servers: NATS });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: tag, subjects: [`${tag}.>`] });
    const consumer = await jetstream(nc).consumers.get(tag);
    return {
      sink: (via) => ({ type: 'nats', servers: [`nats://127.0.0.1:${via}`], subject: `${tag}.{channel}` }),
      read: async () => {
        for (;;) {
          const msgs = await consumer.fetch({ max_messages: 1000, expires: 1000 });
          let n = 0;
          for await (const m of msgs) {
            got.push(m.json());
            n++;
          }
          if (n === 0) return got;
        }
      },
      close: async () => {
        await jsm.streams.delete(tag).catch(() => undefined);
        await nc.close();
      },
    };
  }
  if (port === 5672) {
    const conn = await amqp.connect(AMQP);
    const ch = await conn.createChannel();
    await ch.assertExchange(tag, 'topic', { durable: true });
    await ch.assertQueue(tag, { durable: true });
    await ch.bindQueue(tag, tag, '#');
    await ch.consume(tag, (m) => {
      if (m) {
        got.push(JSON.parse(m.content.toString('utf8')));
        ch.ack(m);
      }
    });
    return {
      sink: (via) => ({ type: 'rabbitmq', url: `amqp://guest:guest@127.0.0.1:${via}`, exchange: tag, routingKey: '{channel}' }),
      read: async () => got,
      close: async () => {
        await ch.deleteQueue(tag).catch(() => undefined);
        await ch.deleteExchange(tag).catch(() => undefined);
        await conn.close();
      },
    };
  }
  if (port === 1883) {
    const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', '1883', '-q', '1', '-t', `${tag}/#`, '-i', `${tag}-r`, '-c']);
    let probed = false;
    createInterface({ input: sub.stdout }).on('line', (l) => {
      const v = JSON.parse(l);
      if (v.probe) probed = true;
      else got.push(v);
    });
    // mosquitto_sub says nothing once subscribed: probes go until one comes back.
    const probe = await mqttConnect('mqtt://127.0.0.1:1883');
    for (let i = 0; i < 100 && !probed; i++) {
      await probe.publishAsync(`${tag}/probe`, '{"probe":true}', { qos: 1 });
      await until(() => probed, 200, 'probe').catch(() => undefined);
    }
    await probe.endAsync();
    if (!probed) throw new Error('mosquitto_sub never received a probe');
    return {
      sink: (via) => ({ type: 'mqtt', url: `mqtt://127.0.0.1:${via}`, topic: `${tag}/{channel}`, ackTimeoutMs: 5000 }),
      read: async () => got,
      close: async () => {
        sub.kill();
      },
    };
  }
  const endpoint = sqs.url as string;
  const client = new SQSClient({ region: 'us-east-1', endpoint });
  const queueUrl = (await client.send(new CreateQueueCommand({ QueueName: tag }))).QueueUrl as string;
  return {
    sink: (via) => ({ type: 'sqs', queueUrl, endpoint: `http://127.0.0.1:${via}`, region: 'us-east-1' }),
    read: async () => {
      for (let k = 0; k < 100; k++) {
        const r = await client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
        if (!r.Messages?.length) break;
        for (const m of r.Messages) got.push(JSON.parse(m.Body as string));
        await client.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: r.Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle as string })),
          }),
        );
      }
      return got;
    },
    close: async () => {
      await client.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => undefined);
      client.destroy();
    },
  };
}
