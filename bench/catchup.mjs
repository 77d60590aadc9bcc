// Catch-up from a retained backlog, side by side in one run on one emulator (separate process):
//   1. the emulator's own serving rate (one raw Subscribe stream, receive only): the ceiling;
//   2. sfbridge: Pub/Sub -> decode -> envelope -> sink (file with fsync'd group commits, and/or
//      Kafka acks=all idempotent, and/or Kafka exactly-once) -> replay commit, until the last
//      event is committed; peak RSS of the bridge process;
//   3. the public salesforce-pubsub-api-client (unmodified devDependency) doing receive + decode.
//
//   node bench/catchup.mjs [--events 1000000] [--runs 3] [--sinks file,kafka,kafka-eos,nats,rabbitmq,redis-stream,mqtt,sqs] [--kafka 127.0.0.1:19092]
//                          [--pipeline '{"maxInFlight":5000}'] [--fields 600] [--fsync false]
//                          [--builds DIR,DIR] [--compare false]
// --builds: run the bridge of each of these checkouts (built) in turn on every run, on this one
// emulator and backlog, for back-to-back comparisons of builds; rows are labelled by directory.
// --compare false: skip the emulator's raw serving rate and the public client (bridge rows only).
// --fields N (N > 40): a custom object Wide__c with N fields instead of the 40-field Account
// (the emulator's `objects` config), for wide real-world objects (~4 KB envelopes at 600).
// Kafka sinks need a broker (`node scripts/kafka-broker.mjs start` prints one); nats, rabbitmq,
// redis-stream and mqtt use the servers on 127.0.0.1; sqs an ElasticMQ (`node scripts/elasticmq.mjs start`).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  arg,
  freePort,
  median,
  preload,
  publicClient,
  publicClientReceive,
  report,
  runBridge,
  serveRate,
  startEmulatorProcess,
  wideObjectEmulatorArgs,
  writeBridgeConfig,
} from './lib.mjs';

const EVENTS = Number(arg('events', 1_000_000));
const RUNS = Number(arg('runs', 3));
const SINKS = arg('sinks', 'file').split(',');
const NATS = arg('nats', 'nats://127.0.0.1:4222');
const AMQP = arg('amqp', 'amqp://guest:guest@127.0.0.1:5672');
const REDIS = arg('redis', 'redis://127.0.0.1:6379');
const MQTT = arg('mqtt', 'mqtt://127.0.0.1:1883');
const SQS = arg('sqs', process.env.SQS_ENDPOINT ?? 'http://127.0.0.1:9324');

const LABELS = {
  file: 'file (fsync)',
  kafka: 'Kafka acks=all idempotent',
  'kafka-eos': 'Kafka exactly-once',
  nats: 'NATS JetStream (PubAck)',
  rabbitmq: 'RabbitMQ (publisher confirms)',
  'redis-stream': 'Redis Streams (XADD)',
  mqtt: 'MQTT QoS 1 (PUBACK)',
  sqs: 'SQS (ElasticMQ, SendMessageBatch)',
};

/** The sink under test; each writes into names of its own run (`ns`). */
function sinkConfig(sink, dir, ns) {
  switch (sink) {
    case 'file':
      return { type: 'file', dir: join(dir, 'out'), fsync: arg('fsync', 'true') !== 'false' };
    case 'kafka':
    case 'kafka-eos':
      return {
        type: 'kafka',
        brokers: KAFKA.split(','),
        topic: `${ns}.{channel}`,
        exactlyOnce: sink === 'kafka-eos',
        createTopics: { partitions: 3 },
      };
    case 'nats':
      return { type: 'nats', servers: [NATS], subject: `${ns}.{channel}`, createStream: { name: ns, subjects: [`${ns}.>`] } };
    case 'rabbitmq':
      return { type: 'rabbitmq', url: AMQP, exchange: ns, routingKey: '{channel}', queue: { name: ns, bindingKey: '#' } };
    case 'redis-stream':
      return { type: 'redis-stream', url: REDIS, stream: `${ns}:{channel}` };
    case 'mqtt':
      return { type: 'mqtt', url: MQTT, topic: `${ns}/{channel}` };
    case 'sqs':
      // ElasticMQ creates a queue on first use only through CreateQueue: the bench run makes it first.
      return { type: 'sqs', queueUrl: `${SQS}/000000000000/${ns}`, endpoint: SQS, region: 'us-east-1' };
    default:
      throw new Error(`unknown sink ${sink} (file, kafka, kafka-eos, nats, rabbitmq, redis-stream, mqtt, sqs)`);
  }
}
const KAFKA = arg('kafka', process.env.KAFKA_BROKERS ?? '127.0.0.1:19092');
const FIELDS = Number(arg('fields', 40));
const WIDE = FIELDS > 40;
const TOPIC = WIDE ? '/data/Wide__ChangeEvent' : '/data/AccountChangeEvent';
// Pipeline settings for the bridge under test (defaults: the bridge's own defaults).
const PIPELINE = JSON.parse(arg('pipeline', '{}'));
const BUILDS = arg('builds', '') ? arg('builds', '').split(',') : [null];
const COMPARE = arg('compare', 'true') !== 'false';

const work = mkdtempSync(join(tmpdir(), 'sfbridge-bench-'));
const emuArgs = WIDE ? wideObjectEmulatorArgs(work, FIELDS) : [];
const emu = await startEmulatorProcess(emuArgs);
const rows = [];
try {
  // The emulator's Account has 38 fields; two custom ones make the 40-field schema of the issue.
  if (!WIDE)
    for (const name of ['Tier__c', 'Region__c']) await emu.admin('schema/change', { target: 'Account', field: { name, type: 'string' } });
  const spec = WIDE ? 'cdc:Wide__c' : 'cdc:Account';
  process.stdout.write(`preloading ${EVENTS} ${spec} change events (${FIELDS} fields)... `);
  const first = await preload(emu, spec, EVENTS);
  process.stdout.write('done\n');

  const serve = [];
  const serveCpu = [];
  let payload = 0;
  for (let i = 0; i < (COMPARE ? RUNS : 0); i++) {
    const r = await serveRate(emu, TOPIC, EVENTS, first);
    serve.push(r.eventsPerSec);
    serveCpu.push(r.cpuSecondsPerMillion);
    payload = r.avgPayloadBytes;
  }
  if (COMPARE)
    rows.push(
      row('emulator serving (raw stream, receive only)', serve, {
        avgPayloadBytes: Math.round(payload),
        cpuSecondsPerMillion: Number(median(serveCpu).toFixed(1)),
      }),
    );

  for (const sink of SINKS) {
    const results = new Map(BUILDS.map((b) => [b, { rates: [], rss: [], cpu: [] }]));
    for (let i = 0; i < RUNS; i++)
      for (const build of BUILDS) {
        const { rates, rss, cpu } = results.get(build);
        const dir = join(work, `${sink}-${i}`);
        const port = await freePort();
        const ns = `bench${Date.now()}${i}`;
        const sinkCfg = sinkConfig(sink, dir, ns);
        if (sink === 'sqs') await createQueue(ns);
        const store =
          sink === 'kafka-eos'
            ? { type: 'kafka', brokers: KAFKA.split(','), topic: `${ns}.replay`, namespace: ns }
            : { type: 'file', path: join(dir, 'replay.json'), fsync: true };
        const cfg = writeBridgeConfig(join(work, `${sink}-${i}.json`), {
          emu,
          dir,
          port,
          routes: [{ name: 'accounts', source: { type: 'pubsub', org: 'emu', topic: TOPIC, initial: 'earliest' }, sinks: [sinkCfg] }],
          extra: { replayStore: store, pipeline: PIPELINE },
        });
        const r = await runBridge(
          cfg,
          port,
          (s) => (s.routes[0]?.eventsCommitted ?? 0) >= EVENTS || (s.routes[0]?.eventsAcked ?? 0) >= EVENTS + 1,
          build ? { root: build } : {},
        );
        rates.push(EVENTS / r.secs);
        rss.push(r.peakRss);
        cpu.push(r.cpu);
        rmSync(dir, { recursive: true, force: true });
      }
    for (const [build, { rates, rss, cpu }] of results)
      rows.push(
        row(`sfbridge -> ${LABELS[sink] ?? sink}, committed${build ? ` [${build}]` : ''}`, rates, {
          peakRssMb: Math.round(Math.max(...rss)),
          cpuSecondsMedian: median(cpu.filter((c) => c !== null)),
          cpuSecondsPerMillion: Number(((median(cpu.filter((c) => c !== null)) / EVENTS) * 1e6).toFixed(1)),
          cpuRuns: cpu.join(' / '),
        }),
      );
  }

  const pub = [];
  for (let i = 0; i < (COMPARE ? RUNS : 0); i++) pub.push(await publicClientRate());
  if (COMPARE)
    rows.push(
      row(
        'salesforce-pubsub-api-client 5.5.2, receive + decode only',
        pub.map((p) => p.rate),
        { cpuSecondsPerMillion: Number(median(pub.map((p) => p.cpuSecondsPerMillion)).toFixed(1)) },
      ),
    );

  const ours = rows.find((r) => r.scenario.startsWith('sfbridge -> file'));
  const theirs = COMPARE ? rows.at(-1) : null;
  const ratio = ours && theirs ? ours.medianEventsPerSec / theirs.medianEventsPerSec : null;
  report(`catchup-${EVENTS}`, rows, { events: EVENTS, runs: RUNS, ratioFileVsPublicClient: ratio && Number(ratio.toFixed(2)) });
  if (ratio) console.log(`sfbridge (file, full pipeline) / public client (receive + decode): ${ratio.toFixed(2)}x`);
} finally {
  await emu.stop();
  rmSync(work, { recursive: true, force: true });
}

function row(scenario, rates, extra = {}) {
  const r = { scenario, medianEventsPerSec: Math.round(median(rates)), runs: rates.map(Math.round).join(' / '), ...extra };
  console.log(JSON.stringify(r)); // progress: each row as soon as it is measured
  return r;
}

async function publicClientRate() {
  const client = await publicClient(emu, { instanceUrl: emu.info.instanceUrl, pubSubEndpoint: emu.info.pubsubEndpoint });
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  await publicClientReceive(client, TOPIC, EVENTS);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  client.close();
  return { rate: EVENTS / secs, cpuSecondsPerMillion: (c.user + c.system) / EVENTS };
}

async function createQueue(name) {
  process.env.AWS_ACCESS_KEY_ID ??= 'bench';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'bench';
  const { SQSClient, CreateQueueCommand } = await import('@aws-sdk/client-sqs');
  const c = new SQSClient({ region: 'us-east-1', endpoint: SQS });
  await c.send(new CreateQueueCommand({ QueueName: name }));
  c.destroy();
}
