// The bridge's HTTP client (src/http.ts, node:http with a keep-alive agent) against undici, the
// maintained client that issue 33's proxy agents come from, as the webhook sink uses HTTP: POSTs
// of 50-event batches (~60 KB JSON) to a local receiver over keep-alive, `concurrency` at a time,
// and the small JSON requests of REST calls. CPU of this process and requests per second.
//
//   node bench/http-client.mjs [--requests 4000] [--concurrency 4] [--rounds 3]
import http from 'node:http';
import { Agent, request } from 'undici';
import { httpCall } from '../dist/http.js';
import { arg } from './lib.mjs';

const REQUESTS = Number(arg('requests', 4000));
const CONCURRENCY = Number(arg('concurrency', 4));
const ROUNDS = Number(arg('rounds', 3));

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(204).end());
});
server.keepAliveTimeout = 30_000;
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}/hook`;

const big = JSON.stringify(Array.from({ length: 50 }, (_, i) => ({ id: i, payload: 'x'.repeat(1200) })));
const small = JSON.stringify({ q: 'SELECT Id FROM Account' });
const headers = { 'content-type': 'application/json', 'webhook-id': 'msg_1' };

const nodeAgent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
const undiciAgent = new Agent({ connections: CONCURRENCY });
const clients = {
  'node:http + keep-alive agent (ours)': (body) => httpCall(url, { method: 'POST', headers, body, agent: nodeAgent, maxBodyBytes: 4096 }),
  'undici 8 request + Agent': async (body) => {
    const r = await request(url, { method: 'POST', headers, body: Buffer.from(body), dispatcher: undiciAgent });
    await r.body.text();
    return r.statusCode;
  },
};

async function run(fn, body) {
  let next = 0;
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < REQUESTS) await fn(body);
    }),
  );
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return { rps: REQUESTS / wall, cpuMsPer1000: ((cpu.user + cpu.system) / 1000 / REQUESTS) * 1000 };
}

const results = [];
for (const [label, body] of [
  ['60 KB batch', big],
  ['small JSON', small],
]) {
  const acc = Object.fromEntries(Object.keys(clients).map((k) => [k, []]));
  for (let r = 0; r < ROUNDS; r++) for (const [name, fn] of Object.entries(clients)) acc[name].push(await run(fn, body));
  for (const [name, runs] of Object.entries(acc)) {
    const med = (f) => runs.map(f).sort((a, b) => a - b)[Math.floor(runs.length / 2)];
    results.push({
      body: label,
      client: name,
      'requests/s': Math.round(med((x) => x.rps)),
      'CPU ms per 1000': Math.round(med((x) => x.cpuMsPer1000)),
    });
  }
}
console.log(`${REQUESTS} POSTs per run, ${CONCURRENCY} at a time, median of ${ROUNDS} runs (CPU includes the local receiver)`);
console.table(results);
nodeAgent.destroy();
await undiciAgent.close();
server.close();
