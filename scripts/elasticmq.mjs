#!/usr/bin/env node
// ElasticMQ (an SQS-compatible server) for the SQS sink's tests: fetched once with Maven from
// Maven Central into ~/.cache/sfbridge, started on 127.0.0.1 (default port 9324), reused while it
// runs. `node scripts/elasticmq.mjs start|stop`; the test setup calls startElasticMQ().
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const VERSION = '1.6.11';
const here = dirname(fileURLToPath(import.meta.url));
const CACHE = process.env.SFBRIDGE_CACHE_DIR ?? join(homedir(), '.cache', 'sfbridge');
const say = (m) => process.stderr.write(`elasticmq: ${m}\n`);
const stateFile = (port) => join(tmpdir(), `sfbridge-elasticmq-${port}.json`);

function ensureJars() {
  const lib = join(CACHE, `elasticmq-${VERSION}`, 'lib');
  if (existsSync(join(lib, '.complete'))) return lib;
  say(`fetching ElasticMQ ${VERSION} with Maven into ${lib} (first run only)`);
  const tmp = `${lib}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(dirname(lib), { recursive: true });
  execFileSync(
    'mvn',
    [
      '-B',
      '-q',
      '-f',
      join(here, 'elasticmq', 'pom.xml'),
      'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${tmp}`,
    ],
    { stdio: ['ignore', 2, 2] },
  );
  if (!readdirSync(tmp).some((f) => f.startsWith('elasticmq-server')))
    throw new Error(`Maven did not deliver elasticmq-server into ${tmp}`);
  writeFileSync(join(tmp, '.complete'), VERSION);
  rmSync(lib, { recursive: true, force: true });
  renameSync(tmp, lib);
  return lib;
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Start (or reuse) the server; resolves with its endpoint and a stop function. */
export async function startElasticMQ({ port = 9324 } = {}) {
  const endpoint = `http://127.0.0.1:${port}`;
  if (await canConnect(port)) return { endpoint, reused: true, stop: async () => {} };
  const lib = ensureJars();
  const dir = join(tmpdir(), `sfbridge-elasticmq-${port}`);
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'elasticmq.conf');
  writeFileSync(
    conf,
    `include classpath("application.conf")\nnode-address { protocol = http, host = "127.0.0.1", port = ${port}, context-path = "" }\nrest-sqs { enabled = true, bind-port = ${port}, bind-hostname = "127.0.0.1", sqs-limits = strict }\nrest-stats { enabled = false }\n`,
  );
  const log = join(dir, 'server.log');
  const child = spawn('java', ['-Xmx256m', `-Dconfig.file=${conf}`, '-cp', `${lib}/*`, 'org.elasticmq.server.Main'], {
    stdio: ['ignore', openSync(log, 'a'), openSync(log, 'a')],
    detached: true,
  });
  child.unref();
  writeFileSync(stateFile(port), JSON.stringify({ pid: child.pid }));
  const t0 = Date.now();
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || Date.now() - t0 > 60_000) throw new Error(`ElasticMQ did not start on ${port}; see ${log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  say(`ElasticMQ ${VERSION} ready on ${endpoint} in ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${child.pid}, log ${log})`);
  return { endpoint, reused: false, stop: () => stopElasticMQ({ port }) };
}

export async function stopElasticMQ({ port = 9324 } = {}) {
  if (!existsSync(stateFile(port))) return;
  const { pid } = JSON.parse(readFileSync(stateFile(port), 'utf8'));
  try {
    process.kill(pid, 'SIGTERM');
  } catch {}
  rmSync(stateFile(port), { force: true });
  say(`stopped ElasticMQ on 127.0.0.1:${port}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [cmd] = process.argv.slice(2);
  if (cmd === 'start') await startElasticMQ();
  else if (cmd === 'stop') await stopElasticMQ();
  else {
    process.stderr.write('usage: node scripts/elasticmq.mjs start|stop\n');
    process.exit(2);
  }
}
