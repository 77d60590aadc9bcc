/**
 * Kafka replay store: a compacted topic keyed by `<namespace>:<subscription key>`, read back from
 * the beginning on start (the last value per key wins; a null value deletes). Each commit is one
 * idempotent, acks=all write. It is also the checkpoint that the Kafka sink's exactly-once mode
 * writes inside its transactions. Reads are read_committed up to the last stable offset, so a
 * checkpoint inside an aborted or still-open transaction is never taken for a position.
 */
import { randomUUID } from 'node:crypto';
import type { Producer } from '@platformatic/kafka';
import { z } from 'zod';
import { BridgeError, errorMessage, RetriableError } from '../../errors.js';
import { kafkaClientOptions, kafkaConnectionFields, readKafkaTrust, withConnectionHint } from '../../kafka-connection.js';
import type { CheckpointRecord, CommitRequest, ReplayStore, StoredPosition } from '../types.js';

// Loaded when the store opens: the library's import compiles its option schemas (~0.5 CPU-s).
const kafkaLib = () => import('@platformatic/kafka');

export const kafkaStoreConfigSchema = z.strictObject({
  type: z.literal('kafka'),
  /** brokers, clientId, ssl, sasl: as the Kafka sink's (a secured cluster's settings are the same). */
  ...kafkaConnectionFields,
  topic: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ - only')
    .default('sfbridge.replay'),
  namespace: z.string().min(1).default('default'),
});
export type KafkaStoreConfig = z.infer<typeof kafkaStoreConfigSchema>;

export class KafkaReplayStore implements ReplayStore {
  private producer: Producer<string, string, string, string> | null = null;
  /** Writes go one at a time: the idempotent producer's sequence numbers must reach the broker in order. */
  private sending: Promise<void> = Promise.resolve();
  private readonly positions = new Map<string, StoredPosition>();

  constructor(private readonly config: KafkaStoreConfig) {
    readKafkaTrust(config, 'replayStore');
  }

  describe(): string {
    return `kafka ${this.config.brokers.join(',')} topic ${this.config.topic} (namespace ${this.config.namespace})`;
  }

  private get connection() {
    return { ...kafkaClientOptions(this.config, 'replayStore'), retries: 3, timeout: 30_000 };
  }

  /** The record key of a subscription. */
  private recordKey(key: string): string {
    return `${this.config.namespace}:${key}`;
  }

  async open(): Promise<void> {
    const { Admin, ProduceAcks, Producer, stringSerializers } = await kafkaLib();
    const admin = new Admin(this.connection);
    try {
      const topics = await admin.listTopics();
      if (!topics.includes(this.config.topic)) {
        await admin.createTopics({
          topics: [this.config.topic],
          partitions: 1,
          replicas: -1,
          configs: [{ name: 'cleanup.policy', value: 'compact' }],
        });
      }
      await this.refresh();
      this.producer = new Producer({ ...this.connection, idempotent: true, acks: ProduceAcks.ALL, serializers: stringSerializers });
      await this.producer.initIdempotentProducer({});
    } catch (err) {
      if (err instanceof BridgeError) throw err;
      throw new BridgeError(
        'REPLAY_STORE_UNAVAILABLE',
        `replay store ${this.describe()} is unreachable: ${withConnectionHint(errorMessage(err), err)}`,
      );
    } finally {
      await admin.close().catch(() => undefined);
    }
  }

  /**
   * Read the topic from the beginning up to each partition's last stable offset (read_committed):
   * the stream's next fetch offset passes transaction markers too, so reaching the LSO is exact.
   */
  private async readAll(): Promise<void> {
    const { Consumer, FetchIsolationLevels, ListOffsetTimestamps, MessagesStreamModes, stringDeserializers } = await kafkaLib();
    const consumer = new Consumer({
      ...this.connection,
      groupId: `sfbridge-replay-reader-${randomUUID()}`,
      deserializers: stringDeserializers,
      maxWaitTime: 200,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    });
    try {
      const offsets = await consumer.listOffsets({
        topics: [this.config.topic],
        timestamp: ListOffsetTimestamps.LATEST,
        isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      });
      const ends = (offsets.get(this.config.topic) ?? []).map((end, partition) => ({ partition, end: BigInt(end) }));
      if (ends.every((e) => e.end === 0n)) return;
      const stream = await consumer.consume({
        topics: [this.config.topic],
        mode: MessagesStreamModes.EARLIEST,
        autocommit: false,
        isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      });
      const prefix = `${this.config.namespace}:`;
      const caughtUp = () =>
        ends.every((e) => e.end === 0n || (stream.offsetsToFetch.get(`${this.config.topic}:${e.partition}`) ?? 0n) >= e.end);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new BridgeError('REPLAY_STORE_UNAVAILABLE', `replay store ${this.describe()}: timed out reading stored positions`)),
          60_000,
        );
        const done = () => {
          if (!caughtUp()) return;
          clearTimeout(timer);
          resolve();
        };
        stream.on('fetch', done);
        stream.on('error', (err: Error) => {
          clearTimeout(timer);
          reject(err);
        });
        stream.on('data', (m: { key?: string; value?: string | null }) => {
          const k = m.key ?? '';
          if (k.startsWith(prefix)) this.apply(k.slice(prefix.length), m.value ?? null);
          done();
        });
      });
      await new Promise<void>((resolve) => stream.close(() => resolve()));
    } finally {
      await new Promise<void>((resolve) => consumer.close(true, () => resolve()));
    }
  }

  private apply(key: string, value: string | null): void {
    if (value === null || value === '') {
      this.positions.delete(key);
      return;
    }
    const v = JSON.parse(value) as { replayId: string; eventTime: string | null; committedAt: string };
    this.positions.set(key, { key, replayId: v.replayId, eventTime: v.eventTime ?? null, committedAt: v.committedAt });
  }

  /**
   * Re-reads the topic first: a route starts after its sinks opened, and an exactly-once sink's
   * producer has by then fenced and aborted any transaction its killed predecessor left open, so
   * checkpoints committed behind that transaction are visible now (they were not at open()).
   */
  async load(key: string): Promise<StoredPosition | undefined> {
    await this.refresh();
    return this.positions.get(key);
  }

  private async refresh(): Promise<void> {
    try {
      await this.readAll();
    } catch (err) {
      if (err instanceof BridgeError) throw err;
      throw new RetriableError('REPLAY_STORE_UNAVAILABLE', `replay store ${this.describe()}: ${errorMessage(err)}`, err);
    }
  }

  async list(): Promise<StoredPosition[]> {
    return [...this.positions.values()].sort((a, b) => a.key.localeCompare(b.key));
  }

  /** The record a commit writes (the pipeline hands it to an exactly-once sink for its transaction). */
  checkpointRecord(key: string, position: CommitRequest): CheckpointRecord & { kind: 'kafka' } {
    const stored: StoredPosition = {
      key,
      replayId: position.replayId,
      eventTime: position.eventTime,
      committedAt: new Date().toISOString(),
    };
    return {
      kind: 'kafka',
      topic: this.config.topic,
      key: this.recordKey(key),
      value: JSON.stringify({ replayId: stored.replayId, eventTime: stored.eventTime, committedAt: stored.committedAt }),
      stored,
    };
  }

  /** Remember a position that was written elsewhere (inside a sink transaction). */
  remember(stored: StoredPosition): void {
    this.positions.set(stored.key, stored);
  }

  async commit(key: string, position: CommitRequest): Promise<StoredPosition> {
    const { stored, kind: _kind, ...record } = this.checkpointRecord(key, position);
    await this.send(record.key, record.value);
    this.positions.set(key, stored);
    return stored;
  }

  async delete(key: string): Promise<boolean> {
    const had = this.positions.delete(key);
    await this.send(this.recordKey(key), undefined);
    return had;
  }

  /** One idempotent acks=all write; an undefined value is a tombstone (compaction deletes the key). */
  private send(key: string, value: string | undefined): Promise<void> {
    const producer = this.producer;
    if (!producer) return Promise.reject(new BridgeError('REPLAY_STORE_UNAVAILABLE', 'kafka store used before open()'));
    const run = this.sending.then(async () => {
      try {
        await producer.send({ messages: [{ topic: this.config.topic, key, ...(value !== undefined ? { value } : {}) }] });
      } catch (err) {
        throw new RetriableError('REPLAY_STORE_UNAVAILABLE', `replay store ${this.describe()}: ${errorMessage(err)}`, err);
      }
    });
    this.sending = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    await this.producer?.close().catch(() => undefined);
    this.producer = null;
  }
}
