// Several instances sharing many routes over PostgreSQL HA leases: --instances (4) bridges, one
// config each (same routes), --orgs (100) emulated orgs with 10 routes each (9 Pub/Sub, 1 CometD).
// Reports each instance's share once every route runs, then kill -9s one instance while change
// events flow and reports how long until its routes run elsewhere, and whether any event of the
// Account routes is missing from their sinks (the union over instances) against each org's ledger.
//   node bench/ha-share.mjs [--orgs 100] [--instances 4] [--ttl 10000] [--pg postgres://postgres@127.0.0.1:5432/test]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, emulatorOrg, freePort, getJson, ROOT, readNdjsonDir, report, startEmulatorProcess } from './lib.mjs';

const ORGS = Number(arg('orgs', 100));
const INSTANCES = Number(arg('instances', 4));
const TTL = Number(arg('ttl', 10_000));
const PG = arg('pg', process.env.SFBRIDGE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
const OBJECTS = ['Account', 'Contact', 'Lead', 'Case', 'Opportunity'];

const emu = await startEmulatorProcess(['--tenants', String(ORGS)]);
const tenants = emu.info.tenants ?? [emu.info];
const work = mkdtempSync(join(tmpdir(), 'sfbridge-ha-share-'));
const children = [];
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

function admin(info, method, path, body) {
  return new Promise((resolve, reject) => {
    const u = new URL(`/admin/${path}`, info.loginUrl);
    const r = httpsRequest(u, { method, ca: emu.ca, headers: { 'content-type': 'application/json' } }, (res) => {
      let t = '';
      res.on('data', (c) => (t += c));
      // The ledger is NDJSON; the other answers one JSON document.
      res.on('end', () =>
        resolve(
          path.startsWith('ledger')
            ? t
                .split('\n')
                .filter(Boolean)
                .map((l) => JSON.parse(l))
            : t
              ? JSON.parse(t)
              : null,
        ),
      );
    });
    r.on('error', reject);
    r.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

try {
  const ns = `hashare${Date.now()}`;
  const orgs = {};
  const routes = [];
  for (let o = 0; o < ORGS; o++) {
    const name = `org${o}`;
    orgs[name] = { ...emulatorOrg({ info: tenants[o] }), limits: { poll: 0 } };
    for (let r = 0; r < 9; r++) {
      const topic = r < 5 ? `/data/${OBJECTS[r]}ChangeEvent` : r < 8 ? `/data/${OBJECTS[r - 5]}ChangeEvent` : '/event/Order_Event__e';
      routes.push({
        name: `${name}-p${r}`,
        source: { type: 'pubsub', org: name, topic, initial: 'earliest' },
        sinks: [{ type: 'file', dir: '${SINK_DIR}/' + `${name}-p${r}` }],
      });
    }
    routes.push({
      name: `${name}-c`,
      source: { type: 'cometd', org: name, channel: '/data/CaseChangeEvent' },
      sinks: [{ type: 'file', dir: '${SINK_DIR}/' + `${name}-c` }],
    });
  }
  const ports = [];
  for (let i = 0; i < INSTANCES; i++) {
    const port = await freePort();
    ports.push(port);
    const cfg = join(work, `i${i}.json`);
    writeFileSync(
      cfg,
      JSON.stringify({
        log: { level: 'warn', format: 'json' },
        health: { host: '127.0.0.1', port },
        orgs,
        replayStore: { type: 'postgres', url: PG, namespace: ns, tablePrefix: 'sfbridge_bench' },
        deadLetter: { type: 'file', dir: join(work, `dl${i}`) },
        ha: { enabled: true, leaseTtlMs: TTL, instanceId: `bench-${i}` },
        routes,
      }),
    );
    children.push(
      spawn(process.execPath, [join(ROOT, 'bin/sfbridge.js'), 'run', '-c', cfg], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, SINK_DIR: join(work, `out${i}`), SFBRIDGE_LOG_LEVEL: 'warn' },
      }),
    );
  }
  const running = async (which) => {
    const st = await Promise.all(which.map((i) => getJson(`http://127.0.0.1:${ports[i]}/status`).catch(() => null)));
    return st.map((s) => s?.routes?.filter((r) => r.state === 'running').length ?? 0);
  };
  const all = [...Array(INSTANCES).keys()];
  const t0 = Date.now();
  let shares;
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    shares = await running(all);
    if (shares.reduce((a, b) => a + b, 0) === routes.length) break;
    if (Date.now() - t0 > 300_000) throw new Error(`not every route runs after 300 s: ${shares}`);
  }
  const fair = routes.length / INSTANCES;
  const dev = (xs) => Math.max(...xs.map((n) => Math.abs(n - fair) / fair));
  console.log(`every route running after ${((Date.now() - t0) / 1000).toFixed(1)} s; shares ${shares.join(', ')} (fair ${fair})`);
  // Instances that started first took more; each hands back what is over its share (graceful
  // drain) as the others' heartbeats count: wait for that to settle, up to a minute.
  const s0 = Date.now();
  while (dev(shares) > 0.1 && Date.now() - s0 < 60_000) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = await running(all);
    if (now.reduce((a, b) => a + b, 0) === routes.length) shares = now;
  }
  const settleSeconds = (Date.now() - s0) / 1000;
  const deviation = dev(shares);
  console.log(`shares after ${settleSeconds.toFixed(1)} s more: ${shares.join(', ')}`);

  // Change events flow on every org while instance 0 is killed.
  const emitting = (async () => {
    for (let k = 0; k < 10; k++) {
      await Promise.all(tenants.map((t) => admin(t, 'POST', 'events/emit', { spec: 'cdc:Account', count: 5 })));
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  await new Promise((r) => setTimeout(r, 1500));
  children[0].kill('SIGKILL');
  const killedAt = Date.now();
  const rest = all.slice(1);
  let after;
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    after = await running(rest);
    if (after.reduce((a, b) => a + b, 0) === routes.length) break;
    if (Date.now() - killedAt > TTL * 6) throw new Error(`the killed instance's routes were not taken over: ${after}`);
  }
  const takeoverMs = Date.now() - killedAt;
  console.log(`instance 0 killed: its ${shares[0]} routes run elsewhere after ${takeoverMs} ms (lease TTL ${TTL} ms)`);
  await emitting;
  // Every Account route (p0 and p5 of each org) has every Account change event of its org.
  const want = await Promise.all(tenants.map((t) => admin(t, 'GET', 'ledger?channel=/data/AccountChangeEvent')));
  const missing = async () => {
    let n = 0;
    for (let o = 0; o < ORGS; o++)
      for (const r of [`org${o}-p0`, `org${o}-p5`]) {
        const seen = new Set(all.flatMap((i) => readNdjsonDir(join(work, `out${i}`, r)).map((e) => e.replayId)));
        n += want[o].filter((l) => !seen.has(l.replayIdBase64)).length;
      }
    return n;
  };
  const w0 = Date.now();
  let lost = await missing();
  while (lost > 0 && Date.now() - w0 < 120_000) {
    await new Promise((r) => setTimeout(r, 2000));
    lost = await missing();
  }
  const row = {
    instances: INSTANCES,
    orgs: ORGS,
    routes: routes.length,
    shares: shares.join('/'),
    maxDeviationPercent: Number((deviation * 100).toFixed(1)),
    settleSeconds: Number(settleSeconds.toFixed(1)),
    leaseTtlMs: TTL,
    takeoverMs,
    accountRoutesChecked: ORGS * 2,
    eventsPerAccountRoute: want[0].length,
    lost,
  };
  console.log(JSON.stringify(row));
  report(`ha-share-${INSTANCES}x${routes.length}`, [row]);
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await emu.stop();
  rmSync(work, { recursive: true, force: true });
}
