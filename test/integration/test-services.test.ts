/**
 * The test services every later integration test relies on are real and usable: a Kafka broker
 * (idempotent produce + consume + a transaction), Redis and PostgreSQL.
 * Under CI=true the global setup fails the run if any is missing; elsewhere these skip with a reason.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { service } from '../helpers/services.js';

const kafka = service('kafka');
const redis = service('redis');
const postgres = service('postgres');

describe.skipIf(!kafka.url)(`Kafka broker ${kafka.reason ?? ''}`, () => {
  it('accepts idempotent and transactional writes and serves them to a read_committed consumer', async () => {
    const client = new Kafka({ brokers: (kafka.url as string).split(','), clientId: 'sfbridge-test', logLevel: logLevel.NOTHING });
    const topic = `sfbridge-test-${randomUUID()}`;
    const admin = client.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();

    const producer = client.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [{ key: 'a', value: 'plain' }] });
    await producer.disconnect();

    const txProducer = client.producer({ transactionalId: `tx-${topic}`, idempotent: true, maxInFlightRequests: 1 });
    await txProducer.connect();
    const tx = await txProducer.transaction();
    await tx.send({ topic, messages: [{ key: 'b', value: 'committed' }] });
    await tx.commit();
    const aborted = await txProducer.transaction();
    await aborted.send({ topic, messages: [{ key: 'c', value: 'aborted' }] });
    await aborted.abort();
    await txProducer.disconnect();

    const consumer = client.consumer({ groupId: `g-${topic}`, readUncommitted: false });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const seen: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timeout; saw ${seen.join(',')}`)), 30_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          seen.push(String(message.value));
          if (seen.length === 2) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await new Promise((r) => setTimeout(r, 500));
    await consumer.disconnect();
    expect(seen).toEqual(['plain', 'committed']);
  });
});

describe.skipIf(!redis.url)(`Redis ${redis.reason ?? ''}`, () => {
  it('round-trips a value', async () => {
    const r = new Redis(redis.url as string, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await r.connect();
    const key = `sfbridge-test:${randomUUID()}`;
    await r.set(key, 'v', 'EX', 10);
    expect(await r.get(key)).toBe('v');
    await r.del(key);
    r.disconnect();
  });
});

describe.skipIf(!postgres.url)(`PostgreSQL ${postgres.reason ?? ''}`, () => {
  it('runs a transaction', async () => {
    const c = new pg.Client({ connectionString: postgres.url as string });
    await c.connect();
    await c.query('begin');
    await c.query('create temp table t (k text primary key, v text)');
    await c.query("insert into t values ('a', 'b')");
    const r = await c.query('select v from t where k = $1', ['a']);
    await c.query('rollback');
    await c.end();
    expect(r.rows[0].v).toBe('b');
  });
});
