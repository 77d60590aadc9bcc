/** The Kafka sink's batch compression and CloudEvents headers on a real broker. */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { kafkaSinkConfigSchema } from '../../src/sinks/kafka/config.js';
import { KafkaSink } from '../../src/sinks/kafka/kafka-sink.js';
import { event } from '../helpers/fakes.js';
import { consumeDecoded } from '../helpers/kafka.js';
import { service } from '../helpers/services.js';

const kafka = service('kafka');

describe.skipIf(!kafka.url)(`Kafka sink compression ${kafka.reason ?? ''}`, () => {
  it.each(['gzip', 'snappy', 'lz4', 'zstd'])('%s: 500 events written compressed are read back intact', async (compression) => {
    const topic = `compress-${compression}-${randomUUID().slice(0, 8)}`;
    const config = kafkaSinkConfigSchema.parse({
      type: 'kafka',
      brokers: (kafka.url as string).split(','),
      topic,
      compression,
      createTopics: { partitions: 2 },
    });
    const sink = new KafkaSink(config, { route: 'r', log: silentLogger() });
    await sink.open();
    const events = Array.from({ length: 500 }, (_, i) => event(i));
    const outcomes = await sink.write(events);
    await sink.close();
    expect(outcomes.every((o) => o.status === 'delivered')).toBe(true);
    const got = await consumeDecoded(kafka.url as string, topic, 500);
    expect(got.map((m) => m.value.eventId).sort()).toEqual(events.map((e) => e.eventId).sort());
  });

  it('cloudEvents: true adds CloudEvents 1.0 binary-mode headers; the value stays the envelope', async () => {
    const topic = `ce-${randomUUID().slice(0, 8)}`;
    const config = kafkaSinkConfigSchema.parse({ type: 'kafka', brokers: (kafka.url as string).split(','), topic, cloudEvents: true });
    const sink = new KafkaSink(config, { route: 'r', log: silentLogger() });
    await sink.open();
    const e = event(7);
    await sink.write([e]);
    await sink.close();
    const [m] = await consumeDecoded(kafka.url as string, topic, 1);
    expect(m?.value).toEqual(e);
    expect(m?.headers).toMatchObject({
      ce_specversion: '1.0',
      ce_id: e.eventId,
      ce_source: `salesforce://${e.org}${e.channel}`,
      ce_type: `com.salesforce.${e.kind}.AccountChangeEvent`,
      'content-type': 'application/json',
      'event-id': e.eventId,
    });
    if (e.eventTime) expect(m?.headers.ce_time).toBe(e.eventTime);
  });
});
