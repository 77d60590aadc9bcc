// End-to-end latency at a steady rate, against its floor, in one run: the emulator publishes
// `--rate` CDC events/s (`sfbridge emulator --generate`); first a minimal subscriber
// (bench/floor-subscriber.mjs: append + fsync per batch, nothing else) and then the bridge
// (Pub/Sub -> file sink, fsync) write them, each for `--seconds`, `--runs` times in turn. This
// script tails what each writes, timing every line from its eventTime (the emulator's commit
// time) to when it is readable in the file. Prints p50 / p99 / p99.9 for both and the ratios.
//   node bench/latency.mjs [--rate 1000] [--seconds 30] [--runs 2] [--rtt 50]
// --rtt: both subscribers reach the emulator's Pub/Sub and HTTPS ports through a link that delays
// each direction by half of it (bench/lib.mjs delayLink), as over a WAN.

import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  arg,
  cpuSeconds,
  delayLink,
  freePort,
  median,
  percentile,
  ROOT,
  report,
  rssMb,
  startEmulatorProcess,
  writeBridgeConfig,
} from './lib.mjs';

const RATE = Number(arg('rate', 1000));
const SECONDS = Number(arg('seconds', 30));
const RUNS = Number(arg('runs', 2));
const WARMUP_S = 3;

const RTT = Number(arg('rtt', 0));
const links = RTT > 0 ? { http: await delayLink(RTT / 2), grpc: await delayLink(RTT / 2) } : null;
const emu = await startEmulatorProcess([
  '--generate',
  `cdc:Account:${RATE}/s`,
  ...(links ? ['--instance-url', `https://127.0.0.1:${links.http.port}`] : []),
]);
links?.http.setTarget(Number(new URL(emu.info.loginUrl).port));
links?.grpc.setTarget(Number(emu.info.pubsubEndpoint.split(':')[1]));
/** Where the subscribers reach the emulator: through the links when there are. */
const pubsubEndpoint = links ? `localhost:${links.grpc.port}` : emu.info.pubsubEndpoint;
const dir = mkdtempSync(join(tmpdir(), 'sfbridge-latency-'));
try {
  const rows = [];
  for (let run = 0; run < RUNS; run++) {
    rows.push(await measure('floor: minimal subscriber, append + fsync per batch', (out) => startFloor(out)));
    rows.push(await measure('sfbridge: Pub/Sub -> file sink (fsync)', (out) => startBridge(out, run)));
  }
  const floor = rows.filter((r) => r.scenario.startsWith('floor'));
  const ours = rows.filter((r) => r.scenario.startsWith('sfbridge'));
  const med = (xs, k) => median(xs.map((r) => r[k]));
  report(RTT > 0 ? `latency-rtt${RTT}` : 'latency', rows, {
    rate: RATE,
    rttMs: RTT,
    seconds: SECONDS,
    p99VsFloor: Number((med(ours, 'p99Ms') / med(floor, 'p99Ms')).toFixed(2)),
    p999VsFloor: Number((med(ours, 'p999Ms') / med(floor, 'p999Ms')).toFixed(2)),
  });
} finally {
  await emu.stop();
  await links?.http.close();
  await links?.grpc.close();
  rmSync(dir, { recursive: true, force: true });
}

async function startBridge(out, run) {
  const cfg = writeBridgeConfig(join(dir, `bridge-${run}.json`), {
    emu,
    dir: join(dir, `state-${run}`),
    port: await freePort(),
    routes: [
      {
        name: 'accounts',
        source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent', initial: 'latest' },
        sinks: [{ type: 'file', dir: out, fsync: true }],
      },
    ],
  });
  if (links) {
    const { readFileSync, writeFileSync } = await import('node:fs');
    const c = JSON.parse(readFileSync(cfg, 'utf8'));
    c.orgs.emu.loginUrl = `https://127.0.0.1:${links.http.port}`;
    c.orgs.emu.pubsubEndpoint = pubsubEndpoint;
    writeFileSync(cfg, JSON.stringify(c));
  }
  return spawn(process.execPath, [join(ROOT, 'bin/sfbridge.js'), 'run', '-c', cfg], { stdio: 'ignore' });
}

async function startFloor(out) {
  mkdirSync(out, { recursive: true });
  const i = emu.info;
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'bench/floor-subscriber.mjs'),
      pubsubEndpoint,
      i.instanceUrl,
      i.orgId,
      i.caCertPath ?? '-',
      '/data/AccountChangeEvent',
      join(out, 'floor.ndjson'),
    ],
    { stdio: ['pipe', 'ignore', 'inherit'] },
  );
  child.stdin.end(await emu.token());
  return child;
}

/** Tails the first file the subscriber writes under a fresh dir; each line timed from its eventTime. */
async function measure(scenario, start) {
  const out = join(dir, `out-${Date.now()}`);
  const child = await start(out);
  const latencies = [];
  const rss = [];
  let fd = null;
  let pos = 0;
  let rest = '';
  const buf = Buffer.alloc(1 << 20);
  const t0 = Date.now();
  while (Date.now() - t0 < (WARMUP_S + SECONDS) * 1000) {
    if (fd === null) {
      const f = (() => {
        try {
          return readdirSync(out)
            .filter((n) => n.endsWith('.ndjson'))
            .sort()[0];
        } catch {
          return undefined;
        }
      })();
      if (f) fd = openSync(join(out, f), 'r');
    }
    if (fd !== null) {
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, pos);
        if (n === 0) break;
        pos += n;
        const now = Date.now();
        const lines = (rest + buf.subarray(0, n).toString('utf8')).split('\n');
        rest = lines.pop();
        if (now - t0 < WARMUP_S * 1000) continue;
        for (const l of lines) {
          const t = JSON.parse(l).eventTime;
          latencies.push(now - (typeof t === 'number' ? t : Date.parse(t)));
        }
      }
    }
    if (latencies.length % 1000 < 5) rss.push(rssMb(child.pid));
    await new Promise((r) => setTimeout(r, 1));
  }
  if (fd !== null) closeSync(fd);
  const cpu = cpuSeconds(child.pid);
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  latencies.sort((a, b) => a - b);
  const row = {
    scenario,
    events: latencies.length,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    p999Ms: percentile(latencies, 99.9),
    maxMs: latencies.at(-1),
    cpuSeconds: cpu,
    rssMb: Math.round(Math.max(...rss.filter(Boolean))),
  };
  console.log(JSON.stringify(row));
  return row;
}
