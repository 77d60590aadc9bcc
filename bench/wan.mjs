// Catch-up over a WAN: a link that delays each direction by RTT/2 sits between the clients and
// the emulator's Pub/Sub and HTTP (OAuth, REST, CometD) ports; the emulator is told the link's
// address as its instance URL. For each round trip, in one run on one retained backlog:
//   1. sfbridge Pub/Sub -> fsync'd files, until the last event is fsync'd;
//   2. the public salesforce-pubsub-api-client (receive and decode only);
//   3. the floor: a bare gRPC subscriber that only asks again as each response lands
//      (bench/wan-floor.mjs), i.e. what the link, the emulator and the protocol allow;
//   4. sfbridge CometD -> fsync'd files.
// Salesforce allows at most 100 events pending per Subscribe, so Pub/Sub catch-up cannot beat
// 100 events per round trip: each row says what fraction of that ceiling it reached. Every client
// is timed the same way: from the moment its first batch had arrived, over the events after it
// (connect, login and the first round trip are not catch-up).
//
//   node bench/wan.mjs [--events 20000] [--rtt 25,50,150] [--runs 1] [--cometd true] [--public true] [--floor true] [--fields 40]
// --fields N (N > 40): change events of a custom object Wide__c with N fields (~1.4 KB of Avro at 600), so a
// batch of 100 no longer fits HTTP/2's default 64 KB flow-control window.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  arg,
  delayLink,
  freePort,
  median,
  preload,
  publicClient,
  publicClientReceive,
  ROOT,
  report,
  runBridge,
  startEmulatorProcess,
  wideObjectEmulatorArgs,
  writeBridgeConfig,
} from './lib.mjs';

const EVENTS = Number(arg('events', 20_000));
const RTTS = arg('rtt', '25,50,150').split(',').map(Number);
const RUNS = Number(arg('runs', 1));
const COMETD = arg('cometd', 'true') !== 'false';
const PUBLIC = arg('public', 'true') !== 'false';
const FLOOR = arg('floor', 'true') !== 'false';
const FIELDS = Number(arg('fields', 40));
const WIDE = FIELDS > 40;
const TOPIC = WIDE ? '/data/Wide__ChangeEvent' : '/data/AccountChangeEvent';

async function bridgeRun(emu, links, source) {
  const dir = mkdtempSync(join(tmpdir(), 'sfbridge-bench-wan-'));
  const port = await freePort();
  const cfg = writeBridgeConfig(join(dir, 'bridge.json'), {
    emu,
    dir,
    port,
    routes: [{ name: 'r', source, sinks: [{ type: 'file', dir: join(dir, 'out'), fsync: true }] }],
  });
  // Through the links: OAuth at the delayed HTTP port (which hands out the delayed instance URL), Pub/Sub at the delayed gRPC port.
  const { readFileSync, writeFileSync } = await import('node:fs');
  const c = JSON.parse(readFileSync(cfg, 'utf8'));
  c.orgs.emu.loginUrl = `https://127.0.0.1:${links.http.port}`;
  c.orgs.emu.pubsubEndpoint = `localhost:${links.grpc.port}`;
  writeFileSync(cfg, JSON.stringify(c));
  // The clock starts when /status first says the route has heard from its stream (looked for
  // every 20 ms), and counts the events received after that status; it stops at the last write of
  // the file sink (its files' newest mtime; the sink fsyncs a batch before acking it). The replay
  // commit that follows is on its own timer (pipeline.commitIntervalMs). Once the route is
  // subscribed, /status is read every 250 ms only: reading it every 20 ms cost the bridge CPU
  // the server and the link then lacked.
  const out = join(dir, 'out');
  const r = await runBridge(cfg, port, (s) => (s.routes[0]?.eventsAcked ?? 0) >= EVENTS, {
    sampleMs: 20,
    runSampleMs: 250,
    startWhen: (s) => s.routes[0]?.sourceStats?.subscribed === 1,
    endAt: () => Math.max(...readdirSync(out).map((f) => statSync(join(out, f)).mtimeMs)),
  });
  rmSync(dir, { recursive: true, force: true });
  const before = r.startStatus.routes[0].sourceStats.received;
  return { rate: (EVENTS - before) / r.secsFromStart, cpu: r.cpu, rss: r.peakRss };
}

async function publicClientRun(emu, links) {
  const client = await publicClient(emu, {
    instanceUrl: `https://127.0.0.1:${links.http.port}`,
    pubSubEndpoint: `localhost:${links.grpc.port}`,
  });
  const { events, secs } = await publicClientReceive(client, TOPIC, EVENTS);
  client.close();
  return { rate: events / secs };
}

async function floorRun(emu, links) {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'bench/wan-floor.mjs'),
      `localhost:${links.grpc.port}`,
      `https://127.0.0.1:${links.http.port}`,
      emu.info.orgId,
      emu.info.caCertPath,
      TOPIC,
      String(EVENTS),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  child.stdin.end(await emu.token());
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const code = await new Promise((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`the floor subscriber exited with ${code}`);
  const { events, secs } = JSON.parse(out);
  return { rate: events / secs };
}

const rows = [];
for (const rtt of RTTS) {
  const links = { http: await delayLink(rtt / 2), grpc: await delayLink(rtt / 2) };
  const work = mkdtempSync(join(tmpdir(), 'sfbridge-bench-wan-emu-'));
  const emu = await startEmulatorProcess([
    '--instance-url',
    `https://127.0.0.1:${links.http.port}`,
    ...(WIDE ? wideObjectEmulatorArgs(work, FIELDS) : []),
  ]);
  links.http.setTarget(Number(new URL(emu.info.loginUrl).port));
  links.grpc.setTarget(Number(emu.info.pubsubEndpoint.split(':')[1]));
  try {
    await preload(emu, WIDE ? 'cdc:Wide__c' : 'cdc:Account', EVENTS);
    const ceiling = (100 * 1000) / rtt;
    const measure = async (name, fn) => {
      const rates = [];
      const extra = {};
      for (let i = 0; i < RUNS; i++) {
        const r = await fn();
        rates.push(r.rate);
        if (r.cpu !== undefined) extra.cpuSeconds = Math.round(r.cpu * 10) / 10;
        if (r.rss) extra.peakRssMb = Math.round(r.rss);
      }
      const rate = median(rates);
      const row = {
        rttMs: rtt,
        scenario: name,
        eventsPerSec: Math.round(rate),
        ofCeiling: Math.round((rate / ceiling) * 100) / 100,
        ceiling: Math.round(ceiling),
        runs: rates.map(Math.round).join(' / '),
        ...extra,
      };
      console.log(JSON.stringify(row));
      rows.push(row);
      return rate;
    };
    const ours = await measure("sfbridge Pub/Sub -> fsync'd files", () =>
      bridgeRun(emu, links, { type: 'pubsub', org: 'emu', topic: TOPIC, start: 'earliest' }),
    );
    const oursRow = rows.at(-1);
    if (PUBLIC) {
      const theirs = await measure('public client (receive + decode)', () => publicClientRun(emu, links));
      oursRow.vsPublicClient = Math.round((ours / theirs) * 100) / 100;
    }
    if (FLOOR) {
      const floor = await measure('floor: bare gRPC, asks again on arrival', () => floorRun(emu, links));
      oursRow.ofFloor = Math.round((ours / floor) * 100) / 100;
    }
    if (COMETD)
      await measure("sfbridge CometD -> fsync'd files", () =>
        bridgeRun(emu, links, { type: 'cometd', org: 'emu', channel: TOPIC, initial: 'earliest' }),
      );
  } finally {
    await emu.stop();
    rmSync(work, { recursive: true, force: true });
    await links.http.close();
    await links.grpc.close();
  }
}
report(WIDE ? `wan-${FIELDS}-fields` : 'wan', rows, { events: EVENTS, runs: RUNS, fields: FIELDS });
