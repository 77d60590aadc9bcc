#!/usr/bin/env node
// Starts and stops a single-node Apache Kafka broker (KRaft, broker+controller) for tests, without
// Docker: the broker jars come from Maven Central (scripts/kafka/pom.xml) into a cache directory
// reused between runs. Usage:
//   node scripts/kafka-broker.mjs start [--port 19092]   prints KAFKA_BROKERS=127.0.0.1:PORT when ready
//   node scripts/kafka-broker.mjs stop  [--port 19092]
//   node scripts/kafka-broker.mjs status [--port 19092]
// Also importable: startBroker({ port }) -> { brokers, tls: { brokers, caFile }, stop() }.
// Besides PLAINTEXT on PORT, the broker has an SSL listener (a free port) whose certificate, for
// 127.0.0.1 and localhost, is self-signed: caFile is its PEM, what a client must trust (a private
// CA, as Strimzi's or a company's). brokerTls({ port }) reads it back for a running broker.
// A SASL_PLAINTEXT listener (another free port) takes one user, SASL_USER, by PLAIN, SCRAM-SHA-256
// and SCRAM-SHA-512, with a different password for each, so a client that used another mechanism
// than it was told fails (the SCRAM credentials are written when the storage is formatted,
// KIP-900); a SASL_SSL listener (a third free port) takes the same logins over TLS with the SSL
// listener's certificate. brokerSasl({ port }) says where they are and who may log in.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const POM = join(here, 'kafka', 'pom.xml');
const LOG4J = join(here, 'kafka', 'log4j2.properties');
const KAFKA_VERSION = /<kafka\.version>([^<]+)</.exec(readFileSync(POM, 'utf8'))[1];
const CACHE = process.env.SFBRIDGE_CACHE_DIR ?? join(homedir(), '.cache', 'sfbridge');
const READY_TIMEOUT_MS = Number(process.env.KAFKA_READY_TIMEOUT_MS ?? 120_000);
// A test broker's keystore: generated per start, in the broker's temporary directory.
const KEYSTORE_PASS = 'sfbridge-test';
// The one user of the SASL listener (a test broker's, known to the tests).
const SASL_USER = 'sfbridge';
const SASL_PASSWORDS = { plain: 'sasl-plain-test', 'scram-sha-256': 'sasl-scram-256-test', 'scram-sha-512': 'sasl-scram-512-test' };

const say = (m) => process.stderr.write(`kafka-broker: ${m}\n`);

function stateFile(port) {
  return join(tmpdir(), `sfbridge-kafka-${port}.json`);
}

/** Resolve the broker's runtime classpath once; later runs reuse the cache. */
export function ensureJars() {
  const lib = join(CACHE, `kafka-${KAFKA_VERSION}`, 'lib');
  if (existsSync(join(lib, '.complete'))) return lib;
  try {
    execFileSync('java', ['-version'], { stdio: 'ignore' });
  } catch {
    throw new Error('java not found: the Kafka test broker needs Java 17+ (apt-get install openjdk-17-jre-headless), or set KAFKA_BROKERS');
  }
  try {
    execFileSync('mvn', ['-v'], { stdio: 'ignore' });
  } catch {
    throw new Error('mvn not found: the Kafka test broker jars are fetched with Maven (apt-get install maven), or set KAFKA_BROKERS');
  }
  say(`fetching Kafka ${KAFKA_VERSION} jars with Maven into ${lib} (first run only)`);
  const tmp = `${lib}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(dirname(lib), { recursive: true });
  execFileSync(
    'mvn',
    [
      '-B',
      '-q',
      '-f',
      POM,
      'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${tmp}`,
    ],
    { stdio: ['ignore', 2, 2] },
  );
  if (!readdirSync(tmp).some((f) => f.startsWith('kafka_2.13'))) throw new Error(`Maven did not deliver kafka_2.13 into ${tmp}`);
  writeFileSync(join(tmp, '.complete'), KAFKA_VERSION);
  rmSync(lib, { recursive: true, force: true });
  renameSync(tmp, lib);
  return lib;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
    sock.setTimeout(1000, () => {
      sock.destroy();
      resolve(false);
    });
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

function clusterId() {
  let id;
  do id = randomBytes(16).toString('base64url');
  while (id.startsWith('-'));
  return id;
}

/** The SSL listener of the broker started on `port`: its address and the PEM to trust, or null. */
export function brokerTls({ port = 19092 } = {}) {
  const st = readState(port);
  return st?.tlsPort ? { brokers: `127.0.0.1:${st.tlsPort}`, caFile: st.caFile } : null;
}

/** The SASL_PLAINTEXT and SASL_SSL listeners of the broker started on `port`, its CA and its user, or null. */
export function brokerSasl({ port = 19092 } = {}) {
  const st = readState(port);
  if (!st?.saslPort) return null;
  const saslSsl = st.saslSslPort ? `127.0.0.1:${st.saslSslPort}` : null;
  return { brokers: `127.0.0.1:${st.saslPort}`, saslSsl, caFile: st.caFile, username: SASL_USER, passwords: SASL_PASSWORDS };
}

/** A self-signed certificate for 127.0.0.1 / localhost in a PKCS12 keystore, and its PEM (Java's keytool). */
function brokerKeystore(dir) {
  const tlsDir = join(dir, 'tls');
  mkdirSync(tlsDir, { recursive: true });
  const keystore = join(tlsDir, 'broker.p12');
  const caFile = join(tlsDir, 'ca.pem');
  const store = ['-keystore', keystore, '-storetype', 'PKCS12', '-storepass', KEYSTORE_PASS];
  execFileSync(
    'keytool',
    [
      '-genkeypair',
      '-alias',
      'broker',
      '-keyalg',
      'EC',
      '-groupname',
      'secp256r1',
      '-dname',
      'CN=localhost',
      '-ext',
      'SAN=ip:127.0.0.1,dns:localhost',
      '-validity',
      '3650',
      '-keypass',
      KEYSTORE_PASS,
      ...store,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  execFileSync('keytool', ['-exportcert', '-rfc', '-alias', 'broker', '-file', caFile, ...store], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return { keystore, caFile };
}

export async function startBroker({ port = 19092 } = {}) {
  const existing = readState(port);
  if (existing && alive(existing.pid) && (await canConnect(port))) {
    say(`reusing the broker already running on 127.0.0.1:${port} (pid ${existing.pid})`);
    return { brokers: `127.0.0.1:${port}`, tls: brokerTls({ port }), stop: () => stopBroker({ port }), reused: true };
  }
  if (await canConnect(port)) throw new Error(`port ${port} is already in use by something else; pick another with --port`);
  const lib = ensureJars();
  const cp = `${lib}/*`;
  const dir = mkdtempSync(join(tmpdir(), 'sfbridge-kafka-'));
  const controllerPort = await freePort();
  const tlsPort = await freePort();
  const saslPort = await freePort();
  const saslSslPort = await freePort();
  const { keystore, caFile } = brokerKeystore(dir);
  const props = [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},SSL://127.0.0.1:${tlsPort},SASL_PLAINTEXT://127.0.0.1:${saslPort},SASL_SSL://127.0.0.1:${saslSslPort},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port},SSL://127.0.0.1:${tlsPort},SASL_PLAINTEXT://127.0.0.1:${saslPort},SASL_SSL://127.0.0.1:${saslSslPort}`,
    'inter.broker.listener.name=PLAINTEXT',
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL',
    'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
    `listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${SASL_USER}="${SASL_PASSWORDS.plain}";`,
    'listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
    `listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${SASL_USER}="${SASL_PASSWORDS.plain}";`,
    'listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
    `ssl.keystore.location=${keystore}`,
    'ssl.keystore.type=PKCS12',
    `ssl.keystore.password=${KEYSTORE_PASS}`,
    `ssl.key.password=${KEYSTORE_PASS}`,
    `log.dirs=${join(dir, 'data')}`,
    'num.partitions=1',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=true',
    'num.network.threads=2',
    'num.io.threads=2',
    'num.recovery.threads.per.data.dir=1',
    'log.cleaner.backoff.ms=1000',
  ].join('\n');
  const propsFile = join(dir, 'server.properties');
  writeFileSync(propsFile, `${props}\n`);
  const jvm = [
    '-Xms256m',
    '-Xmx512m',
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${LOG4J}`,
    `-Dkafka.logs.dir=${join(dir, 'logs')}`,
  ];
  const scram = ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((m) => [
    '--add-scram',
    `${m}=[name=${SASL_USER},password=${SASL_PASSWORDS[m.toLowerCase()]}]`,
  ]);
  execFileSync('java', [...jvm, '-cp', cp, 'kafka.tools.StorageTool', 'format', '-t', clusterId(), '-c', propsFile, ...scram], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return launch({ port, dir, propsFile, jvm, cp, listeners: { tlsPort, caFile, saslPort, saslSslPort } });
}

/** Start the JVM on an already formatted data dir and wait until the client port answers. */
async function launch({ port, dir, propsFile, jvm, cp, listeners }) {
  const logFile = join(dir, 'broker.log');
  const out = openSync(logFile, 'a');
  const child = spawn('java', [...jvm, '-cp', cp, 'kafka.Kafka', propsFile], { detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  child.unref();
  writeFileSync(stateFile(port), JSON.stringify({ pid: child.pid, port, dir, logFile, propsFile, jvm, cp, ...listeners }));
  const started = Date.now();
  let exited = null;
  child.once('exit', (code) => {
    exited = code;
  });
  // The broker opens its client port only once unfenced, so a TCP connect means ready.
  while (!(await canConnect(port))) {
    if (exited !== null || !alive(child.pid)) {
      throw new Error(`broker exited during start (code ${exited}); log ${logFile}:\n${tail(logFile)}`);
    }
    if (Date.now() - started > READY_TIMEOUT_MS) {
      await stopBroker({ port });
      throw new Error(`broker not ready after ${READY_TIMEOUT_MS} ms; log tail:\n${tail(logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  say(
    `Kafka ${KAFKA_VERSION} ready on 127.0.0.1:${port} in ${((Date.now() - started) / 1000).toFixed(1)} s (pid ${child.pid}, log ${logFile})`,
  );
  return { brokers: `127.0.0.1:${port}`, tls: brokerTls({ port }), stop: () => stopBroker({ port }), reused: false };
}

/**
 * Outage drill for reliability tests: stop the broker's JVM (SIGTERM, data kept), stay down for
 * `downMs`, then start it again on the same data and ports.
 */
export async function restartBroker({ port = 19092, downMs = 30_000 } = {}) {
  const st = readState(port);
  if (!st?.propsFile) throw new Error(`no broker started by this script on port ${port}`);
  await killAndWait(st.pid);
  await new Promise((r) => setTimeout(r, downMs));
  const listeners = { tlsPort: st.tlsPort, caFile: st.caFile, saslPort: st.saslPort, saslSslPort: st.saslSslPort };
  return launch({ port, dir: st.dir, propsFile: st.propsFile, jvm: st.jvm, cp: st.cp, listeners });
}

async function killAndWait(pid) {
  if (!alive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {}
  const deadline = Date.now() + 20_000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

function readState(port) {
  try {
    return JSON.parse(readFileSync(stateFile(port), 'utf8'));
  } catch {
    return null;
  }
}

function tail(file) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function stopBroker({ port = 19092 } = {}) {
  const st = readState(port);
  if (!st) return false;
  await killAndWait(st.pid);
  rmSync(st.dir, { recursive: true, force: true });
  rmSync(stateFile(port), { force: true });
  say(`stopped the broker on 127.0.0.1:${port}`);
  return true;
}

async function cli() {
  const [cmd, ...rest] = process.argv.slice(2);
  const i = rest.indexOf('--port');
  const port = i >= 0 ? Number(rest[i + 1]) : Number(process.env.KAFKA_TEST_PORT ?? 19092);
  if (!Number.isInteger(port) || port <= 0) {
    say('--port needs a port number');
    return 2;
  }
  if (cmd === 'start') {
    const b = await startBroker({ port });
    process.stdout.write(`KAFKA_BROKERS=${b.brokers}\n`);
    return 0;
  }
  if (cmd === 'stop') {
    if (!(await stopBroker({ port }))) say(`no broker recorded for port ${port}`);
    return 0;
  }
  if (cmd === 'status') {
    const st = readState(port);
    const up = st && alive(st.pid) && (await canConnect(port));
    process.stdout.write(up ? `running on 127.0.0.1:${port} (pid ${st.pid})\n` : 'not running\n');
    return up ? 0 : 1;
  }
  say('usage: kafka-broker.mjs start|stop|status [--port N]');
  return 2;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  cli().then(
    (code) => process.exit(code),
    (err) => {
      say(err.message);
      process.exit(1);
    },
  );
}
