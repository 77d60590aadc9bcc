// A RabbitMQ consumer of sfbridge envelopes (sink `type: rabbitmq` with a `queue`):
// - manual acknowledgements: a message is acknowledged only after the event is applied and the
//   state saved, so a crash redelivers it instead of losing it;
// - idempotent: an event id already applied is skipped (the bridge delivers at least once, and the
//   broker redelivers unacknowledged messages);
// - one queue keeps the order in which the bridge published, so a record's changes stay in order.
//
//   AMQP=amqp://guest:guest@127.0.0.1:5672 QUEUE=salesforce STATE=state.json [EXPECT=n] node consumer.mjs
// Keeps a materialised view (record id -> fields) in STATE. With EXPECT it stops once that many
// distinct events are applied (used by the project's CI), else it runs until SIGTERM.
// Needs: Node.js >= 20, npm i amqplib.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import amqp from 'amqplib';

const queue = process.env.QUEUE;
const statePath = process.env.STATE ?? 'state.json';
const expect = process.env.EXPECT ? Number(process.env.EXPECT) : null;
if (!queue) {
  console.error('set QUEUE to the queue bound to the sfbridge sink exchange');
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

const conn = await amqp.connect(process.env.AMQP ?? 'amqp://guest:guest@127.0.0.1:5672');
const ch = await conn.createChannel();
await ch.prefetch(200);
let pending = [];
let timer = null;
let idle = null;
const done = new Promise((resolve) => {
  // Save once per burst, then acknowledge everything the saved state includes.
  const flush = () => {
    clearTimeout(timer);
    timer = null;
    if (pending.length === 0) return;
    save();
    const last = pending.at(-1);
    pending = [];
    ch.ack(last, true);
    // With EXPECT: stop once that many events are applied and the queue has gone quiet.
    if (expect !== null && applied.size >= expect) {
      clearTimeout(idle);
      idle = setTimeout(resolve, 500);
    }
  };
  ch.consume(queue, (m) => {
    if (!m) return;
    clearTimeout(idle);
    apply(JSON.parse(m.content.toString('utf8')));
    pending.push(m);
    if (pending.length >= 200) flush();
    else timer ??= setTimeout(flush, 50);
  });
  process.once('SIGTERM', resolve);
});
await done;
await ch.close();
await conn.close();
console.log(JSON.stringify({ applied: applied.size, records: Object.keys(state.records).length, duplicates: state.duplicates }));
