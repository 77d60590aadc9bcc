// Where a round trip goes beyond the wire (bench/wan.mjs's link, floor subscriber): the link notes
// the time of every chunk it carries on the Pub/Sub port; from them, per round trip,
//   server: from the request leaving the link (its due time) to the response's first bytes reaching it;
//   client: from the response leaving the link to the next request reaching it.
// Both include the wake-ups of the processes involved, the link's own among them.
//
//   node bench/wan-trace.mjs [--events 10000] [--rtt 50] [--fields 600]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, delayLink, median, preload, ROOT, startEmulatorProcess, wideObjectEmulatorArgs } from './lib.mjs';

const EVENTS = Number(arg('events', 10_000));
const RTT = Number(arg('rtt', 50));
const FIELDS = Number(arg('fields', 600));
const WIDE = FIELDS > 40;
const TOPIC = WIDE ? '/data/Wide__ChangeEvent' : '/data/AccountChangeEvent';

const trace = [];
const links = { http: await delayLink(RTT / 2), grpc: await delayLink(RTT / 2, { trace }) };
const work = mkdtempSync(join(tmpdir(), 'sfbridge-bench-wan-trace-'));
const emu = await startEmulatorProcess([
  '--instance-url',
  `https://127.0.0.1:${links.http.port}`,
  ...(WIDE ? wideObjectEmulatorArgs(work, FIELDS) : []),
]);
links.http.setTarget(Number(new URL(emu.info.loginUrl).port));
links.grpc.setTarget(Number(emu.info.pubsubEndpoint.split(':')[1]));
try {
  await preload(emu, WIDE ? 'cdc:Wide__c' : 'cdc:Account', EVENTS);
  const floor = spawn(
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
  floor.stdin.end(await emu.token());
  let out = '';
  floor.stdout.on('data', (d) => (out += d));
  await new Promise((resolve) => floor.once('exit', resolve));
  const { events, secs } = JSON.parse(out);

  // Chunks a few ms apart in one direction are one message (a response comes in a few chunks).
  const messages = [];
  for (const [t, dir, bytes] of trace) {
    const m = messages.at(-1);
    if (m && m.dir === dir && t - m.last < 3) {
      m.last = t;
      m.bytes += bytes;
    } else messages.push({ dir, first: t, last: t, bytes });
  }
  const oneWay = RTT / 2;
  const server = [];
  const client = [];
  for (let i = 1; i < messages.length; i++) {
    const [a, b] = [messages[i - 1], messages[i]];
    const batch = (m) => m.dir === 'down' && m.bytes > 1000; // a response with events, not a ping or window update
    if (a.dir === 'up' && batch(b)) server.push(b.first - (a.last + oneWay));
    if (batch(a) && b.dir === 'up') client.push(b.first - (a.last + oneWay));
  }
  const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const ms = (x) => Math.round(x * 100) / 100;
  console.log(
    JSON.stringify({
      rttMs: RTT,
      fields: FIELDS,
      floorEventsPerSec: Math.round(events / secs),
      ofCeiling: Math.round((events / secs / ((100 * 1000) / RTT)) * 100) / 100,
      roundTrips: server.length,
      serverMs: { median: ms(median(server)), mean: ms(mean(server)) },
      clientMs: { median: ms(median(client)), mean: ms(mean(client)) },
    }),
  );
} finally {
  await emu.stop();
  rmSync(work, { recursive: true, force: true });
  await links.http.close();
  await links.grpc.close();
}
