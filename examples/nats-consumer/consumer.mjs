// A NATS JetStream consumer of sfbridge envelopes (sink `type: nats`):
// - a durable pull consumer with explicit acks: a message is acknowledged only after the event is
//   applied and the state saved, so a crash redelivers it instead of losing it;
// - idempotent: an event id already applied is skipped (JetStream drops the bridge's redeliveries
//   within the stream's duplicate window; this covers the consumer's own redeliveries);
// - per record, changes arrive in subject order (one subject per channel keeps a record's order).
//
//   NATS=nats://127.0.0.1:4222 STREAM=SALESFORCE [DURABLE=accounts-view] STATE=state.json [EXPECT=n] node consumer.mjs
// Keeps a materialised view (record id -> fields) in STATE. With EXPECT it stops once that many
// distinct events are applied (used by the project's CI), else it runs until SIGTERM.
// Needs: Node.js >= 20, npm i @nats-io/transport-node @nats-io/jetstream.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

const stream = process.env.STREAM;
const durable = process.env.DURABLE ?? 'sfbridge-view';
const statePath = process.env.STATE ?? 'state.json';
const expect = process.env.EXPECT ? Number(process.env.EXPECT) : null;
if (!stream) {
  console.error('set STREAM to the JetStream stream the sfbridge sink writes to');
  process.exit(2);
}

const state = existsSync(statePath)
  ? JSON.parse(readFileSync(statePath, 'utf8'))
  : { records: {}, applied: [], toRefresh: [], duplicates: 0 };
const applied = new Set(state.applied);
function save() {
  state.applied = [...applied];
  writeFileSync(`${statePath}.tmp`, JSON.stringify(state));
  renameSync(`${statePath}.tmp`, statePath);
}

function apply(e) {
  if (applied.has(e.eventId)) {
    state.duplicates++;
    return;
  }
  const h = e.changeHeader;
  if (e.kind === 'cdc') {
    for (const id of h.recordIds) {
      if (h.changeType === 'DELETE') delete state.records[id];
      else state.records[id] = { ...(state.records[id] ?? {}), ...e.payload };
    }
  } else if (e.kind === 'snapshot') {
    for (const id of h?.recordIds ?? []) state.records[id] = { ...e.payload };
  } else if (e.kind === 'gap' || e.kind === 'overflow') {
    state.toRefresh.push({ eventId: e.eventId, recordIds: h?.recordIds ?? [] });
  } else if (e.kind === 'replay-gap') {
    console.error(`replay gap on ${e.channel}: ${JSON.stringify(e.payload)}`);
  }
  applied.add(e.eventId);
}

const nc = await connect({ servers: process.env.NATS ?? 'nats://127.0.0.1:4222' });
const jsm = await jetstreamManager(nc);
await jsm.consumers.add(stream, { durable_name: durable, ack_policy: AckPolicy.Explicit }).catch(() => undefined);
const consumer = await jetstream(nc).consumers.get(stream, durable);
let stopping = false;
process.once('SIGTERM', () => {
  stopping = true;
});
while (!stopping && !(expect !== null && applied.size >= expect)) {
  const batch = await consumer.fetch({ max_messages: 500, expires: 1000 });
  const msgs = [];
  for await (const m of batch) {
    apply(m.json());
    msgs.push(m);
  }
  if (msgs.length === 0) continue;
  save();
  // Acknowledged only once the state that includes them is on disk.
  for (const m of msgs) m.ack();
}
await nc.drain();
console.log(JSON.stringify({ applied: applied.size, records: Object.keys(state.records).length, duplicates: state.duplicates }));
