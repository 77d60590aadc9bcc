// Memory under a large backlog and a slow sink: 1,000,000 retained CDC events, the bridge
// delivering them to a webhook receiver that takes `--delay` ms per request (so the backlog
// never drains during the run). Samples the bridge's RSS every second: it must stay flat and
// under 256 MB, because credits bound what the bridge holds whatever the backlog.
//   node bench/memory.mjs [--events 1000000] [--seconds 60] [--delay 5]

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, freePort, getJson, preload, ROOT, report, rssMb, startEmulatorProcess, writeBridgeConfig } from './lib.mjs';

const EVENTS = Number(arg('events', 1_000_000));
const SECONDS = Number(arg('seconds', 60));
const DELAY = Number(arg('delay', 5));
const SECRET = `whsec_${Buffer.from('memory-bench-secret-0123').toString('base64')}`;

let received = 0;
const receiver = createServer((req, res) => {
  req.resume();
  req.on('end', () =>
    setTimeout(() => {
      received++;
      res.end('ok');
    }, DELAY),
  );
});
await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
const emu = await startEmulatorProcess();
const dir = mkdtempSync(join(tmpdir(), 'sfbridge-memory-'));
try {
  process.stdout.write(`preloading ${EVENTS} events... `);
  await preload(emu, 'cdc:Account', EVENTS);
  process.stdout.write('done\n');
  const port = await freePort();
  const cfg = writeBridgeConfig(join(dir, 'bridge.json'), {
    emu,
    dir,
    port,
    routes: [
      {
        name: 'accounts',
        source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent', initial: 'earliest' },
        sinks: [{ type: 'webhook', url: `http://127.0.0.1:${receiver.address().port}/hook`, secrets: [SECRET], concurrency: 4 }],
      },
    ],
  });
  const bridge = spawn(process.execPath, [join(ROOT, 'bin/sfbridge.js'), 'run', '-c', cfg], { stdio: 'ignore' });
  const series = [];
  for (let s = 0; s < SECONDS; s++) {
    await new Promise((r) => setTimeout(r, 1000));
    series.push(Math.round(rssMb(bridge.pid) ?? 0));
  }
  const status = await getJson(`http://127.0.0.1:${port}/status`);
  bridge.kill('SIGTERM');
  const half = Math.floor(series.length / 2);
  const avg = (xs) => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);
  report('memory', [
    {
      scenario: `${EVENTS} retained, slow webhook (${DELAY} ms/request, concurrency 4)`,
      seconds: SECONDS,
      delivered: received,
      inFlightMax: status.routes[0].maxInFlightSeen,
      rssMbMax: Math.max(...series),
      rssMbFirstHalfAvg: avg(series.slice(5, half)),
      rssMbSecondHalfAvg: avg(series.slice(half)),
    },
  ]);
  console.log(`RSS (MB) per second: ${series.join(' ')}`);
} finally {
  receiver.close();
  await emu.stop();
  rmSync(dir, { recursive: true, force: true });
}
