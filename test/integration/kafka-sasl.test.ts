/**
 * Kafka with SASL, as managed clusters (MSK, Confluent Cloud, Strimzi) require: the test broker's
 * SASL_PLAINTEXT listener (scripts/kafka-broker.mjs) takes one user by PLAIN, SCRAM-SHA-256 and
 * SCRAM-SHA-512, with a password per mechanism, so a client that logged in by another mechanism
 * than configured would be refused. For each mechanism the Kafka sink writes, the Kafka source reads back and the
 * Kafka replay store commits, all through that listener, and once more over its SASL_SSL
 * listener (as MSK and Confluent Cloud serve it), trusting the test CA; a wrong password stops the bridge at
 * start in one line that names the setting and never shows the password.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBridge, readSink } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { consumeAll } from '../helpers/kafka.js';
import { service } from '../helpers/services.js';
import { tempDir } from '../helpers/tmp.js';

const kafka = service('kafka');
const sasl = service('kafkaSasl');
const CHANNEL = '/data/AccountChangeEvent';

describe.skipIf(!sasl.url)(`Kafka with SASL ${sasl.reason ?? ''}`, () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
    await t.admin('events/emit', { spec: 'cdc:Account', count: 30 });
  });
  afterAll(async () => t?.stop());

  const login = (mechanism: string, password = sasl.passwords?.[mechanism] as string, listener = 'SASL_PLAINTEXT') => ({
    ...(listener === 'SASL_SSL' ? { brokers: [sasl.saslSsl as string], caCertFile: sasl.ca } : { brokers: [sasl.url as string] }),
    sasl: { mechanism, username: sasl.username as string, password },
  });

  it.each([
    ['plain', 'SASL_PLAINTEXT'],
    ['scram-sha-256', 'SASL_PLAINTEXT'],
    ['scram-sha-512', 'SASL_PLAINTEXT'],
    ['scram-sha-512', 'SASL_SSL'],
  ])('%s over %s: the sink writes, the source reads and the replay store commits', async (mechanism, listener) => {
    const dir = tempDir();
    const ns = `sasl-${mechanism}-${randomUUID().slice(0, 8)}`;
    const retained = (await t.ledger(CHANNEL)).length;
    const secured = login(mechanism, undefined, listener);
    const { bridge } = makeBridge(
      t,
      dir,
      [
        {
          name: 'out',
          source: { type: 'pubsub', org: 'emu', topic: CHANNEL, initial: 'earliest' },
          sinks: [{ type: 'kafka', ...secured, topic: `${ns}.events`, createTopics: { partitions: 1 } }],
        },
        {
          name: 'back',
          source: { type: 'kafka', ...secured, topics: [`${ns}.events`], groupId: `g-${ns}` },
          sinks: [{ type: 'file', dir: join(dir, 'back') }],
        },
      ],
      { replayStore: { type: 'kafka', ...secured, topic: `${ns}.replay`, namespace: ns } },
      'error',
    );
    const route = (key: string) => bridge.status().routes.find((r) => r.key === key);
    try {
      await bridge.start();
      await until(
        () => (route('out')?.eventsCommitted ?? 0) >= retained && (route('back')?.eventsCommitted ?? 0) >= retained,
        60_000,
        `both routes committed through ${mechanism} over ${listener}`,
      );
    } finally {
      await bridge.stop();
    }
    // What the source read is what the sink wrote: every event once, as the file sink holds it.
    const read = readSink(join(dir, 'back')).map((e) => e.payload.eventId);
    expect(new Set(read).size).toBe(retained);
    // The positions are on the broker, read on its plaintext listener.
    expect((await consumeAll(kafka.url as string, `${ns}.replay`, 1)).length).toBeGreaterThan(0);
  });

  it('a wrong password: the bridge refuses to start in one line, without the password', async () => {
    const dir = tempDir();
    const wrong = 'not-the-password-7f3a';
    const { bridge, capture } = makeBridge(
      t,
      dir,
      [
        {
          name: 'r',
          source: { type: 'pubsub', org: 'emu', topic: CHANNEL, initial: 'earliest' },
          sinks: [{ type: 'kafka', ...login('scram-sha-256', wrong), topic: `sasl-${randomUUID().slice(0, 8)}`, requestTimeoutMs: 5000 }],
        },
      ],
      {},
      'debug',
    );
    let message = '';
    try {
      await bridge.start().catch((err: Error) => {
        message = err.message;
      });
    } finally {
      await bridge.stop();
    }
    expect(message).toMatch(
      /^kafka sink: cannot connect to 127\.0\.0\.1:\d+: .*\(SASL_AUTHENTICATION_FAILED\): the brokers refused the SASL login: check sasl\.username, sasl\.password and sasl\.mechanism$/,
    );
    expect(message).not.toContain(wrong);
    expect(capture.text()).not.toContain(wrong);
  });

  it('a replay store with a wrong password: the bridge refuses to start, naming the SASL settings', async () => {
    const dir = tempDir();
    const { bridge } = makeBridge(
      t,
      dir,
      [
        {
          name: 'r',
          source: { type: 'pubsub', org: 'emu', topic: CHANNEL, initial: 'earliest' },
          sinks: [{ type: 'file', dir: join(dir, 'out') }],
        },
      ],
      { replayStore: { type: 'kafka', ...login('plain', 'wrong'), topic: `sasl-${randomUUID().slice(0, 8)}.replay` } },
      'error',
    );
    try {
      await expect(bridge.start()).rejects.toThrow(
        /replay store kafka 127\.0\.0\.1:\d+ .* is unreachable: .*the brokers refused the SASL login: check sasl\.username, sasl\.password and sasl\.mechanism$/,
      );
    } finally {
      await bridge.stop();
    }
  });

  it('a Kafka source with a wrong password says what to check, without the password, and keeps trying', async () => {
    const dir = tempDir();
    const wrong = 'not-the-password-source';
    const { bridge, capture } = makeBridge(
      t,
      dir,
      [
        {
          name: 'in',
          source: { type: 'kafka', ...login('scram-sha-256', wrong), topics: [`sasl-${randomUUID().slice(0, 8)}`], groupId: 'g-wrong' },
          sinks: [{ type: 'file', dir: join(dir, 'out') }],
        },
      ],
      {},
      'debug',
    );
    try {
      await bridge.start();
      await until(() => capture.text().includes('Kafka source: cannot join group'), 20_000, 'the join failure');
      expect(bridge.status().routes[0]?.state).toBe('running');
    } finally {
      await bridge.stop();
    }
    const line = capture.lines().find((l) => String(l.msg).startsWith('Kafka source: cannot join group'));
    expect(line?.msg).toMatch(
      /the brokers refused the SASL login: check sasl\.username, sasl\.password and sasl\.mechanism\); trying again$/,
    );
    expect(capture.text()).not.toContain(wrong);
  });
});
