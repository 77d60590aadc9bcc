/**
 * The Kafka client the sink uses: @platformatic/kafka (chosen over kafkajs on measured numbers,
 * docs/benchmarks.md). This file is the only one that knows the library: producers (idempotent,
 * acks=all; transactional for exactly-once), topic creation, each topic's max.message.bytes, and
 * what its errors mean for the bridge.
 */
import type { Producer } from '@platformatic/kafka';
import { BridgeError, errorMessage, nestedErrors, RetriableError } from '../../errors.js';
import { kafkaClientOptions, withConnectionHint } from '../../kafka-connection.js';
import type { KafkaSinkConfig } from './config.js';

// Loaded on first use: the library compiles its option schemas when imported (~0.5 CPU-s), which
// a bridge without Kafka should not pay at startup.
const kafkaLib = () => import('@platformatic/kafka');

/** Records go out as Buffers (record.ts): no serializers. */
export type BytesProducer = Producer<Buffer, Buffer, Buffer, Buffer>;

function connection(config: KafkaSinkConfig) {
  return { ...kafkaClientOptions(config, 'kafka sink'), timeout: config.requestTimeoutMs, requestTimeout: config.requestTimeoutMs };
}

/** An idempotent acks=all producer; with `transactionalId`, a transactional one. */
export async function createProducer(config: KafkaSinkConfig, transactionalId?: string): Promise<BytesProducer> {
  const { ProduceAcks, Producer } = await kafkaLib();
  return new Producer({
    ...connection(config),
    idempotent: true,
    acks: ProduceAcks.ALL,
    // As with any Kafka client: a topic that does not exist is created by the broker when it allows
    // (auto.create.topics.enable); `createTopics` creates it explicitly with partitions.
    autocreateTopics: true,
    ...(config.compression !== 'none' ? { compression: config.compression } : {}),
    ...(transactionalId ? { transactionalId } : {}),
  });
}

/**
 * Create the missing topics (when `createTopics` is set) and read each topic's max.message.bytes.
 * Returns the limits it could read; a topic the broker will auto-create is simply absent.
 */
export async function prepareTopics(config: KafkaSinkConfig, topics: string[]): Promise<{ limits: Map<string, number>; unread: string[] }> {
  const { Admin, ConfigResourceTypes } = await kafkaLib();
  const admin = new Admin(connection(config));
  try {
    if (config.createTopics) {
      const existing = new Set(await admin.listTopics());
      const create = topics.filter((t) => !existing.has(t));
      if (create.length > 0) {
        await admin.createTopics({
          topics: create,
          partitions: config.createTopics.partitions,
          replicas: config.createTopics.replicationFactor,
        });
      }
    }
    const limits = new Map<string, number>();
    const unread: string[] = [];
    for (const topic of topics) {
      try {
        const [d] = await admin.describeConfigs({
          resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: topic, configurationKeys: ['max.message.bytes'] }],
        });
        const v = Number(d?.configs.find((c) => c.name === 'max.message.bytes')?.value);
        if (Number.isFinite(v) && v > 0) limits.set(topic, v);
        else unread.push(topic);
      } catch (err) {
        if (!apiIds(err).includes('UNKNOWN_TOPIC_OR_PARTITION')) unread.push(topic);
      }
    }
    return { limits, unread };
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/** Every Kafka error code (`MESSAGE_TOO_LARGE`…) inside an error and its nested errors. */
export function apiIds(err: unknown): string[] {
  return nestedErrors(err).flatMap((e) => {
    const id = (e as { apiId?: unknown }).apiId;
    return typeof id === 'string' ? [id] : [];
  });
}

/** The broker refused a record batch for its size. */
export function isTooLarge(err: unknown): boolean {
  return apiIds(err).some((id) => id === 'MESSAGE_TOO_LARGE' || id === 'RECORD_LIST_TOO_LARGE');
}

/** Broker refusals that no retry can fix (besides size, handled apart). */
const PERMANENT = new Set([
  'INVALID_TOPIC_EXCEPTION',
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'INVALID_RECORD',
  'UNSUPPORTED_VERSION',
  'UNSUPPORTED_COMPRESSION_TYPE',
  'INVALID_REQUIRED_ACKS',
  'SASL_AUTHENTICATION_FAILED',
]);

/** A client error as a bridge error: permanent refusals are not retried, everything else is. */
export function kafkaError(err: unknown): BridgeError {
  if (err instanceof BridgeError) return err;
  const ids = apiIds(err);
  const permanent =
    ids.find((id) => PERMANENT.has(id)) ?? (/UnsupportedCompression/.test(String((err as Error)?.name)) ? 'compression' : undefined);
  if (permanent) return new BridgeError('KAFKA_REJECTED', `kafka sink: broker refused the write (${permanent}): ${describe(err)}`);
  return new RetriableError('KAFKA_UNAVAILABLE', `kafka sink: ${describe(err)}`, err);
}

/** One line: the message and the Kafka codes inside (and what to set when TLS trust or the SASL login is the cause). */
export function describe(err: unknown): string {
  const ids = [...new Set(apiIds(err))];
  return withConnectionHint(`${errorMessage(err)}${ids.length ? ` (${ids.join(', ')})` : ''}`, err);
}
