#!/usr/bin/env node
// Issue 16's acceptance, tried as a new user would: N Account change events from the emulator,
// `sfbridge run` with a Kafka sink on a fresh 3-partition topic of a default broker, SIGTERM once
// everything is committed; then an independent reader (kafkajs) checks that every event is in
// Kafka exactly once per event id, keyed by its record id, in order per record, and that the
// bridge exited 0.
//
//   KAFKA_BROKERS=127.0.0.1:19092 node bench/kafka-new-user.mjs [--events 100000]
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { arg, freePort, preload, runBridge, startEmulatorProcess, writeBridgeConfig } from './lib.mjs';

const EVENTS = Number(arg('events', 100_000));
const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const topic = `new-user-${randomUUID().slice(0, 8)}`;

const emu = await startEmulatorProcess();
const work = mkdtempSync(join(tmpdir(), 'sfbridge-new-user-'));
let result;
try {
  await preload(emu, 'cdc:Account', EVENTS);
  const port = await freePort();
  const cfg = writeBridgeConfig(join(work, 'bridge.json'), {
    emu,
    dir: work,
    port,
    routes: [
      {
        name: 'accounts',
        source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent', initial: 'earliest' },
        sinks: [{ type: 'kafka', brokers: BROKERS, topic, createTopics: { partitions: 3 } }],
      },
    ],
  });
  const run = await runBridge(cfg, port, (s) => (s.routes?.[0]?.eventsCommitted ?? 0) >= EVENTS);
  const exit = run.exitCode;
  const got = await readAll(topic, EVENTS);
  const ids = new Set(got.map((m) => m.value.eventId));
  let keyMismatch = 0;
  let outOfOrder = 0;
  const last = new Map();
  for (const m of got) {
    if (m.key !== m.value.changeHeader.recordIds[0]) keyMismatch++;
    const seq = Buffer.from(m.value.replayId, 'base64').readBigUInt64BE();
    const k = `${m.partition}:${m.key}`;
    if (last.has(k) && seq <= last.get(k)) outOfOrder++;
    last.set(k, seq);
  }
  result = {
    events: EVENTS,
    inKafka: got.length,
    distinctEventIds: ids.size,
    duplicates: got.length - ids.size,
    missing: EVENTS - ids.size,
    keyMismatch,
    outOfOrder,
    partitions: new Set(got.map((m) => m.partition)).size,
    eventsPerSec: Math.round(EVENTS / run.secs),
    bridgeExit: exit,
  };
} finally {
  await emu.stop();
}
console.log(JSON.stringify(result));
process.exit(
  result.missing === 0 && result.duplicates === 0 && result.keyMismatch === 0 && result.outOfOrder === 0 && result.bridgeExit === 0 ? 0 : 1,
);

async function readAll(t, n) {
  const kafka = new kafkajs.Kafka({ brokers: BROKERS, logLevel: kafkajs.logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `new-user-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topic: t, fromBeginning: true });
  const got = [];
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, 120_000);
    void consumer.run({
      eachMessage: async ({ message, partition }) => {
        got.push({ partition, key: message.key?.toString(), value: JSON.parse(message.value.toString()) });
        if (got.length >= n) {
          clearTimeout(timer);
          setTimeout(resolve, 2000); // anything beyond n would be a duplicate
        }
      },
    });
  });
  await consumer.disconnect();
  return got;
}
