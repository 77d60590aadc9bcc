// Shared helpers for benchmarks: start the emulator as a separate process, talk to its admin API,
// report medians and write JSON results under bench/results/.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export async function startEmulatorProcess(args = []) {
  // args: extra `sfbridge emulator` flags, e.g. ['--generate', 'cdc:Account:1000/s']
  // BENCH_EMULATOR_ROOT=DIR: the emulator of another checkout (compare builds on one emulator).
  const emuRoot = process.env.BENCH_EMULATOR_ROOT ?? ROOT;
  // BENCH_EMULATOR_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof": V8/Node flags for the emulator process only.
  const flags = (process.env.BENCH_EMULATOR_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...flags, join(emuRoot, 'bin/sfbridge.js'), 'emulator', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const info = await new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      // Only a whole line: with many tenants the ready line spans several reads.
      const line = buf
        .split('\n')
        .slice(0, -1)
        .find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line));
    });
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
  });
  const ca = info.caCertPath ? readFileSync(info.caCertPath) : null;
  const call = (method, path, body) =>
    new Promise((resolve, reject) => {
      // The emulator's own address (its instance URL may be a delaying link in front of it).
      const url = new URL(path, info.loginUrl);
      const fn = url.protocol === 'https:' ? request : httpRequest;
      const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      const headers = { 'content-type': typeof body === 'string' ? 'application/x-www-form-urlencoded' : 'application/json' };
      const r = fn(url, { method, ca, headers }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve(text ? JSON.parse(text) : null));
      });
      r.on('error', reject);
      if (data) r.write(data);
      r.end();
    });
  const token = async () =>
    (
      await call(
        'POST',
        '/services/oauth2/token',
        new URLSearchParams({ grant_type: 'client_credentials', client_id: info.clientId, client_secret: info.clientSecret }).toString(),
      )
    ).access_token;
  return {
    info,
    ca,
    admin: (path, body = {}) => call('POST', `/admin/${path}`, body),
    /** A REST call with a fresh bearer token (JSON body). */
    rest: async (method, path, body) => {
      const tok = await token();
      return new Promise((resolve, reject) => {
        const url = new URL(path, info.loginUrl);
        const fn = url.protocol === 'https:' ? request : httpRequest;
        const r = fn(url, { method, ca, headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' } }, (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode, json: text ? JSON.parse(text) : null }));
        });
        r.on('error', reject);
        if (body !== undefined) r.write(JSON.stringify(body));
        r.end();
      });
    },
    token,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGTERM');
      }),
  };
}

/** Emit `count` events in chunks (the admin API caps nothing, but chunks keep the emulator responsive). */
export async function preload(emu, spec, count) {
  let first = null;
  for (let left = count; left > 0; ) {
    const n = Math.min(left, 100_000);
    const r = await emu.admin('events/emit', { spec, count: n });
    first ??= r.firstReplayId;
    left -= n;
  }
  return first;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function report(name, rows, extra = {}) {
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const out = { name, date: new Date().toISOString(), node: process.version, cpus: cpuCount(), rows, ...extra };
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(out, null, 2)}\n`);
  console.table(rows);
  return out;
}

function cpuCount() {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('processor')).length;
  } catch {
    return null;
  }
}

export function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}

/** Events/s one raw Subscribe stream of the emulator serves (receive only): its ceiling. */
export async function serveRate(emu, topic, events, firstReplayId) {
  const { authMetadata, createPubSubClient } = await import('../dist/salesforce/pubsub-client.js');
  const replay = Buffer.alloc(8);
  replay.writeBigUInt64BE(BigInt(firstReplayId - 1));
  const client = createPubSubClient({ endpoint: emu.info.pubsubEndpoint, ca: emu.ca });
  const md = authMetadata({ accessToken: await emu.token(), instanceUrl: emu.info.instanceUrl, orgId: emu.info.orgId });
  let bytes = 0;
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  await new Promise((resolve, reject) => {
    const call = client.Subscribe(md);
    let got = 0;
    call.on('data', (r) => {
      got += r.events.length;
      for (const e of r.events) bytes += e.event.payload.length;
      // Keep about 1,000 events of credit outstanding (10 requests of 100).
      if (r.events.length > 0) call.write({ num_requested: r.events.length });
      if (got >= events) {
        call.cancel();
        resolve();
      }
    });
    call.on('error', (e) => (e.code === 1 ? resolve() : reject(e)));
    call.write({ topic_name: topic, replay_preset: 'CUSTOM', replay_id: replay, num_requested: 100 });
    for (let i = 0; i < 9; i++) call.write({ num_requested: 100 });
  });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  client.close();
  // CPU of this process while receiving (gRPC, TLS, protobuf; no Avro decode): the floor under any subscriber.
  return { eventsPerSec: events / secs, avgPayloadBytes: bytes / events, cpuSecondsPerMillion: (c.user + c.system) / events };
}

/** Resident set size of a process in MB (Linux), or null. */
export function rssMb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) a process has used so far (Linux), or null. */
export function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (100/s)
  } catch {
    return null;
  }
}

/** CPU seconds (user+system) of each thread of a process, summed by thread name (BENCH_THREADS=1). */
export function threadCpu(pid) {
  const out = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const raw = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = `${tid === String(pid) ? 'main' : 'thread'} ${raw.slice(raw.indexOf('(') + 1, raw.lastIndexOf(')'))}`;
      const f = raw.slice(raw.lastIndexOf(') ') + 2).split(' ');
      const key = `${name} user`;
      out[key] = +((out[key] ?? 0) + Number(f[11]) / 100).toFixed(2);
      out[`${name} sys`] = +((out[`${name} sys`] ?? 0) + Number(f[12]) / 100).toFixed(2);
    } catch {}
  }
  return out;
}

/**
 * Run `sfbridge run` on a config (its health endpoint on `healthPort`) until `done(status)` is true;
 * returns seconds from spawn, peak RSS (MB) and the last status. The bridge is then stopped (SIGTERM).
 */
export async function runBridge(
  configPath,
  healthPort,
  done,
  { sampleMs = 100, timeoutMs = 600_000, root = ROOT, startWhen = null, runSampleMs = sampleMs, endAt = null } = {},
) {
  // runSampleMs: how often to look once `startWhen` held (each look costs the bridge a /status);
  // endAt(): the precise end of the work (epoch ms, e.g. the sink's last file write), read at the end.
  // BENCH_CPU_PROF=DIR writes a V8 CPU profile of the bridge there (open it in Chrome DevTools).
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [];
  // BENCH_BRIDGE_NODE_FLAGS="--max-semi-space-size=4": V8/Node flags for the bridge process only.
  if (process.env.BENCH_BRIDGE_NODE_FLAGS) prof.push(...process.env.BENCH_BRIDGE_NODE_FLAGS.split(' ').filter(Boolean));
  const child = spawn(process.execPath, [...prof, join(root, 'bin/sfbridge.js'), 'run', '-c', configPath], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, SFBRIDGE_LOG_LEVEL: 'warn' },
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const t0 = process.hrtime.bigint();
  let peakRss = 0;
  let status = null;
  let startedAt = null;
  const rssSeries = [];
  let startedEpoch = null;
  let startStatus = null;
  for (;;) {
    await new Promise((r) => setTimeout(r, startedAt === null ? sampleMs : runSampleMs));
    if (child.exitCode !== null) throw new Error(`bridge exited (${child.exitCode}): ${stderr.slice(-2000)}`);
    const rss = rssMb(child.pid);
    if (rss) {
      peakRss = Math.max(peakRss, rss);
      rssSeries.push(Math.round(rss));
    }
    status = await getJson(`http://127.0.0.1:${healthPort}/status`).catch(() => null);
    // `startWhen`: the moment the measured work starts (e.g. the route subscribed), not the process.
    if (status && startWhen && startedAt === null && startWhen(status)) {
      startedAt = process.hrtime.bigint();
      startedEpoch = performance.timeOrigin + performance.now();
      startStatus = status;
    }
    if (status && done(status)) break;
    if (Number(process.hrtime.bigint() - t0) / 1e6 > timeoutMs)
      throw new Error(`bridge run timed out; last status ${JSON.stringify(status)}`);
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const end = endAt?.();
  const secsFromStart = startedAt === null ? null : end ? (end - startedEpoch) / 1000 : Number(process.hrtime.bigint() - startedAt) / 1e9;
  const cpu = cpuSeconds(child.pid);
  if (process.env.BENCH_THREADS) process.stderr.write(`bridge CPU by thread: ${JSON.stringify(threadCpu(child.pid))}\n`);
  const exitCode = await new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
  return { secs, secsFromStart, peakRss, status, startStatus, cpu, rssSeries, stderr, exitCode };
}

export function getJson(url) {
  return new Promise((resolve, reject) => {
    const r = httpRequest(url, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(text));
        } catch (e) {
          reject(e);
        }
      });
    });
    r.on('error', reject);
    r.end();
  });
}

/** A free TCP port. */
export async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** An org entry for a bridge config pointing at a benchmark emulator. */
export function emulatorOrg(emu) {
  return {
    loginUrl: emu.info.loginUrl,
    caCertFile: emu.info.caCertPath,
    pubsubEndpoint: emu.info.pubsubEndpoint,
    auth: { flow: 'client_credentials', clientId: emu.info.clientId, clientSecret: emu.info.clientSecret },
  };
}

/**
 * Write a bridge config for a benchmark run to `path`: the emulator's org, health on `port`, file
 * replay store and dead letters under `dir`, JSON logs at warn; `extra` overrides or adds settings.
 */
export function writeBridgeConfig(path, { emu, dir, port, routes, extra = {} }) {
  writeFileSync(
    path,
    JSON.stringify({
      log: { level: 'warn', format: 'json' },
      health: { host: '127.0.0.1', port },
      orgs: { emu: emulatorOrg(emu) },
      replayStore: { type: 'file', path: join(dir, 'replay.json') },
      deadLetter: { type: 'file', dir: join(dir, 'dlq') },
      routes,
      ...extra,
    }),
  );
  return path;
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Emulator arguments for a custom object Wide__c with `fields` fields of mixed types (a wide
 * real-world object: ~4 KB envelopes at 600): its config file is written into `dir`.
 */
export function wideObjectEmulatorArgs(dir, fields) {
  const kinds = ['string', 'double', 'boolean', 'datetime'];
  const custom = Array.from({ length: fields - 1 }, (_, i) => ({ name: `Field_${i}__c`, type: kinds[i % kinds.length] }));
  const cfg = join(dir, 'emulator.json');
  writeFileSync(
    cfg,
    JSON.stringify({ objects: [{ name: 'Wide__c', keyPrefix: 'a0W', fields: [{ name: 'Name', type: 'string' }, ...custom] }] }),
  );
  return ['--config', cfg];
}

/**
 * A TCP link that delays each direction by `oneWayMs` (no bandwidth limit, order kept): a WAN
 * between a client and a local server. Listens at once; `setTarget(port)` names the server (the
 * emulator starts after the link, to be told the link's address as its instance URL). `trace`: an
 * array that gets [ms, 'up' | 'down', bytes] for every chunk as it reaches the link.
 */
export async function delayLink(oneWayMs, { trace } = {}) {
  const net = await import('node:net');
  let target = 0;
  const sockets = new Set();
  // Node's timers fire a millisecond or more late, every time: a link made of them alone adds that
  // to each crossing. The timer wakes a little early and the last stretch is waited out on
  // setImmediate, so each chunk arrives within a fraction of a millisecond of its due time.
  const pipeDelayed = (from, to, dir) => {
    const queue = [];
    let waiting = false;
    let ended = false;
    const flush = () => {
      const now = performance.now();
      while (queue.length > 0 && queue[0][0] <= now) to.write(queue.shift()[1]);
      if (queue.length > 0) wait();
      else {
        waiting = false;
        if (ended) to.end();
      }
    };
    const wait = () => {
      waiting = true;
      const left = queue[0][0] - performance.now();
      if (left > 2) setTimeout(flush, left - 2);
      else setImmediate(flush);
    };
    from.on('data', (chunk) => {
      trace?.push([performance.now(), dir, chunk.length]);
      queue.push([performance.now() + oneWayMs, chunk]);
      if (!waiting) wait();
    });
    from.on('end', () => {
      ended = true;
      if (!waiting) queue.length > 0 ? wait() : to.end();
    });
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => sockets.delete(s));
    }
    pipeDelayed(client, upstream, 'up');
    pipeDelayed(upstream, client, 'down');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    setTarget: (p) => {
      target = p;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * The public salesforce-pubsub-api-client (unmodified devDependency), connected to the emulator
 * (or to `endpoints` in front of it), its logging silenced.
 */
export async function publicClient(emu, endpoints = {}) {
  const { default: PubSubApiClient } = await import('salesforce-pubsub-api-client');
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  const client = new PubSubApiClient(
    {
      authType: 'user-supplied',
      accessToken: await emu.token(),
      instanceUrl: endpoints.instanceUrl ?? emu.info.instanceUrl,
      pubSubEndpoint: endpoints.pubSubEndpoint ?? emu.info.pubsubEndpoint,
      rejectUnauthorizedSsl: false,
    },
    quiet,
  );
  await client.connect();
  return client;
}

/**
 * Subscribe from the earliest event with the public client; resolves after `count` events with the
 * steady part of the run: `{ events, secs }` counted from the moment its first batch had arrived
 * (the events of that batch and the connect before it left out), as bench/wan.mjs measures every
 * client.
 */
export function publicClientReceive(client, topic, count) {
  return new Promise((resolve, reject) => {
    let got = 0;
    let t0 = null;
    let base = 0;
    client.subscribeFromEarliestEvent(
      topic,
      (_sub, type, data) => {
        if (type === 'event') {
          got++;
          if (t0 === null) {
            t0 = process.hrtime.bigint();
            // The rest of the first batch is handed over in this same turn (its schema is cached by then).
            setImmediate(() => {
              base = got;
            });
          }
          if (got >= count) resolve({ events: count - base, secs: Number(process.hrtime.bigint() - t0) / 1e9 });
        } else if (type === 'error') reject(data);
      },
      null,
    );
  });
}

/** Every JSON line of the .ndjson files in `dir` (a file sink's output), whole lines only. */
export function readNdjsonDir(dir) {
  let names = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.ndjson'));
  } catch {
    return [];
  }
  return names.flatMap((f) => {
    const text = readFileSync(join(dir, f), 'utf8');
    return text
      .slice(0, text.lastIndexOf('\n') + 1)
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  });
}
