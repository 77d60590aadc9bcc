// The latency floor (bench/latency.mjs): the least a Pub/Sub subscriber that persists events can
// do. It subscribes at LATEST, and for each batch the stream delivers appends one line per event
// ({"eventTime": the event's commit time}, read from the Avro header with a plain avsc type) to
// a file, fsyncs it, and asks for as many events again. No envelope, no pipeline, no replay store.
//   node bench/floor-subscriber.mjs ENDPOINT INSTANCE_URL ORG_ID CA_PATH|- TOPIC OUT_FILE  (token on stdin)
import { fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import avro from 'avsc';

const [endpoint, instanceUrl, orgId, caPath, topic, outFile] = process.argv.slice(2);
const accessToken = readFileSync(0, 'utf8').trim();
const { authMetadata, createPubSubClient } = await import('../dist/salesforce/pubsub-client.js');
const client = createPubSubClient({ endpoint, ca: caPath === '-' ? null : readFileSync(caPath, 'utf8') });
const md = authMetadata({ accessToken, instanceUrl, orgId });
const types = new Map();
// Salesforce longs (commitNumber) exceed 2^53: read them as lossy numbers; only the timestamp is used.
const LooseLong = avro.types.LongType.__with({
  fromBuffer: (b) => Number(b.readBigInt64LE()),
  toBuffer: (n) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt(n));
    return b;
  },
  fromJSON: Number,
  toJSON: Number,
  isValid: (n) => typeof n === 'number',
  compare: (a, b) => a - b,
});
const fd = openSync(outFile, 'a');

async function typeOf(schemaId) {
  let t = types.get(schemaId);
  if (!t) {
    const json = await new Promise((resolve, reject) =>
      client.GetSchema({ schema_id: schemaId }, md, (err, r) => (err ? reject(err) : resolve(r.schema_json))),
    );
    t = avro.Type.forSchema(JSON.parse(json), { wrapUnions: false, registry: { long: LooseLong } });
    types.set(schemaId, t);
  }
  return t;
}

const call = client.Subscribe(md);
let chain = Promise.resolve();
call.on('data', (res) => {
  const events = res.events ?? [];
  if (events.length === 0) return;
  chain = chain.then(async () => {
    let text = '';
    for (const e of events) {
      const rec = (await typeOf(e.event.schema_id)).fromBuffer(e.event.payload);
      text += `{"eventTime":${Number(rec.ChangeEventHeader.commitTimestamp)}}\n`;
    }
    writeSync(fd, text);
    fsyncSync(fd);
    call.write({ num_requested: events.length });
  });
});
call.on('error', (err) => {
  if (err.code !== 1) console.error(`floor subscriber: ${err.message}`);
  process.exit(err.code === 1 ? 0 : 1);
});
process.on('SIGTERM', () => {
  call.cancel();
  process.exit(0);
});
call.write({ topic_name: topic, replay_preset: 'LATEST', num_requested: 100 });
