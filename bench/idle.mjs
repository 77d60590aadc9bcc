// Idle cost: the bridge with 50 quiet subscriptions (25 Pub/Sub, 25 CometD, on channels with no
// traffic) — CPU% and RSS over a measurement window after startup settles.
//   node bench/idle.mjs [--routes 50] [--seconds 60]

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, cpuSeconds, freePort, getJson, ROOT, report, rssMb, startEmulatorProcess, writeBridgeConfig } from './lib.mjs';

const ROUTES = Number(arg('routes', 50));
const SECONDS = Number(arg('seconds', 60));
const OBJECTS = ['Account', 'Contact', 'Lead', 'Opportunity', 'Case'];

const emu = await startEmulatorProcess();
let bridge = null;
const dir = mkdtempSync(join(tmpdir(), 'sfbridge-idle-'));
try {
  const port = await freePort();
  const routes = Array.from({ length: ROUTES }, (_, i) => {
    // CometD routes share the org's one client, one route per channel: generic channels of their own.
    const channel = `/data/${OBJECTS[i % OBJECTS.length]}ChangeEvent`;
    const source = i % 2 === 0 ? { type: 'pubsub', org: 'emu', topic: channel } : { type: 'cometd', org: 'emu', channel: `/u/Quiet${i}` };
    return { name: `quiet-${i}`, source, sinks: [{ type: 'file', dir: join(dir, 'out') }] };
  });
  // A generic channel exists once something was published to it (the routes start at latest).
  for (const r of routes) if (r.source.type === 'cometd') await emu.admin('events/emit', { spec: `generic:${r.source.channel}`, count: 1 });
  const cfg = writeBridgeConfig(join(dir, 'bridge.json'), { emu, dir, port, routes });
  bridge = spawn(process.execPath, [join(ROOT, 'bin/sfbridge.js'), 'run', '-c', cfg], { stdio: 'ignore' });
  // Settle: every route running, then a few seconds more.
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    const s = await getJson(`http://127.0.0.1:${port}/status`).catch(() => null);
    if (s?.routes.every((r) => r.state === 'running')) break;
    const failed = s?.routes.find((r) => r.state === 'failed');
    if (failed) throw new Error(`route ${failed.key} failed: ${failed.error}`);
  }
  await new Promise((r) => setTimeout(r, 5000));
  const cpu0 = cpuSeconds(bridge.pid);
  const t0 = Date.now();
  const rss = [];
  while (Date.now() - t0 < SECONDS * 1000) {
    rss.push(rssMb(bridge.pid));
    await new Promise((r) => setTimeout(r, 1000));
  }
  const cpuPct = ((cpuSeconds(bridge.pid) - cpu0) / ((Date.now() - t0) / 1000)) * 100;
  bridge.kill('SIGTERM');
  report('idle', [
    {
      scenario: `${ROUTES} quiet subscriptions (${Math.ceil(ROUTES / 2)} Pub/Sub, ${Math.floor(ROUTES / 2)} CometD)`,
      seconds: SECONDS,
      cpuPercent: Number(cpuPct.toFixed(2)),
      rssMbMin: Math.round(Math.min(...rss)),
      rssMbMax: Math.round(Math.max(...rss)),
    },
  ]);
} finally {
  bridge?.kill('SIGTERM'); // also when a route failed and the bench stopped early
  await emu.stop();
  rmSync(dir, { recursive: true, force: true });
}
