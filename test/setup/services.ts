/**
 * Decides, once per test run, where Kafka, Redis, PostgreSQL, SQS and a schema registry are:
 *   1. KAFKA_BROKERS / REDIS_URL / DATABASE_URL when set;
 *   2. Kafka: else Testcontainers when a Docker engine is reachable, else the local launcher
 *      (scripts/kafka-broker.mjs: Maven-fetched jars, single-node KRaft);
 *      Redis / PostgreSQL: else the usual local ports.
 * Each service is probed. Under CI=true a missing service fails the run; elsewhere the tests that
 * need it are skipped with a one-line reason (see test/helpers/services.ts).
 */
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import type { TestProject } from 'vitest/node';

export interface ServiceInfo {
  url: string | null;
  reason: string | null;
}
export interface Services {
  kafka: ServiceInfo;
  /** The same broker's SSL listener, with a self-signed certificate (`ca`: its PEM file): scripts/kafka-broker.mjs only. */
  kafkaTls: ServiceInfo & { ca?: string };
  /**
   * The same broker's SASL_PLAINTEXT listener and its one user, by PLAIN, SCRAM-SHA-256 and
   * SCRAM-SHA-512, with a password per mechanism (`passwords`); `saslSsl`: its SASL_SSL listener,
   * whose certificate `ca` signed: scripts/kafka-broker.mjs only.
   */
  kafkaSasl: ServiceInfo & { username?: string; passwords?: Record<string, string>; saslSsl?: string; ca?: string };
  redis: ServiceInfo;
  postgres: ServiceInfo;
  /** An SQS endpoint: SQS_ENDPOINT, else ElasticMQ started by scripts/elasticmq.mjs. */
  sqs: ServiceInfo;
  /** A schema registry (Confluent API): SCHEMA_REGISTRY_URL, else Apicurio by scripts/schema-registry.mjs. */
  registry: ServiceInfo;
}

declare module 'vitest' {
  export interface ProvidedContext {
    services: Services;
  }
}

const CI = process.env.CI === 'true' || process.env.CI === '1';

function tcpOpen(host: string, port: number, timeoutMs = 1500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(timeoutMs, () => done(false));
  });
}

function hostPort(url: string, defPort: number): [string, number] {
  const u = new URL(url.includes('://') ? url : `tcp://${url}`);
  return [u.hostname || '127.0.0.1', Number(u.port || defPort)];
}

async function probeRedis(): Promise<ServiceInfo> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const [h, p] = hostPort(url, 6379);
  return (await tcpOpen(h, p)) ? { url, reason: null } : { url: null, reason: `Redis not reachable at ${url} (set REDIS_URL)` };
}

async function probePostgres(): Promise<ServiceInfo> {
  const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return { url, reason: null };
  } catch (err) {
    return { url: null, reason: `PostgreSQL not usable at ${url}: ${(err as Error).message} (set DATABASE_URL)` };
  } finally {
    await client.end().catch(() => undefined);
  }
}

function dockerReachable(): boolean {
  return existsSync('/var/run/docker.sock') || Boolean(process.env.DOCKER_HOST);
}

async function provideKafkaPlain(stops: Array<() => Promise<unknown>>): Promise<ServiceInfo> {
  const env = process.env.KAFKA_BROKERS;
  if (env) {
    const [h, p] = hostPort(env.split(',')[0] as string, 9092);
    return (await tcpOpen(h, p)) ? { url: env, reason: null } : { url: null, reason: `KAFKA_BROKERS=${env} is not reachable` };
  }
  if (dockerReachable()) {
    try {
      const { GenericContainer, Wait } = await import('testcontainers');
      const c = await new GenericContainer('apache/kafka:4.1.1')
        .withExposedPorts({ container: 19092, host: 19092 })
        .withEnvironment({
          KAFKA_NODE_ID: '1',
          KAFKA_PROCESS_ROLES: 'broker,controller',
          KAFKA_LISTENERS: 'PLAINTEXT://:19092,CONTROLLER://:9093',
          KAFKA_ADVERTISED_LISTENERS: 'PLAINTEXT://127.0.0.1:19092',
          KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
          KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
          KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
          KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
          KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
          KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
          KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
        })
        .withWaitStrategy(Wait.forListeningPorts())
        .start();
      stops.push(() => c.stop());
      return { url: '127.0.0.1:19092', reason: null };
    } catch (err) {
      process.stderr.write(`services: Testcontainers Kafka failed (${(err as Error).message}); trying the local launcher\n`);
    }
  }
  try {
    // @ts-expect-error plain JS launcher shared with .ci/run
    const { startBroker } = await import('../../scripts/kafka-broker.mjs');
    const port = Number(process.env.KAFKA_TEST_PORT ?? 19092);
    const b = (await startBroker({ port })) as { brokers: string; stop: () => Promise<unknown>; reused: boolean };
    if (!b.reused) stops.push(b.stop);
    return { url: b.brokers, reason: null };
  } catch (err) {
    return {
      url: null,
      reason: `no Kafka: KAFKA_BROKERS unset, no Docker, local launcher failed: ${(err as Error).message.split('\n')[0]}`,
    };
  }
}

type KafkaListeners = [ServiceInfo, Services['kafkaTls'], Services['kafkaSasl']];

/** Kafka, and its SSL and SASL listeners when the broker is the local launcher's (its state file says where). */
async function provideKafka(stops: Array<() => Promise<unknown>>): Promise<KafkaListeners> {
  const kafka = await provideKafkaPlain(stops);
  const without = (reason: string): KafkaListeners => [kafka, { url: null, reason }, { url: null, reason }];
  if (!kafka.url) return without('no Kafka');
  const [h, p] = hostPort(kafka.url.split(',')[0] as string, 9092);
  if (h !== '127.0.0.1')
    return without(`the TLS and SASL listeners exist only on a broker started by scripts/kafka-broker.mjs (KAFKA_BROKERS=${kafka.url})`);
  // @ts-expect-error plain JS launcher shared with .ci/run
  const { brokerTls, brokerSasl } = await import('../../scripts/kafka-broker.mjs');
  const tls = brokerTls({ port: p }) as { brokers: string; caFile: string } | null;
  const sasl = brokerSasl({ port: p }) as {
    brokers: string;
    saslSsl: string | null;
    caFile: string;
    username: string;
    passwords: Record<string, string>;
  } | null;
  const answers = async (l: { brokers: string } | null) => l !== null && (await tcpOpen('127.0.0.1', Number(l.brokers.split(':')[1])));
  const notStarted = (what: string) => `the broker on ${kafka.url} was not started by scripts/kafka-broker.mjs with a ${what} listener`;
  return [
    kafka,
    tls && (await answers(tls)) ? { url: tls.brokers, reason: null, ca: tls.caFile } : { url: null, reason: notStarted('TLS') },
    sasl?.saslSsl && (await answers(sasl)) && (await answers({ brokers: sasl.saslSsl }))
      ? { url: sasl.brokers, reason: null, username: sasl.username, passwords: sasl.passwords, saslSsl: sasl.saslSsl, ca: sasl.caFile }
      : { url: null, reason: notStarted('SASL') },
  ];
}

async function provideSqs(stops: Array<() => Promise<unknown>>): Promise<ServiceInfo> {
  if (process.env.SQS_ENDPOINT) return { url: process.env.SQS_ENDPOINT, reason: null };
  try {
    // @ts-expect-error plain JS launcher shared with .ci/run
    const { startElasticMQ } = await import('../../scripts/elasticmq.mjs');
    const s = (await startElasticMQ({ port: Number(process.env.SQS_TEST_PORT ?? 9324) })) as {
      endpoint: string;
      stop: () => Promise<unknown>;
      reused: boolean;
    };
    if (!s.reused) stops.push(s.stop);
    return { url: s.endpoint, reason: null };
  } catch (err) {
    return { url: null, reason: `no SQS: SQS_ENDPOINT unset and ElasticMQ did not start: ${(err as Error).message.split('\n')[0]}` };
  }
}

async function provideRegistry(stops: Array<() => Promise<unknown>>): Promise<ServiceInfo> {
  if (process.env.SCHEMA_REGISTRY_URL) return { url: process.env.SCHEMA_REGISTRY_URL, reason: null };
  try {
    // @ts-expect-error plain JS launcher shared with .ci/run
    const { startSchemaRegistry } = await import('../../scripts/schema-registry.mjs');
    const r = (await startSchemaRegistry({ port: Number(process.env.SCHEMA_REGISTRY_PORT ?? 18085) })) as {
      url: string;
      stop: () => Promise<unknown>;
      reused: boolean;
    };
    if (!r.reused) stops.push(r.stop);
    return { url: r.url, reason: null };
  } catch (err) {
    return {
      url: null,
      reason: `no schema registry: SCHEMA_REGISTRY_URL unset and Apicurio did not start: ${(err as Error).message.split('\n')[0]}`,
    };
  }
}

export default async function setup(project: TestProject) {
  const stops: Array<() => Promise<unknown>> = [];
  // The probes go first: the launchers below block this event loop while keytool and Kafka's
  // storage formatter run, long enough for a probe's connect timeout to fire on a server that answered.
  const [redis, postgres] = await Promise.all([probeRedis(), probePostgres()]);
  const [[kafka, kafkaTls, kafkaSasl], sqs, registry] = await Promise.all([provideKafka(stops), provideSqs(stops), provideRegistry(stops)]);
  const services: Services = { kafka, kafkaTls, kafkaSasl, redis, postgres, sqs, registry };
  const missing = Object.entries(services).filter(([, s]) => !s.url);
  if (missing.length > 0) {
    const lines = missing.map(([name, s]) => `  ${name}: ${s.reason}`).join('\n');
    if (CI) {
      for (const stop of stops) await stop().catch(() => undefined);
      throw new Error(`CI=true and services are missing; tests that need them must not be skipped:\n${lines}`);
    }
    process.stderr.write(`services: these tests will be skipped:\n${lines}\n`);
  }
  project.provide('services', services);
  return async () => {
    for (const stop of stops) await stop().catch(() => undefined);
  };
}
