import { describe, expect, it } from 'vitest';
import { ensureTls } from '../../src/emulator/tls.js';
import { kafkaClientOptions, kafkaConnectionHint } from '../../src/kafka-connection.js';
import { KafkaReplayStore, kafkaStoreConfigSchema } from '../../src/replay/kafka/kafka-store.js';
import { kafkaSinkConfigSchema } from '../../src/sinks/kafka/config.js';
import { kafkaSubscriberConfigSchema } from '../../src/subscribers/kafka/config.js';
import { tempDir } from '../helpers/tmp.js';

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

  it('trust a private CA from caCertFile (TLS on); an unreadable file is one line naming the setting', async () => {
    const ca = (await ensureTls(tempDir())).caCertPath;
    const store = kafkaStoreConfigSchema.parse({ type: 'kafka', brokers: ['b:9093'], caCertFile: ca });
    expect(kafkaClientOptions(store, 'replayStore').tls?.secureContext).toBeDefined();
    const missing = kafkaStoreConfigSchema.parse({ type: 'kafka', brokers: ['b:9093'], caCertFile: '/nonexistent/ca.pem' });
    expect(() => kafkaClientOptions(missing, 'replayStore')).toThrow(
      /^replayStore caCertFile: cannot read \/nonexistent\/ca\.pem \(ENOENT\)$/,
    );
  });

  it('an unreadable caCertFile stops the component at construction, in one line naming the setting', () => {
    const config = kafkaStoreConfigSchema.parse({ type: 'kafka', brokers: ['b:9093'], caCertFile: '/nonexistent/store-ca.pem' });
    expect(() => new KafkaReplayStore(config)).toThrow(/^replayStore caCertFile: cannot read \/nonexistent\/store-ca\.pem \(ENOENT\)$/);
  });

  it('name an untrusted certificate anywhere in an error’s causes, and nothing else', () => {
    const tlsErr = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    const wrapped = { message: 'Connection failed', errors: [{ message: 'x', cause: tlsErr }] };
    expect(kafkaConnectionHint(wrapped)).toMatch(/not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\): set caCertFile/);
    expect(kafkaConnectionHint(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBeNull();
  });

  it('name a refused SASL login anywhere in an error’s causes', () => {
    const refused = { message: 'initProducerId failed 6 times.', errors: [{ message: 'x', apiId: 'SASL_AUTHENTICATION_FAILED' }] };
    expect(kafkaConnectionHint(refused)).toBe('the brokers refused the SASL login: check sasl.username, sasl.password and sasl.mechanism');
    expect(kafkaConnectionHint({ message: 'x', cause: { apiId: 'UNSUPPORTED_SASL_MECHANISM' } })).toMatch(
      /do not offer this sasl\.mechanism/,
    );
    expect(kafkaConnectionHint({ message: 'x', errors: [{ apiId: 'NOT_LEADER_OR_FOLLOWER' }] })).toBeNull();
    // As a failed admin call reports it: seven levels down.
    const deep = [1, 2, 3, 4, 5, 6].reduce<object>((inner) => ({ message: 'x', errors: [inner] }), { apiId: 'SASL_AUTHENTICATION_FAILED' });
    expect(kafkaConnectionHint(deep)).toMatch(/refused the SASL login/);
  });

  it('refuse a broker without a port, in the same words everywhere', () => {
    for (const schema of [kafkaSinkConfigSchema, kafkaStoreConfigSchema]) {
      const r = schema.safeParse({ type: 'kafka', brokers: ['kafka'] });
      expect(r.success).toBe(false);
      expect(JSON.stringify(r.error?.issues)).toContain('must be host:port, such as 127.0.0.1:9092');
    }
  });
});
