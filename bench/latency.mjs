// End-to-end latency at a steady rate: the emulator publishes `--rate` CDC events/s
// (`sfbridge emulator --generate`), the bridge (Pub/Sub -> file sink, fsync) writes them, and this
// script tails the sink file, timing each line from its eventTime (the emulator's publish time) to
// when it is readable in the file. Prints p50 / p99 / p99.9.
//   node bench/latency.mjs [--rate 1000] [--seconds 30]

import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, freePort, percentile, ROOT, report, rssMb, startEmulatorProcess, writeBridgeConfig } from './lib.mjs';

const RATE = Number(arg('rate', 1000));
const SECONDS = Number(arg('seconds', 30));
const WARMUP_S = 3;

const emu = await startEmulatorProcess(['--generate', `cdc:Account:${RATE}/s`]);
const dir = mkdtempSync(join(tmpdir(), 'sfbridge-latency-'));
try {
  const cfg = writeBridgeConfig(join(dir, 'bridge.json'), {
    emu,
    dir,
    port: await freePort(),
    routes: [
      {
        name: 'accounts',
        source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent', initial: 'latest' },
        sinks: [{ type: 'file', dir: join(dir, 'out'), fsync: true }],
      },
    ],
  });
  const bridge = spawn(process.execPath, [join(ROOT, 'bin/sfbridge.js'), 'run', '-c', cfg], { stdio: 'ignore' });
  const out = join(dir, 'out');
  const latencies = [];
  const rss = [];
  let fd = null;
  let pos = 0;
  let rest = '';
  const start = Date.now();
  while (Date.now() - start < (WARMUP_S + SECONDS) * 1000) {
    if (fd === null) {
      const f = (() => {
        try {
          return readdirSync(out).sort()[0];
        } catch {
          return undefined;
        }
      })();
      if (f) fd = openSync(join(out, f), 'r');
    }
    if (fd !== null) {
      const buf = Buffer.alloc(1 << 20);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, pos);
        if (n === 0) break;
        pos += n;
        const now = Date.now();
        const lines = (rest + buf.subarray(0, n).toString('utf8')).split('\n');
        rest = lines.pop();
        if (now - start < WARMUP_S * 1000) continue;
        for (const l of lines) latencies.push(now - Date.parse(JSON.parse(l).eventTime));
      }
    }
    if (latencies.length % 1000 < 5) rss.push(rssMb(bridge.pid));
    await new Promise((r) => setTimeout(r, 1));
  }
  if (fd !== null) closeSync(fd);
  bridge.kill('SIGTERM');
  latencies.sort((a, b) => a - b);
  report('latency', [
    {
      scenario: `publish -> readable in the file sink (fsync), ${RATE} events/s`,
      events: latencies.length,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      p999Ms: percentile(latencies, 99.9),
      maxMs: latencies.at(-1),
      rssMb: Math.round(Math.max(...rss.filter(Boolean))),
    },
  ]);
} finally {
  await emu.stop();
  rmSync(dir, { recursive: true, force: true });
}
