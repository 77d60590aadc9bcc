// The PostgreSQL mirror sink (issue 30) against the local PostgreSQL: an initial snapshot of
// 200,000 Accounts with 40 fields (exported-record envelopes, COPY into the table), then streaming
// UPDATE change events (1-3 changed fields each, on 20,000 records) written as the pipeline hands
// them over (batches of up to --batch events), each batch one transaction. Prints rows/s,
// CPU-seconds per million and the process's RSS.
//
//   npm run build && node bench/postgres-mirror.mjs [--rows 200000] [--updates 200000] [--batch 2000] [--url postgres://…]
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { silentLogger } from '../dist/log.js';
import { PostgresSink } from '../dist/sinks/postgres/postgres-sink.js';
import { arg, report } from './lib.mjs';

const URL_ = arg('url', process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
const ROWS = Number(arg('rows', 200_000));
const UPDATES = Number(arg('updates', 200_000));
const BATCH = Number(arg('batch', 2000));
const schema = `bench_${randomUUID().slice(0, 8)}`;

const FIELDS = [];
for (let f = 0; f < 36; f++) FIELDS.push({ name: `Field${f}__c`, type: f % 4 === 0 ? 'double' : f % 4 === 1 ? 'boolean' : 'string' });
const describe = async () => [
  { name: 'Id', type: 'id' },
  { name: 'Name', type: 'string' },
  { name: 'Industry', type: 'picklist' },
  { name: 'AnnualRevenue', type: 'currency' },
  { name: 'SystemModstamp', type: 'datetime' },
  ...FIELDS,
];
const id = (i) => `001${String(i).padStart(15, '0')}`;

function snapshotRow(i) {
  const row = {
    Id: id(i),
    Name: `Account ${i}`,
    Industry: i % 3 ? 'Energy' : 'Retail',
    AnnualRevenue: String(i * 10.5),
    SystemModstamp: '2026-12-05T10:00:00.000Z',
  };
  for (const f of FIELDS)
    row[f.name] = f.type === 'double' ? String(i + 0.5) : f.type === 'boolean' ? String(i % 2 === 0) : `value ${i} of ${f.name}`;
  return {
    v: 1,
    org: 'o',
    channel: '/data/AccountChangeEvent',
    replayId: '',
    eventId: `snapshot:${i}`,
    schemaId: null,
    eventTime: '2026-12-05T10:00:00.000Z',
    receivedAt: '2026-12-05T10:00:01.000Z',
    kind: 'snapshot',
    changeHeader: {
      entity: 'Account',
      recordIds: [id(i)],
      changeType: 'SNAPSHOT',
      changeOrigin: '',
      transactionKey: '',
      sequenceNumber: 0,
      commitTimestamp: 0,
      commitUser: '',
      changedFields: [],
      nulledFields: [],
      diffFields: [],
    },
    payload: row,
  };
}

function update(n) {
  const rec = n % 20_000;
  const payload = { Industry: `I${n % 7}`, LastModifiedDate: 1_797_000_000_000 + n };
  if (n % 3 === 0) payload.AnnualRevenue = n + 0.25;
  return {
    v: 1,
    org: 'o',
    channel: '/data/AccountChangeEvent',
    replayId: Buffer.from(String(n)).toString('base64'),
    eventId: `u${n}`,
    schemaId: 's',
    eventTime: null,
    receivedAt: '2026-12-05T10:00:01.000Z',
    kind: 'cdc',
    changeHeader: {
      entity: 'Account',
      recordIds: [id(rec)],
      changeType: 'UPDATE',
      changeOrigin: '',
      transactionKey: '',
      sequenceNumber: 1,
      commitTimestamp: 1_797_000_000_000 + n,
      commitNumber: String(1_000_000 + n),
      commitUser: '',
      changedFields: Object.keys(payload),
      nulledFields: n % 10 === 0 ? ['Field2__c'] : [],
      diffFields: [],
    },
    payload,
  };
}

async function run(name, total, make) {
  const sink = new PostgresSink(
    { type: 'postgres', url: URL_, mode: 'mirror', schema, deletes: 'hard', exactlyOnce: false, poolSize: 2 },
    { route: 'bench', log: silentLogger(), sinkName: 'postgres#0', describeObject: describe },
  );
  await sink.open();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let peakRss = 0;
  for (let i = 0; i < total; i += BATCH) {
    const batch = [];
    for (let k = i; k < Math.min(total, i + BATCH); k++) batch.push(make(k));
    const r = await sink.write(batch);
    if (r?.some((o) => o.status !== 'delivered'))
      throw new Error(`${name}: not delivered: ${JSON.stringify(r.find((o) => o.status !== 'delivered'))}`);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await sink.close();
  return {
    case: name,
    rows: total,
    seconds: Number(secs.toFixed(2)),
    rowsPerSec: Math.round(total / secs),
    cpuSecPerMillion: Number((((cpu.user + cpu.system) / 1e6 / total) * 1e6).toFixed(1)),
    peakRssMb: Math.round(peakRss / 1e6),
  };
}

const db = new pg.Pool({ connectionString: URL_, max: 1 });
try {
  const rows = [];
  rows.push(await run(`snapshot: ${ROWS} Accounts x 40 fields (COPY)`, ROWS, snapshotRow));
  rows.push(await run(`streaming: ${UPDATES} UPDATEs on 20,000 records`, UPDATES, update));
  const n = Number((await db.query(`SELECT count(*) AS n FROM ${schema}.account`)).rows[0].n);
  if (n !== ROWS) throw new Error(`expected ${ROWS} rows, found ${n}`);
  const check = (await db.query(`SELECT industry, field2__c FROM ${schema}.account WHERE id = $1`, [id((UPDATES - 1) % 20_000)])).rows[0];
  if (check.industry !== `I${(UPDATES - 1) % 7}`) throw new Error(`the last update is not in the table: ${JSON.stringify(check)}`);
  report('postgres-mirror', rows, { batch: BATCH });
} finally {
  await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
  await db.end();
}
