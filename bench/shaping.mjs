// What shaping costs per event (issue 29): structured filters, field lists, masks and JSONata,
// on change events of a 40-field object whose payload arrives as JSON text (the Pub/Sub form:
// shaping must parse it) or as a value (CometD). A route without shaping has no Shape at all
// (Shape.of gives null; the sink writer skips one null check per batch), so it is the baseline.
//
//   npm run build && node bench/shaping.mjs [--events 20000] [--rounds 5]
import { JsonPayload } from '../dist/envelope.js';
import { Shape } from '../dist/shaping/shape.js';
import { arg, report } from './lib.mjs';

const EVENTS = Number(arg('events', 20000));
const ROUNDS = Number(arg('rounds', 5));

function payload(i) {
  const p = {
    Name: `Account ${i}`,
    Industry: i % 4 === 0 ? 'Energy' : 'Retail',
    Phone: '+1 555 0100',
    LastModifiedDate: 1764950400000 + i,
  };
  for (let f = 0; f < 36; f++) p[`Field${f}__c`] = f % 3 === 0 ? i * f + 0.5 : `value ${i} of field ${f} with some text`;
  return p;
}

function envelope(i, asJson) {
  const e = {
    v: 1,
    org: '00D5g00000Emu01EAA',
    channel: '/data/AccountChangeEvent',
    replayId: Buffer.from(String(1_000_000 + i)).toString('base64'),
    eventId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    schemaId: 'schema-1',
    eventTime: '2026-12-05T21:00:00.000Z',
    receivedAt: '2026-12-05T21:00:00.010Z',
    kind: 'cdc',
    changeHeader: {
      entity: 'Account',
      recordIds: [`001000000000${String(i).padStart(6, '0')}`],
      changeType: i % 3 === 0 ? 'CREATE' : 'UPDATE',
      changeOrigin: 'com/salesforce/api/rest/63.0',
      transactionKey: 'tx',
      sequenceNumber: 1,
      commitTimestamp: 1764950400000,
      commitUser: '005000000000001AAA',
      changedFields: i % 2 === 0 ? ['Industry', 'LastModifiedDate'] : ['Name', 'LastModifiedDate'],
      nulledFields: [],
      diffFields: [],
    },
    payload: payload(i),
  };
  if (!asJson) return e;
  const line = Buffer.from(JSON.stringify(e));
  const p = new JsonPayload();
  return p.bind({ ...e, payload: p }, line, line.lastIndexOf('"payload":') + '"payload":'.length);
}

const CASES = {
  'structured filter (changeTypes + changedFieldsAny)': { filter: { changeTypes: ['UPDATE'], changedFieldsAny: ['Industry'] } },
  'fields.include [Id, Industry]': { fields: { include: ['Id', 'Industry'] } },
  'filter + include (the acceptance sink)': {
    filter: { changeTypes: ['UPDATE'], changedFieldsAny: ['Industry'] },
    fields: { include: ['Id', 'Industry'] },
  },
  'mask [Phone]': { mask: ['Phone'] },
  'JSONata filter.expression': { filter: { expression: 'payload.Industry = "Energy"' } },
  'JSONata transform (a 3-field map)': {
    transform: '{ "name": payload.Name, "industry": payload.Industry, "changed": changeHeader.changedFields }',
  },
};

async function measure(config, asJson) {
  const shape = Shape.of([{ at: 'the route', config }]);
  const best = [];
  for (let r = 0; r < ROUNDS; r++) {
    const events = Array.from({ length: EVENTS }, (_, i) => envelope(i, asJson));
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < events.length; i += 100) await shape.apply(events.slice(i, i + 100));
    const ns = Number(process.hrtime.bigint() - t0);
    const cpu = process.cpuUsage(cpu0);
    best.push({ nsPerEvent: ns / EVENTS, cpuSecPerMillion: ((cpu.user + cpu.system) / 1e6 / EVENTS) * 1e6 });
  }
  best.sort((a, b) => a.nsPerEvent - b.nsPerEvent);
  return best[Math.floor(best.length / 2)];
}

console.log(`shaping cost per event, ${EVENTS} events x ${ROUNDS} rounds (median), Node ${process.version}`);
console.log('no shaping: Shape.of(...) is null, nothing runs (0 ns/event)');
if (Shape.of([{ at: 'the route', config: {} }]) !== null) throw new Error('a route without shaping should have no Shape');
const rows = [];
for (const form of ['JSON payload (Pub/Sub)', 'value payload (CometD)']) {
  for (const [name, config] of Object.entries(CASES)) {
    const m = await measure(config, form.startsWith('JSON'));
    rows.push({
      payload: form,
      shaping: name,
      nsPerEvent: Math.round(m.nsPerEvent),
      kEventsPerSec: Math.round(1e9 / m.nsPerEvent / 1000),
      cpuSecPerMillion: Number(m.cpuSecPerMillion.toFixed(2)),
    });
  }
}
report('shaping', rows, { events: EVENTS, rounds: ROUNDS });
