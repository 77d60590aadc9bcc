// A Kafka consumer of sfbridge envelopes written with `format: avro` or `format: json-schema`:
// each record value is in the Confluent wire format (byte 0, the schema id, then the Avro bytes or
// the JSON text), so a registry-aware client decodes it with the schema it names, whichever
// version wrote it (a field Salesforce added mid-stream is simply present from then on).
// - `payload` is the event type's own record, typed from Salesforce's schema; for markers
//   (`replay-gap`), undecodable stand-ins and snapshots it is JSON text (Avro's string branch):
//   `kind` says which, so parse it then.
// - Prints one JSON line per record: kind, channel, event id, schema id, and the payload's fields.
//
//   BROKERS=127.0.0.1:9092 TOPIC=sf.accounts REGISTRY=http://127.0.0.1:8081 [EXPECT=n] node consumer.mjs
// (REGISTRY_USER / REGISTRY_PASSWORD for a registry with basic auth.) With EXPECT it stops after
// that many records and prints a summary (used by the project's CI), else it runs until SIGTERM.
// Needs: Node.js >= 22, npm i @platformatic/kafka @kafkajs/confluent-schema-registry.
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Consumer, MessagesStreamModes } from '@platformatic/kafka';

const brokers = (process.env.BROKERS ?? '127.0.0.1:9092').split(',');
const topic = process.env.TOPIC;
const expect = process.env.EXPECT ? Number(process.env.EXPECT) : null;
if (!topic || !process.env.REGISTRY) {
  console.error("set TOPIC to the sink's Kafka topic and REGISTRY to the schema registry URL");
  process.exit(2);
}
const auth = process.env.REGISTRY_USER ? { username: process.env.REGISTRY_USER, password: process.env.REGISTRY_PASSWORD ?? '' } : undefined;
const registry = new SchemaRegistry({ host: process.env.REGISTRY, auth });

const consumer = new Consumer({
  clientId: 'sfbridge-example-registry-consumer',
  bootstrapBrokers: brokers,
  groupId: process.env.GROUP ?? `sfbridge-example-registry-${topic}`,
  // Values stay bytes: the registry client reads the wire-format header itself.
});
const stream = await consumer.consume({
  topics: [topic],
  mode: MessagesStreamModes.COMMITTED,
  fallbackMode: MessagesStreamModes.EARLIEST,
  autocommit: false,
});
const stop = () => stream.close(() => consumer.close(true, () => process.exit(0)));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, stop);

let count = 0;
const kinds = {};
const schemaIds = new Set();
for await (const m of stream) {
  const value = Buffer.from(m.value);
  const e = await registry.decode(value);
  const payload = typeof e.payload === 'string' ? JSON.parse(e.payload) : e.payload;
  // Avro fills fields a change left out with null: keep the ones that carry a value.
  const fields =
    payload && typeof payload === 'object' ? Object.fromEntries(Object.entries(payload).filter(([, v]) => v !== null)) : payload;
  console.log(JSON.stringify({ kind: e.kind, channel: e.channel, eventId: e.eventId, schemaId: value.readInt32BE(1), payload: fields }));
  await m.commit();
  count++;
  kinds[e.kind] = (kinds[e.kind] ?? 0) + 1;
  schemaIds.add(value.readInt32BE(1));
  if (expect !== null && count >= expect) break;
}
console.log(JSON.stringify({ decoded: count, kinds, schemaIds: [...schemaIds] }));
await new Promise((resolve) => stream.close(resolve));
await new Promise((resolve) => consumer.close(true, resolve));
