import { describe, expect, it } from 'vitest';
import { kafkaClientOptions } from '../../src/kafka-connection.js';
import { kafkaStoreConfigSchema } from '../../src/replay/kafka/kafka-store.js';
import { kafkaSinkConfigSchema } from '../../src/sinks/kafka/config.js';
import { kafkaSubscriberConfigSchema } from '../../src/subscribers/kafka/config.js';

describe('Kafka connection settings, shared by the sink, the source and the replay store', () => {
  const secured = { brokers: ['b1:9093', 'b2:9093'], ssl: true, sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' } };

  it('become the same client options wherever they are set', () => {
    const sink = kafkaSinkConfigSchema.parse({ type: 'kafka', ...secured });
    const source = kafkaSubscriberConfigSchema.parse({ type: 'kafka', topics: ['t'], groupId: 'g', ...secured });
    const store = kafkaStoreConfigSchema.parse({ type: 'kafka', ...secured });
    const want = {
      clientId: 'sfbridge',
      bootstrapBrokers: ['b1:9093', 'b2:9093'],
      retries: 5,
      tls: {},
      sasl: { mechanism: 'SCRAM-SHA-512', username: 'u', password: 'p' },
    };
    for (const c of [sink, source, store]) expect(kafkaClientOptions(c)).toEqual(want);
  });

  it('leave TLS and SASL out unless asked for', () => {
    const store = kafkaStoreConfigSchema.parse({ type: 'kafka', brokers: ['127.0.0.1:9092'], clientId: 'me' });
    expect(kafkaClientOptions(store)).toEqual({ clientId: 'me', bootstrapBrokers: ['127.0.0.1:9092'], retries: 5 });
  });

  it('refuse a broker without a port, in the same words everywhere', () => {
    for (const schema of [kafkaSinkConfigSchema, kafkaStoreConfigSchema]) {
      const r = schema.safeParse({ type: 'kafka', brokers: ['kafka'] });
      expect(r.success).toBe(false);
      expect(JSON.stringify(r.error?.issues)).toContain('must be host:port, such as 127.0.0.1:9092');
    }
  });
});
