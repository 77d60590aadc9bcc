// CometD path: PushTopic events/s from a retained backlog into the file sink (fsync).
// The emulator matches PushTopics on REST record changes, so the backlog is made by creating
// Accounts through REST (20 requests in flight); the bridge then replays it from the start.
//   node bench/cometd.mjs [--events 20000] [--runs 3]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, freePort, median, report, runBridge, startEmulatorProcess, writeBridgeConfig } from './lib.mjs';

const EVENTS = Number(arg('events', 20_000));
const RUNS = Number(arg('runs', 3));
const API = '/services/data/v63.0';

const emu = await startEmulatorProcess();
const work = mkdtempSync(join(tmpdir(), 'sfbridge-bench-cometd-'));
try {
  const topic = await emu.rest('POST', `${API}/sobjects/PushTopic`, {
    Name: 'BenchAccounts',
    Query: 'SELECT Id, Name, Industry, AnnualRevenue FROM Account',
    ApiVersion: 63.0,
    NotifyForFields: 'All',
  });
  if (topic.status !== 201) throw new Error(`PushTopic: ${JSON.stringify(topic.json)}`);
  process.stdout.write(`creating ${EVENTS} Accounts through REST... `);
  let next = 0;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      while (next < EVENTS) {
        const i = next++;
        const r = await emu.rest('POST', `${API}/sobjects/Account`, { Name: `Bench ${i}`, Industry: 'Energy', AnnualRevenue: i });
        if (r.status !== 201) throw new Error(`create: ${JSON.stringify(r.json)}`);
      }
    }),
  );
  process.stdout.write('done\n');
  const rates = [];
  const rss = [];
  for (let i = 0; i < RUNS; i++) {
    const dir = join(work, String(i));
    const port = await freePort();
    const cfg = writeBridgeConfig(join(work, `${i}.json`), {
      emu,
      dir,
      port,
      routes: [
        {
          name: 'pt',
          source: { type: 'cometd', org: 'emu', channel: '/topic/BenchAccounts', initial: 'earliest' },
          sinks: [{ type: 'file', dir: join(dir, 'out') }],
        },
      ],
    });
    const r = await runBridge(cfg, port, (s) => (s.routes[0]?.eventsCommitted ?? 0) >= EVENTS);
    rates.push(EVENTS / r.secs);
    rss.push(r.peakRss);
  }
  report('cometd', [
    {
      scenario: 'CometD PushTopic replay -> file (fsync), committed',
      events: EVENTS,
      medianEventsPerSec: Math.round(median(rates)),
      runs: rates.map(Math.round).join(' / '),
      peakRssMb: Math.round(Math.max(...rss)),
    },
  ]);
} finally {
  await emu.stop();
  rmSync(work, { recursive: true, force: true });
}
