// A Kafka consumer of sfbridge envelopes, correct with an at-least-once producer:
// - reads with read_committed, so an exactly-once (transactional) sfbridge sink's aborted writes
//   are never seen;
// - applies change events idempotently: an event id already applied is skipped (a re-delivery after
//   a bridge crash is a no-op), and per record the order is the order of the partition (sfbridge
//   keys CDC records by record id, so one record's changes share a partition);
// - acts on every marker kind instead of ignoring it: `replay-gap` (events may be missing between
//   two positions), `gap` / `overflow` (Salesforce sent record ids only), `snapshot` (current state
//   of a record from an export);
// - commits its offset only after the event is applied and its state saved.
//
//   BROKERS=127.0.0.1:9092 TOPIC=sf.accounts [GROUP=accounts-view] STATE=state.json [EXPECT=n] node consumer.mjs
// Keeps a materialised view (record id -> fields) in STATE. With EXPECT it stops once that many
// distinct events are applied (used by the project's CI), else it runs until SIGTERM.
// Needs: Node.js >= 20, npm i @platformatic/kafka.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Consumer, FetchIsolationLevels, MessagesStreamModes, stringDeserializers } from '@platformatic/kafka';

const brokers = (process.env.BROKERS ?? '127.0.0.1:9092').split(',');
const topic = process.env.TOPIC;
const statePath = process.env.STATE ?? 'state.json';
const expect = process.env.EXPECT ? Number(process.env.EXPECT) : null;
if (!topic) {
  console.error('set TOPIC to the Kafka topic of the sfbridge sink');
  process.exit(2);
}

// The view and the ids applied to it are saved together (write to a temp file, then rename), so
// after a crash the two agree and a replayed event is recognised.
const state = existsSync(statePath)
  ? JSON.parse(readFileSync(statePath, 'utf8'))
  : { records: {}, applied: [], gaps: [], toRefresh: [], duplicates: 0 };
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
  switch (e.kind) {
    case 'cdc': {
      const h = e.changeHeader;
      for (const id of h.recordIds) {
        if (h.changeType === 'DELETE') delete state.records[id];
        else {
          const rec = { ...(state.records[id] ?? {}), ...e.payload };
          // Nulled fields are present as null in the payload: a null is a value, not "unchanged".
          state.records[id] = rec;
        }
      }
      break;
    }
    case 'snapshot':
      // The record as an export saw it: replace what is known (a later change event wins by order).
      for (const id of e.changeHeader?.recordIds ?? [e.payload?.Id]) if (id) state.records[id] = { ...e.payload };
      break;
    case 'gap':
    case 'overflow':
      // Record ids only (or none for overflow): fetch these records from Salesforce (REST) to refresh them.
      state.toRefresh.push({ eventId: e.eventId, kind: e.kind, recordIds: e.changeHeader?.recordIds ?? [], at: e.eventTime });
      break;
    case 'replay-gap':
      // The bridge could not resume where it stopped: events between these positions may be missing.
      state.gaps.push({ channel: e.channel, detail: e.payload });
      console.error(`replay gap on ${e.channel}: ${JSON.stringify(e.payload)}`);
      break;
    default:
      // platform, pushtopic, generic: this view does not use them.
      break;
  }
  applied.add(e.eventId);
}

const consumer = new Consumer({
  clientId: 'sfbridge-example-consumer',
  bootstrapBrokers: brokers,
  groupId: process.env.GROUP ?? `sfbridge-example-${topic}`,
  isolationLevel: FetchIsolationLevels.READ_COMMITTED,
  deserializers: stringDeserializers,
});
const stream = await consumer.consume({
  topics: [topic],
  mode: MessagesStreamModes.COMMITTED,
  fallbackMode: MessagesStreamModes.EARLIEST,
  autocommit: false,
});
const stop = () => stream.close(() => consumer.close(true, () => process.exit(0)));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, stop);

for await (const m of stream) {
  apply(JSON.parse(m.value));
  save();
  await m.commit();
  if (expect !== null && applied.size >= expect) break;
}
console.log(
  JSON.stringify({
    applied: applied.size,
    duplicates: state.duplicates,
    records: Object.keys(state.records).length,
    gaps: state.gaps.length,
  }),
);
await new Promise((resolve) => stream.close(resolve));
await new Promise((resolve) => consumer.close(true, resolve));
