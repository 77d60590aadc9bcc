// Writing into Salesforce (the emulator, a separate process), side by side in one run:
//   1. sfbridge: Kafka topic (JSON records) -> `salesforce` sink -> Order_Event__e over
//      PublishStream, until every record was published and committed back to the group;
//   2. sfbridge: Kafka -> `salesforce-records` Account upserts, through sObject Collections
//      (200 a call) and through Bulk API 2.0 ingest jobs (bulkAbove);
//   3. the public salesforce-pubsub-api-client (unmodified devDependency) publishing the same
//      number of events with publishBatch (PublishStream, 200 a request), publish only.
// Each row: events/s and CPU-seconds per million events (bridge process, or this process for the
// public client), peak RSS of the bridge.
//
//   node bench/publish.mjs [--events 100000] [--records 20000] [--runs 3] [--kafka 127.0.0.1:19092] [--only 1,2]
// Needs a Kafka broker (`node scripts/kafka-broker.mjs start` prints one) and a build (npm run build).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { arg, freePort, median, publicClient, report, runBridge, startEmulatorProcess, writeBridgeConfig } from './lib.mjs';

const EVENTS = Number(arg('events', 100_000));
const RECORDS = Number(arg('records', 20_000));
const RUNS = Number(arg('runs', 3));
const BROKERS = arg('kafka', process.env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const TOPIC = '/event/Order_Event__e';

const kafka = new Kafka({ brokers: BROKERS, clientId: 'sfbridge-bench', logLevel: logLevel.NOTHING });

async function fillTopic(count) {
  const topic = `bench-${randomUUID().slice(0, 8)}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  for (let from = 0; from < count; from += 5000) {
    const n = Math.min(5000, count - from);
    const messages = Array.from({ length: n }, (_, k) => {
      const i = from + k;
      return {
        key: `k${i}`,
        value: JSON.stringify({ order: `O-${i}`, amount: i / 10, account: `ACC-${i}`, name: `Account ${i}`, employees: i % 5000 }),
      };
    });
    await producer.send({ topic, messages });
  }
  await producer.disconnect();
  return topic;
}

async function bridgeRun(emu, label, count, sink, pipeline = {}) {
  const topic = await fillTopic(count);
  const dir = mkdtempSync(join(tmpdir(), 'sfbridge-bench-publish-'));
  const port = await freePort();
  const cfg = writeBridgeConfig(join(dir, 'bridge.json'), {
    emu,
    dir,
    port,
    routes: [{ name: 'in', source: { type: 'kafka', brokers: BROKERS, topics: [topic], groupId: `g-${topic}` }, sinks: [sink] }],
    extra: { pipeline: { commitIntervalMs: 200, ...pipeline } },
  });
  const r = await runBridge(cfg, port, (s) => (s.routes[0]?.eventsCommitted ?? 0) >= count);
  rmSync(dir, { recursive: true, force: true });
  const dead = r.status.routes[0]?.sinks[0]?.eventsDeadLettered ?? 0;
  if (dead > 0) throw new Error(`${label}: ${dead} events dead-lettered`);
  return { rate: count / r.secs, cpuPerM: (r.cpu / count) * 1e6, rss: r.peakRss };
}

async function publicClientRun(emu, count) {
  const client = await publicClient(emu, { instanceUrl: emu.info.instanceUrl, pubSubEndpoint: emu.info.pubsubEndpoint });
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  let done = 0;
  await new Promise((resolve, reject) => {
    const onResponse = (_info, type, data) => {
      if (type === 'publishResponse') {
        done += data.results.length;
        if (done >= count) resolve();
      } else if (type === 'error') reject(data);
    };
    (async () => {
      for (let from = 0; from < count; from += 200) {
        const n = Math.min(200, count - from);
        const events = Array.from({ length: n }, (_, k) => ({
          id: `${from + k}`,
          // avro-js (the client's Avro library) takes union values wrapped in their branch name.
          payload: {
            CreatedDate: Date.now(),
            CreatedById: '005000000000000AAA',
            OrderNumber__c: { string: `P-${from + k}` },
            Amount__c: { double: (from + k) / 10 },
          },
        }));
        await client.publishBatch(TOPIC, events, onResponse);
      }
    })().catch(reject);
  });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  // Closing cancels the client's publish stream, which it then reports as an unhandled 'error' event.
  process.on('uncaughtException', (err) => {
    if (err?.code !== 1) throw err;
  });
  client.close();
  return { rate: count / secs, cpuPerM: (c.user + c.system) / count };
}

const emu = await startEmulatorProcess();
const rows = [];
try {
  await emu.admin('publish/allocation', { max: 1_000_000_000 });
  const scenarios = [
    {
      name: `sfbridge Kafka -> platform events (PublishStream), ${EVENTS} events`,
      run: () =>
        bridgeRun(emu, 'publish', EVENTS, {
          type: 'salesforce',
          org: 'emu',
          topic: TOPIC,
          mapping: '{ "OrderNumber__c": payload.order, "Amount__c": payload.amount }',
        }),
    },
    {
      name: `public client publishBatch (publish only), ${EVENTS} events`,
      run: () => publicClientRun(emu, EVENTS),
    },
    {
      name: `sfbridge Kafka -> Account upserts (Composite, 200 a call), ${RECORDS} records`,
      run: () => bridgeRun(emu, 'composite', RECORDS, upsertSink()),
    },
    {
      name: `sfbridge Kafka -> Account upserts (Bulk API 2.0 above 1000), ${RECORDS} records`,
      run: () =>
        bridgeRun(emu, 'bulk', RECORDS, { ...upsertSink(), bulkAbove: 1000, bulkPollMs: 200 }, { maxInFlight: 5000, maxBatchEvents: 5000 }),
    },
  ];
  const only = arg('only', '');
  for (const s of scenarios.filter((_, i) => !only || only.split(',').includes(String(i + 1)))) {
    const results = [];
    for (let i = 0; i < RUNS; i++) results.push(await s.run());
    const r = {
      scenario: s.name,
      medianEventsPerSec: Math.round(median(results.map((x) => x.rate))),
      cpuSecondsPerMillion: Math.round(median(results.map((x) => x.cpuPerM))),
      peakRssMb: results[0].rss ? Math.round(Math.max(...results.map((x) => x.rss))) : null,
      runs: results.map((x) => Math.round(x.rate)).join(' / '),
    };
    console.log(JSON.stringify(r));
    rows.push(r);
  }
} finally {
  await emu.stop();
}
report('publish', rows, { events: EVENTS, records: RECORDS, runs: RUNS });

function upsertSink() {
  return {
    type: 'salesforce-records',
    org: 'emu',
    object: 'Account',
    operation: 'upsert',
    externalIdField: 'SLASerialNumber__c',
    mapping: '{ "SLASerialNumber__c": payload.account, "Name": payload.name, "NumberOfEmployees": payload.employees }',
  };
}
