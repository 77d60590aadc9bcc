#!/usr/bin/env node
// Kafka client comparison (issue 16): the same envelopes, produced the way the Kafka sink
// produces them (idempotent, acks=all, keys and four headers, requests of up to 2,000 records),
// with kafkajs and with @platformatic/kafka, into a fresh 3-partition topic on a real broker
// (requests also capped at 900,000 bytes, as the sink keeps them under max.message.bytes).
// Reports events/s and CPU-seconds per million events of this process (the broker runs
// elsewhere), for a 40-field CDC envelope (~1.1 KB) and a 600-field one (~4 KB).
//
//   KAFKA_BROKERS=127.0.0.1:19092 node bench/kafka-clients.mjs [--events 200000] [--rounds 2]
import { randomUUID } from 'node:crypto';
import { Producer, stringSerializers } from '@platformatic/kafka';
import kafkajs from 'kafkajs';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const EVENTS = opt('events', 200_000);
const ROUNDS = opt('rounds', 2);
const BATCH = 2000;
const MAX_BYTES = 900_000;

/** Requests of at most BATCH records and MAX_BYTES value bytes, in order. */
function chunks(msgs) {
  const out = [];
  let cur = [];
  let bytes = 0;
  for (const m of msgs) {
    const b = Buffer.byteLength(m.value) + 200;
    if (cur.length > 0 && (cur.length >= BATCH || bytes + b > MAX_BYTES)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(m);
    bytes += b;
  }
  if (cur.length) out.push(cur);
  return out;
}
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');

/** A CDC envelope shaped like the bridge's, with `fields` payload fields. */
function envelope(i, fields) {
  const payload = {};
  for (let f = 0; f < fields; f++) payload[`Field_${f}__c`] = f % 3 === 0 ? `value ${i} ${f}` : f % 3 === 1 ? i * f : null;
  return {
    v: 1,
    org: '00D5g00000Emu01EAB',
    channel: '/data/AccountChangeEvent',
    replayId: Buffer.alloc(8, i).toString('base64'),
    eventId: randomUUID(),
    schemaId: 'dGhpc2lzYXNjaGVtYWlk',
    eventTime: new Date().toISOString(),
    receivedAt: new Date().toISOString(),
    kind: 'cdc',
    changeHeader: {
      entity: 'Account',
      recordIds: [`001${String(i % 5000).padStart(15, '0')}`],
      changeType: 'UPDATE',
      changeOrigin: '',
      transactionKey: randomUUID(),
      sequenceNumber: 1,
      commitTimestamp: Date.now(),
      commitUser: '0055g00000Emu01AAA',
      changedFields: ['Name', 'LastModifiedDate'],
      nulledFields: [],
      diffFields: [],
    },
    payload,
  };
}

function messages(fields) {
  return Array.from({ length: EVENTS }, (_, i) => {
    const e = envelope(i, fields);
    return {
      key: e.changeHeader.recordIds[0],
      value: JSON.stringify(e),
      headers: { 'replay-id': e.replayId, channel: e.channel, 'event-id': e.eventId, kind: e.kind },
    };
  });
}

async function createTopic(topic) {
  const kafka = new kafkajs.Kafka({ brokers, logLevel: kafkajs.logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 3 }] });
  await admin.disconnect();
}

async function withKafkajs(msgs, topic) {
  const kafka = new kafkajs.Kafka({ brokers, clientId: 'bench', logLevel: kafkajs.logLevel.NOTHING });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const m = measure();
  for (const c of msgs) await producer.sendBatch({ topicMessages: [{ topic, messages: c }], acks: -1 });
  const r = m();
  await producer.disconnect();
  return r;
}

async function withPlatformatic(msgs, topic) {
  const producer = new Producer({ clientId: 'bench', bootstrapBrokers: brokers, idempotent: true, serializers: stringSerializers });
  const m = measure();
  for (const c of msgs) await producer.send({ messages: c.map((x) => ({ ...x, topic })), acks: -1 });
  const r = m();
  await producer.close();
  return r;
}

function measure() {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  return () => {
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = process.cpuUsage(c0);
    const cpu = (c.user + c.system) / 1e6;
    return { eventsPerSec: Math.round(EVENTS / wall), cpuSecPerMillion: +((cpu * 1e6) / EVENTS).toFixed(1), wall: +wall.toFixed(2) };
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = [];
for (const fields of [40, 600]) {
  const flat = messages(fields);
  const bytes = Math.round(flat.reduce((n, m) => n + Buffer.byteLength(m.value), 0) / flat.length);
  const msgs = chunks(flat);
  const results = { kafkajs: [], platformatic: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, fn] of [
      ['kafkajs', withKafkajs],
      ['platformatic', withPlatformatic],
    ]) {
      const topic = `bench-clients-${name}-${randomUUID().slice(0, 8)}`;
      await createTopic(topic);
      global.gc?.();
      results[name].push(await fn(msgs, topic));
    }
  }
  for (const [name, rs] of Object.entries(results)) {
    rows.push({
      client: name === 'kafkajs' ? 'kafkajs 2.2.4' : '@platformatic/kafka 1.35.0',
      fields,
      envelopeBytes: bytes,
      eventsPerSec: median(rs.map((x) => x.eventsPerSec)),
      cpuSecPerMillion: median(rs.map((x) => x.cpuSecPerMillion)),
      runs: rs,
    });
  }
}
console.log(JSON.stringify({ events: EVENTS, rounds: ROUNDS, brokers, rows }, null, 2));
for (const r of rows) {
  console.log(
    `${r.client.padEnd(28)} ${String(r.fields).padStart(3)} fields ${String(r.envelopeBytes).padStart(5)} B  ${String(r.eventsPerSec).padStart(7)} ev/s  ${r.cpuSecPerMillion} CPU-s/M`,
  );
}
