/**
 * Kafka over TLS with a private CA (as Strimzi's cluster CA or a company's): the test broker's SSL
 * listener has a self-signed certificate (scripts/kafka-broker.mjs). With `caCertFile` the sink
 * writes and the replay store commits through it; without it, the sink says the certificate is
 * not trusted and names the setting, and nothing is committed.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBridge } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { consumeAll } from '../helpers/kafka.js';
import { service } from '../helpers/services.js';
import { tempDir } from '../helpers/tmp.js';

const kafka = service('kafka');
const tls = service('kafkaTls');

describe.skipIf(!tls.url)(`Kafka over TLS with a private CA ${tls.reason ?? ''}`, () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  const route = (sink: Record<string, unknown>) => ({
    name: 'r',
    source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent', initial: 'earliest' },
    sinks: [sink],
  });

  it('writes and commits through the TLS listener when the CA is given', async () => {
    const dir = tempDir();
    const ns = `tls-${randomUUID().slice(0, 8)}`;
    await t.admin('events/emit', { spec: 'cdc:Account', count: 30 });
    const retained = (await t.ledger('/data/AccountChangeEvent')).length;
    const secured = { brokers: [tls.url as string], caCertFile: tls.ca };
    const { bridge } = makeBridge(
      t,
      dir,
      [route({ type: 'kafka', ...secured, topic: `${ns}.events`, createTopics: { partitions: 1 } })],
      { replayStore: { type: 'kafka', ...secured, topic: `${ns}.replay`, namespace: ns } },
      'error',
    );
    try {
      await bridge.start();
      await until(() => (bridge.status().routes[0]?.eventsCommitted ?? 0) >= retained, 60_000, 'committed through TLS');
    } finally {
      await bridge.stop();
    }
    // Read back on the same broker's plaintext listener: every event is there.
    const got = await consumeAll(kafka.url as string, `${ns}.events`, retained);
    expect(new Set(got.map((m) => m.value.eventId)).size).toBe(retained);
    const positions = await consumeAll(kafka.url as string, `${ns}.replay`, 1);
    expect(positions.length).toBeGreaterThan(0);
  });

  it('without the CA: the bridge refuses to start, in one line naming caCertFile', async () => {
    const dir = tempDir();
    const ns = `tls-${randomUUID().slice(0, 8)}`;
    const { bridge } = makeBridge(
      t,
      dir,
      [route({ type: 'kafka', brokers: [tls.url as string], ssl: true, topic: `${ns}.events`, requestTimeoutMs: 5000 })],
      {},
      'error',
    );
    try {
      await expect(bridge.start()).rejects.toThrow(
        /kafka sink: cannot connect to 127\.0\.0\.1:\d+: .*the brokers' TLS certificate is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\): set caCertFile/,
      );
    } finally {
      await bridge.stop();
    }
  });

  it('a Kafka replay store without the CA: the bridge refuses to start, naming caCertFile', async () => {
    const dir = tempDir();
    const { bridge } = makeBridge(
      t,
      dir,
      [route({ type: 'file', dir: join(dir, 'out') })],
      { replayStore: { type: 'kafka', brokers: [tls.url as string], ssl: true, topic: `tls-${randomUUID().slice(0, 8)}.replay` } },
      'error',
    );
    try {
      await expect(bridge.start()).rejects.toThrow(
        /replay store kafka 127\.0\.0\.1:\d+ .* is unreachable: .*the brokers' TLS certificate is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\): set caCertFile/,
      );
    } finally {
      await bridge.stop();
    }
  });
});
