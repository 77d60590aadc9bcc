/**
 * Kafka replay store: a compacted topic keyed by `<namespace>:<subscription key>`, read back from
 * the beginning on start (the last value per key wins; a null value deletes). Each commit is one
 * idempotent, acks=all write. It is also the checkpoint that the Kafka sink's exactly-once mode
 * writes inside its transactions.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { z } from 'zod';
import { BridgeError, errorMessage, RetriableError } from '../../errors.js';
import type { CheckpointRecord, CommitRequest, ReplayStore, StoredPosition } from '../types.js';

export const kafkaStoreConfigSchema = z.strictObject({
  type: z.literal('kafka'),
  brokers: z.array(z.string().regex(/^[^\s:]+:\d+$/, 'must be host:port')).min(1),
  topic: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ - only')
    .default('sfbridge.replay'),
  namespace: z.string().min(1).default('default'),
  clientId: z.string().default('sfbridge'),
});
export type KafkaStoreConfig = z.infer<typeof kafkaStoreConfigSchema>;

export class KafkaReplayStore implements ReplayStore {
  private kafka: Kafka;
  private producer: Producer | null = null;
  private readonly positions = new Map<string, StoredPosition>();

  constructor(private readonly config: KafkaStoreConfig) {
    this.kafka = new Kafka({ clientId: config.clientId, brokers: config.brokers, logLevel: logLevel.NOTHING, retry: { retries: 3 } });
  }

  describe(): string {
    return `kafka ${this.config.brokers.join(',')} topic ${this.config.topic} (namespace ${this.config.namespace})`;
  }

  /** The record key of a subscription. */
  private recordKey(key: string): string {
    return `${this.config.namespace}:${key}`;
  }

  async open(): Promise<void> {
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      const topics = await admin.listTopics();
      if (!topics.includes(this.config.topic)) {
        await admin.createTopics({
          waitForLeaders: true,
          topics: [{ topic: this.config.topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
        });
      }
      await this.refresh();
      this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await this.producer.connect();
    } catch (err) {
      if (err instanceof BridgeError) throw err;
      throw new BridgeError('REPLAY_STORE_UNAVAILABLE', `replay store ${this.describe()} is unreachable: ${errorMessage(err)}`);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /** Read the topic from the beginning up to the high watermarks seen at open. */
  private async readAll(ends: Array<{ partition: number; high: number }>): Promise<void> {
    const pending = new Set(ends.filter((e) => e.high > 0).map((e) => e.partition));
    if (pending.size === 0) return;
    const consumer = this.kafka.consumer({ groupId: `sfbridge-replay-reader-${randomUUID()}`, maxWaitTimeInMs: 200 });
    // Transactional checkpoints (exactly-once mode) leave commit markers that a read_committed
    // consumer never sees, so the high watermark can be unreachable: also stop once fetches come
    // back empty a few times in a row (caught up).
    let emptyFetches = 0;
    let sawMessage = false;
    let finish: () => void = () => undefined;
    consumer.on(consumer.events.FETCH, () => {
      if (!sawMessage) emptyFetches++;
      sawMessage = false;
      if (emptyFetches >= 3) finish();
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.config.topic, fromBeginning: true });
    const prefix = `${this.config.namespace}:`;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new BridgeError('REPLAY_STORE_UNAVAILABLE', `replay store ${this.describe()}: timed out reading stored positions`)),
        60_000,
      );
      finish = () => {
        clearTimeout(timer);
        resolve();
      };
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            sawMessage = true;
            emptyFetches = 0;
            const k = message.key?.toString() ?? '';
            if (k.startsWith(prefix)) {
              const key = k.slice(prefix.length);
              if (message.value === null) this.positions.delete(key);
              else {
                const v = JSON.parse(message.value.toString()) as { replayId: string; eventTime: string | null; committedAt: string };
                this.positions.set(key, { key, replayId: v.replayId, eventTime: v.eventTime ?? null, committedAt: v.committedAt });
              }
            }
            const end = ends.find((e) => e.partition === partition);
            if (end && Number(message.offset) >= end.high - 1) {
              pending.delete(partition);
              if (pending.size === 0) {
                clearTimeout(timer);
                resolve();
              }
            }
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();
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
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      const offsets = await admin.fetchTopicOffsets(this.config.topic);
      await this.readAll(offsets.map((o) => ({ partition: o.partition, high: Number(o.high) })));
    } catch (err) {
      if (err instanceof BridgeError) throw err;
      throw new RetriableError('REPLAY_STORE_UNAVAILABLE', `replay store ${this.describe()}: ${errorMessage(err)}`, err);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  async list(): Promise<StoredPosition[]> {
    return [...this.positions.values()].sort((a, b) => a.key.localeCompare(b.key));
  }

  /** The record a commit writes (the pipeline hands it to an exactly-once sink for its transaction). */
  checkpointRecord(key: string, position: CommitRequest): CheckpointRecord {
    const stored: StoredPosition = {
      key,
      replayId: position.replayId,
      eventTime: position.eventTime,
      committedAt: new Date().toISOString(),
    };
    return {
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
    const { stored, ...message } = this.checkpointRecord(key, position);
    await this.send([{ key: message.key, value: message.value }]);
    this.positions.set(key, stored);
    return stored;
  }

  async delete(key: string): Promise<boolean> {
    const had = this.positions.delete(key);
    await this.send([{ key: this.recordKey(key), value: null }]);
    return had;
  }

  private async send(messages: Array<{ key: string; value: string | null }>): Promise<void> {
    if (!this.producer) throw new BridgeError('REPLAY_STORE_UNAVAILABLE', 'kafka store used before open()');
    try {
      await this.producer.send({ topic: this.config.topic, acks: -1, messages });
    } catch (err) {
      throw new RetriableError('REPLAY_STORE_UNAVAILABLE', `replay store ${this.describe()}: ${errorMessage(err)}`, err);
    }
  }

  async close(): Promise<void> {
    await this.producer?.disconnect().catch(() => undefined);
    this.producer = null;
  }
}
