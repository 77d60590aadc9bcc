#!/usr/bin/env node
// A real schema registry for the Kafka sink's avro / json-schema tests, without Docker: Apicurio
// Registry 2.4 (its Confluent-compatible API at /apis/ccompat/v7), built once with Maven from
// Maven Central (scripts/schema-registry/pom.xml) into ~/.cache/sfbridge, started on 127.0.0.1
// with in-memory storage and BACKWARD as the global compatibility rule (Confluent's default).
//   node scripts/schema-registry.mjs start [--port 18085]   prints SCHEMA_REGISTRY_URL=… when ready
//   node scripts/schema-registry.mjs stop  [--port 18085]
// Also importable: startSchemaRegistry({ port }) -> { url, stop() }.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const PROJECT = join(here, 'schema-registry');
const VERSION = /<apicurio\.version>([^<]+)</.exec(readFileSync(join(PROJECT, 'pom.xml'), 'utf8'))[1];
const CACHE = process.env.SFBRIDGE_CACHE_DIR ?? join(homedir(), '.cache', 'sfbridge');
const READY_TIMEOUT_MS = Number(process.env.SCHEMA_REGISTRY_READY_TIMEOUT_MS ?? 120_000);
const say = (m) => process.stderr.write(`schema-registry: ${m}\n`);
const stateFile = (port) => join(tmpdir(), `sfbridge-schema-registry-${port}.json`);
const apiUrl = (port) => `http://127.0.0.1:${port}/apis/ccompat/v7`;

/** Build the registry once (a runner jar and its lib/); later runs reuse the cache. */
export function ensureBuilt() {
  const dir = join(CACHE, `apicurio-registry-${VERSION}`);
  if (existsSync(join(dir, '.complete'))) return dir;
  for (const [cmd, hint] of [
    ['java', 'apt-get install openjdk-17-jdk-headless'],
    ['mvn', 'apt-get install maven'],
  ]) {
    try {
      execFileSync(cmd, cmd === 'java' ? ['-version'] : ['-v'], { stdio: 'ignore' });
    } catch {
      throw new Error(
        `${cmd} not found: the test schema registry is built with Maven and runs on Java 17 (${hint}), or set SCHEMA_REGISTRY_URL`,
      );
    }
  }
  say(`building Apicurio Registry ${VERSION} with Maven into ${dir} (first run only, about 2 minutes)`);
  const work = join(tmpdir(), `sfbridge-registry-build-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  cpSync(PROJECT, work, { recursive: true });
  execFileSync('mvn', ['-B', '-q', '-f', join(work, 'pom.xml'), 'package', '-DskipTests'], { stdio: ['ignore', 2, 2] });
  const target = join(work, 'target');
  const runner = readdirSync(target).find((f) => f.endsWith('-runner.jar'));
  if (!runner) throw new Error(`Maven built no runner jar in ${target}`);
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  renameSync(join(target, runner), join(tmp, 'registry-runner.jar'));
  renameSync(join(target, 'lib'), join(tmp, 'lib'));
  writeFileSync(join(tmp, '.complete'), VERSION);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  rmSync(work, { recursive: true, force: true });
  return dir;
}

function ready(port) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/health/ready', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readState(port) {
  try {
    return JSON.parse(readFileSync(stateFile(port), 'utf8'));
  } catch {
    return null;
  }
}

/** Start (or reuse) the registry; resolves with its Confluent-compatible API URL and a stop function. */
export async function startSchemaRegistry({ port = 18085 } = {}) {
  const st = readState(port);
  if (st && alive(st.pid) && (await ready(port))) {
    say(`reusing the registry already running on ${apiUrl(port)} (pid ${st.pid})`);
    return { url: apiUrl(port), reused: true, stop: () => stopSchemaRegistry({ port }) };
  }
  if (await ready(port)) throw new Error(`port ${port} already answers /health/ready: something else runs there; pick another with --port`);
  const dir = ensureBuilt();
  const log = join(tmpdir(), `sfbridge-schema-registry-${port}.log`);
  const out = openSync(log, 'a');
  const args = [
    '-Xmx256m',
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    '-Dquarkus.http.host=127.0.0.1',
    `-Dquarkus.http.port=${port}`,
    // Confluent's registry checks new versions BACKWARD by default; Apicurio checks nothing unless told.
    '-Dregistry.rules.global.compatibility=BACKWARD',
    '-jar',
    join(dir, 'registry-runner.jar'),
  ];
  const child = spawn('java', args, { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  writeFileSync(stateFile(port), JSON.stringify({ pid: child.pid, log }));
  const t0 = Date.now();
  let exited = null;
  child.once('exit', (code) => {
    exited = code;
  });
  while (!(await ready(port))) {
    if (exited !== null) throw new Error(`the registry exited during start (code ${exited}); see ${log}`);
    if (Date.now() - t0 > READY_TIMEOUT_MS) {
      await stopSchemaRegistry({ port });
      throw new Error(`the registry was not ready after ${READY_TIMEOUT_MS} ms; see ${log}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  say(`Apicurio Registry ${VERSION} ready on ${apiUrl(port)} in ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${child.pid}, log ${log})`);
  return { url: apiUrl(port), reused: false, stop: () => stopSchemaRegistry({ port }) };
}

export async function stopSchemaRegistry({ port = 18085 } = {}) {
  const st = readState(port);
  if (!st) return false;
  try {
    process.kill(st.pid, 'SIGTERM');
  } catch {}
  const deadline = Date.now() + 15_000;
  while (alive(st.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (alive(st.pid)) process.kill(st.pid, 'SIGKILL');
  rmSync(stateFile(port), { force: true });
  say(`stopped the registry on 127.0.0.1:${port}`);
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [cmd, ...rest] = process.argv.slice(2);
  const i = rest.indexOf('--port');
  const port = i >= 0 ? Number(rest[i + 1]) : Number(process.env.SCHEMA_REGISTRY_PORT ?? 18085);
  try {
    if (cmd === 'start') {
      const r = await startSchemaRegistry({ port });
      process.stdout.write(`SCHEMA_REGISTRY_URL=${r.url}\n`);
    } else if (cmd === 'stop') {
      if (!(await stopSchemaRegistry({ port }))) say(`no registry recorded for port ${port}`);
    } else {
      say('usage: node scripts/schema-registry.mjs start|stop [--port N]');
      process.exit(2);
    }
  } catch (err) {
    say(err.message);
    process.exit(1);
  }
}
