// Using more cores of one machine: N bridge instances on one config, with HA leases on a shared
// PostgreSQL replay store, share 4 busy routes (ceil(routes / live instances) each). Catch-up of a
// retained backlog of --events change events on each of 4 channels (Account, Contact,
// Opportunity, Case) into fsync'd files, with 1 instance and then with 2, on one emulator: wall
// time until every route's committed position (read from PostgreSQL) reaches its last event,
// events/s over all routes, CPU-seconds of the bridges.
//   node bench/scale.mjs [--events 100000] [--instances 1,2] [--pg postgres://postgres@127.0.0.1:5432/test]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { arg, cpuSeconds, freePort, preload, ROOT, report, rssMb, startEmulatorProcess, writeBridgeConfig } from './lib.mjs';

const EVENTS = Number(arg('events', 100_000));
const COUNTS = arg('instances', '1,2').split(',').map(Number);
const PG = arg('pg', process.env.SFBRIDGE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
const OBJECTS = ['Account', 'Contact', 'Opportunity', 'Case'];

const emu = await startEmulatorProcess();
const work = mkdtempSync(join(tmpdir(), 'sfbridge-scale-'));
const db = new pg.Client({ connectionString: PG });
await db.connect();
const last = {};
try {
  for (const o of OBJECTS) {
    process.stdout.write(`preloading ${EVENTS} cdc:${o} events... `);
    const first = await preload(emu, `cdc:${o}`, EVENTS);
    last[o] = first + EVENTS - 1;
  }
  console.log('done');
  const rows = [];
  for (const n of COUNTS) rows.push(await run(n));
  report(`scale-${EVENTS}`, rows, { eventsPerRoute: EVENTS, routes: OBJECTS.length });
} finally {
  await db.end();
  await emu.stop();
  rmSync(work, { recursive: true, force: true });
}

function replayIdOf(seq) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(seq));
  return b.toString('base64');
}

async function run(instances) {
  const ns = `scale${Date.now()}`;
  const dir = join(work, ns);
  const routes = OBJECTS.map((o) => ({
    name: o.toLowerCase(),
    source: { type: 'pubsub', org: 'emu', topic: `/data/${o}ChangeEvent`, initial: 'earliest' },
    sinks: [{ type: 'file', dir: join(dir, 'out', o), fsync: true }],
  }));
  const children = [];
  for (let i = 0; i < instances; i++) {
    const cfg = writeBridgeConfig(join(work, `${ns}-${i}.json`), {
      emu,
      dir: join(dir, `i${i}`),
      port: await freePort(),
      routes,
      extra: {
        replayStore: { type: 'postgres', url: PG, namespace: ns, tablePrefix: 'sfbridge_bench' },
        ha: { enabled: true, leaseTtlMs: 3000, instanceId: `bench-${i}` },
      },
    });
    children.push(spawn(process.execPath, [join(ROOT, 'bin/sfbridge.js'), 'run', '-c', cfg], { stdio: ['ignore', 'ignore', 'inherit'] }));
  }
  const want = new Map(OBJECTS.map((o) => [o.toLowerCase(), replayIdOf(last[o])]));
  const t0 = Date.now();
  let peak = 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 200));
    for (const c of children) peak = Math.max(peak, rssMb(c.pid) ?? 0);
    const { rows } = await db
      .query('SELECT key, replay_id FROM sfbridge_bench_positions WHERE namespace = $1', [ns])
      .catch(() => ({ rows: [] }));
    const done = [...want].every(([k, id]) => rows.some((r) => r.key === k && r.replay_id === id));
    if (done) break;
    if (Date.now() - t0 > 900_000) throw new Error('scale run timed out');
  }
  const secs = (Date.now() - t0) / 1000;
  const cpu = children.reduce((a, c) => a + (cpuSeconds(c.pid) ?? 0), 0);
  await Promise.all(
    children.map(
      (c) =>
        new Promise((r) => {
          c.once('exit', r);
          c.kill('SIGTERM');
        }),
    ),
  );
  const total = EVENTS * OBJECTS.length;
  const row = {
    scenario: `${instances} instance${instances > 1 ? 's' : ''}, ${OBJECTS.length} routes, PostgreSQL store with HA leases`,
    eventsPerSec: Math.round(total / secs),
    seconds: Number(secs.toFixed(1)),
    cpuSeconds: Number(cpu.toFixed(1)),
    cpuSecondsPerMillion: Number(((cpu / total) * 1e6).toFixed(1)),
    peakRssMbPerInstance: Math.round(peak),
  };
  console.log(JSON.stringify(row));
  return row;
}
