// Many orgs in one process: --orgs org entries (all pointing at one emulator), each with --pubsub
// (9) Pub/Sub routes and --cometd (1) CometD routes, every route into a file sink. Measures, from outside: seconds from
// spawn until every route is subscribed (/status), RSS and CPU share while idle (over --idle
// seconds), token requests and Pub/Sub connections the emulator saw per org, and RSS and CPU at a
// steady --rate events/s spread over the routes.
// Each org entry is its own emulated org (`sfbridge emulator --tenants N`), unless --shared.
//   node bench/orgs.mjs [--orgs 100] [--pubsub 9] [--cometd 1] [--reload 0] [--idle 30] [--rate 2000] [--steady 30] [--shared]

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, cpuSeconds, emulatorOrg, freePort, getJson, ROOT, report, rssMb, startEmulatorProcess } from './lib.mjs';

const ORGS = Number(arg('orgs', 100));
const IDLE = Number(arg('idle', 30));
const RATE = Number(arg('rate', 2000));
const STEADY = Number(arg('steady', 30));
const RELOAD = Number(arg('reload', 0));
const PUBSUB_ROUTES = Number(arg('pubsub', 9));
const COMETD_ROUTES = Number(arg('cometd', 1));
const PUBSUB = ['Account', 'Contact', 'Lead', 'Case', 'Opportunity'];

// One emulated org (tenant) per org entry, unless --shared: then every entry names one org.
const SHARED = process.argv.includes('--shared');
const emu = await startEmulatorProcess(SHARED ? [] : ['--tenants', String(ORGS)]);
const tenants = SHARED ? Array.from({ length: ORGS }, () => emu.info) : (emu.info.tenants ?? [emu.info]);
const work = mkdtempSync(join(tmpdir(), 'sfbridge-orgs-'));
try {
  const port = await freePort();
  const orgs = {};
  const routes = [];
  for (let o = 0; o < ORGS; o++) {
    const name = `org${o}`;
    orgs[name] = { ...emulatorOrg({ info: tenants[o] }), limits: { poll: 0 } };
    for (let r = 0; r < PUBSUB_ROUTES; r++) {
      const obj = PUBSUB[r % PUBSUB.length];
      const topic = r < 5 ? `/data/${obj}ChangeEvent` : '/event/Order_Event__e';
      routes.push({
        name: `${name}-p${r}`,
        source: { type: 'pubsub', org: name, topic },
        sinks: [{ type: 'file', dir: join(work, 'out', name), fsync: false }],
      });
    }
    for (let r = 0; r < COMETD_ROUTES; r++)
      routes.push({
        name: `${name}-c${r}`,
        source: { type: 'cometd', org: name, channel: '/data/CaseChangeEvent' },
        sinks: [{ type: 'file', dir: join(work, 'out', name), fsync: false }],
      });
  }
  const cfg = join(work, 'bridge.json');
  writeFileSync(
    cfg,
    JSON.stringify({
      log: { level: 'warn', format: 'json' },
      health: { host: '127.0.0.1', port },
      orgs,
      replayStore: { type: 'file', path: join(work, 'replay.json') },
      deadLetter: { type: 'file', dir: join(work, 'dlq') },
      routes,
    }),
  );
  const snap = process.env.BENCH_SNAPSHOT ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${process.env.BENCH_SNAPSHOT}`] : [];
  const child = spawn(process.execPath, [...snap, join(ROOT, 'bin/sfbridge.js'), 'run', '-c', cfg], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, SFBRIDGE_LOG_LEVEL: 'warn' },
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  // A bench that fails must not leave a bridge behind (it would log in to whatever takes its ports next).
  process.once('exit', () => child.exitCode === null && child.kill('SIGKILL'));
  const t0 = Date.now();
  let subscribedAfter = null;
  for (;;) {
    await new Promise((r) => setTimeout(r, 200));
    if (child.exitCode !== null) throw new Error(`bridge exited: ${stderr.slice(-2000)}`);
    const st = await getJson(`http://127.0.0.1:${port}/status`).catch(() => null);
    const n = st?.routes?.filter((r) => r.sourceStats?.subscribed === 1).length ?? 0;
    if (st && n === routes.length) {
      subscribedAfter = (Date.now() - t0) / 1000;
      break;
    }
    if (Date.now() - t0 > 300_000) throw new Error(`not all subscribed after 300 s (${n} of ${routes.length})`);
  }
  console.log(`all ${routes.length} routes subscribed after ${subscribedAfter.toFixed(1)} s`);
  // --reload N: N more routes (Pub/Sub, spread over the orgs) by SIGHUP; seconds until all subscribed.
  let reloadSeconds = null;
  if (RELOAD > 0) {
    const more = [];
    for (let k = 0; k < RELOAD; k++) {
      const org = `org${k % ORGS}`;
      more.push({
        name: `${org}-more${k}`,
        source: { type: 'pubsub', org, topic: '/data/AccountChangeEvent' },
        sinks: [{ type: 'file', dir: join(work, 'out', org), fsync: false }],
      });
    }
    const conf = JSON.parse(readFileSync(cfg, 'utf8'));
    writeFileSync(cfg, JSON.stringify({ ...conf, routes: [...conf.routes, ...more] }));
    const r0 = Date.now();
    child.kill('SIGHUP');
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      const st = await getJson(`http://127.0.0.1:${port}/status`).catch(() => null);
      if ((st?.routes?.filter((r) => r.sourceStats?.subscribed === 1).length ?? 0) === routes.length + RELOAD) break;
      if (Date.now() - r0 > 120_000) throw new Error('the reloaded routes did not all subscribe in 120 s');
    }
    reloadSeconds = (Date.now() - r0) / 1000;
    console.log(`${RELOAD} routes added by SIGHUP, all subscribed after ${reloadSeconds.toFixed(1)} s`);
  }
  const cpu0 = cpuSeconds(child.pid);
  await new Promise((r) => setTimeout(r, IDLE * 1000));
  const idleCpu = (cpuSeconds(child.pid) - cpu0) / IDLE;
  const idleRss = rssMb(child.pid);
  if (process.env.BENCH_SNAPSHOT) {
    child.kill('SIGUSR2');
    await new Promise((r) => setTimeout(r, 15_000));
  }
  if (process.env.BENCH_MEM) {
    // Where idle memory goes: V8 heap (used / total), off-heap buffers, per the bridge's own metrics.
    const text = await new Promise((resolve) => {
      httpRequest(`http://127.0.0.1:${port}/metrics`, (res) => {
        let t = '';
        res.on('data', (c) => (t += c));
        res.on('end', () => resolve(t));
      }).end();
    });
    console.log(
      text
        .split('\n')
        .filter((l) => /^(nodejs_heap_size|nodejs_external|process_resident|nodejs_heap_space_size_used)/.test(l))
        .join('\n'),
    );
  }
  // What each emulated org saw: token requests (logins) and Pub/Sub connections.
  const seen = SHARED ? [] : await Promise.all(tenants.map((t) => adminStatus(t)));
  const perOrg = (f) => (seen.length ? { min: Math.min(...seen.map(f)), max: Math.max(...seen.map(f)) } : null);
  const emuStatus = {
    tokenRequestsPerOrg: perOrg((x) => x.usage.tokenRequests),
    pubsubConnectionsPerOrg: perOrg((x) => x.pubsub.connections),
  };
  let steady = null;
  if (RATE > 0) {
    // Spread over the channels the routes read: CDC on 5 objects and the platform event.
    const gen = await startEmulatorRate();
    const c0 = cpuSeconds(child.pid);
    let peak = 0;
    for (let i = 0; i < STEADY; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      peak = Math.max(peak, rssMb(child.pid) ?? 0);
    }
    steady = { cpuShare: (cpuSeconds(child.pid) - c0) / STEADY, peakRssMb: Math.round(peak) };
    gen.stop();
  }
  await new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
  const row = {
    orgs: ORGS,
    routes: routes.length,
    subscribedAfterSeconds: Number(subscribedAfter.toFixed(1)),
    idleRssMb: Math.round(idleRss),
    idleCpuPercent: Number((idleCpu * 100).toFixed(2)),
    steadyRate: RATE,
    steadyCpuPercent: steady ? Number((steady.cpuShare * 100).toFixed(1)) : null,
    steadyPeakRssMb: steady?.peakRssMb ?? null,
    reloadRoutes: RELOAD,
    reloadSubscribedSeconds: reloadSeconds === null ? null : Number(reloadSeconds.toFixed(1)),
    tenants: SHARED ? 1 : ORGS,
    tokenRequestsPerOrg: emuStatus.tokenRequestsPerOrg,
    pubsubConnectionsPerOrg: emuStatus.pubsubConnectionsPerOrg,
  };
  console.log(JSON.stringify(row));
  report(`orgs-${ORGS}${SHARED ? '-shared' : ''}`, [row]);
} finally {
  await emu.stop();
  rmSync(work, { recursive: true, force: true });
}

/** Steady traffic: --rate events/s in all, each second a batch per org on the next of the route channels. */
async function startEmulatorRate() {
  let on = true;
  const specs = [...PUBSUB.map((o) => `cdc:${o}`), 'platform:Order_Event__e'];
  const orgsWithTraffic = SHARED ? [emu.info] : tenants;
  const per = Math.max(1, Math.round(RATE / orgsWithTraffic.length));
  let tick = 0;
  const loop = (async () => {
    while (on) {
      const t = Date.now();
      const spec = specs[tick++ % specs.length];
      await Promise.all(orgsWithTraffic.map((info) => adminPost(info, 'events/emit', { spec, count: per })));
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - t))));
    }
  })();
  return {
    stop: () => {
      on = false;
      return loop;
    },
  };
}

function adminCall(info, method, path, body) {
  return new Promise((resolve, reject) => {
    const u = new URL(`/admin/${path}`, info.loginUrl);
    const data = body === undefined ? undefined : JSON.stringify(body);
    const r = (u.protocol === 'https:' ? httpsRequest : httpRequest)(
      u,
      { method, ca: emu.ca, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve(text ? JSON.parse(text) : null));
      },
    );
    r.on('error', reject);
    r.end(data);
  });
}
function adminStatus(info) {
  return adminCall(info, 'GET', 'status');
}
function adminPost(info, path, body) {
  return adminCall(info, 'POST', path, body);
}
