/**
 * Kafka sink (kafkajs): idempotent producer, acks=all, topic per route from a template, key per
 * record (CDC: first record id, so one record's changes stay ordered in one partition), headers
 * with replay id, channel, schema id, change type and event id; value = the JSON envelope.
 * A batch is acknowledged only when Kafka acknowledged all of it.
 * Exactly-once mode: the batch and the route's replay checkpoint go into one transaction, with a
 * transactional id stable per route, so a restarted bridge fences its previous incarnation and a
 * read_committed consumer sees every event exactly once.
 */
import { CompressionTypes, Kafka, logLevel, type Message, type Producer, type SASLOptions } from 'kafkajs';
import type { Envelope } from '../../envelope.js';
import { BridgeError, errorMessage, RetriableError } from '../../errors.js';
import type { CheckpointRecord } from '../../positions.js';
import { recordKey } from '../record-key.js';
import type { Sink, SinkContext } from '../types.js';
import type { KafkaSinkConfig } from './config.js';

export function topicSafe(s: string): string {
  return s
    .replace(/^\/+/, '')
    .replace(/\//g, '.')
    .replace(/[^A-Za-z0-9._-]/g, '_');
}

export function topicFor(template: string, e: Envelope, route: string): string {
  const topic = template
    .replace(/\{org\}/g, topicSafe(e.org))
    .replace(/\{channel\}/g, topicSafe(e.channel))
    .replace(/\{route\}/g, topicSafe(route))
    .replace(/\{kind\}/g, e.kind)
    .slice(0, 249);
  const bad = topicNameProblem(topic);
  // Permanent: the same event yields the same name on every retry.
  if (bad)
    throw new BridgeError(
      'KAFKA_TOPIC_NAME',
      `kafka sink: topic template "${template}" gives "${topic}", ${bad}; fix the sink's \`topic\``,
    );
  return topic;
}

/** Why Kafka would refuse this topic name, or null. */
export function topicNameProblem(topic: string): string | null {
  if (topic === '' || topic === '.' || topic === '..') return 'which Kafka does not allow as a topic name';
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(topic)) return 'which has characters Kafka does not allow (only letters, digits, . _ -)';
  return null;
}

/** For `check`: the topic a route's events will go to when the template names only the route. */
export function kafkaSinkProblems(config: KafkaSinkConfig, route: { key: string }): string[] {
  const sample = config.topic
    .replace(/\{route\}/g, topicSafe(route.key))
    .replace(/\{org\}|\{channel\}|\{kind\}/g, 'x')
    .slice(0, 249);
  const bad = topicNameProblem(sample);
  return bad ? [`topic: "${config.topic}" gives "${sample}" for route "${route.key}", ${bad}`] : [];
}

function toMessage(e: Envelope, mode: KafkaSinkConfig['key']): Message {
  const headers: Record<string, string> = { 'replay-id': e.replayId, channel: e.channel, 'event-id': e.eventId, kind: e.kind };
  if (e.schemaId) headers['schema-id'] = e.schemaId;
  if (e.changeHeader) headers['change-type'] = e.changeHeader.changeType;
  return { key: recordKey(mode, e), value: JSON.stringify(e), headers };
}

export class KafkaSink implements Sink {
  private readonly kafka: Kafka;
  private producer: Producer | null = null;
  private readonly known = new Set<string>();

  constructor(
    private readonly config: KafkaSinkConfig,
    private readonly ctx: SinkContext,
  ) {
    const sasl = config.sasl
      ? ({ mechanism: config.sasl.mechanism, username: config.sasl.username, password: config.sasl.password } as SASLOptions)
      : undefined;
    this.kafka = new Kafka({
      clientId: config.clientId,
      brokers: config.brokers,
      ssl: config.ssl,
      sasl,
      logLevel: logLevel.NOTHING,
      requestTimeout: config.requestTimeoutMs,
      retry: { retries: 5 },
    });
  }

  describe(): string {
    return `kafka ${this.config.brokers.join(',')} topic ${this.config.topic}${this.config.exactlyOnce ? ' (exactly-once)' : ''}`;
  }

  /** The transactional id: one per route, stable across restarts (zombie fencing). */
  get transactionalId(): string {
    return `sfbridge-${topicSafe(this.ctx.route)}`;
  }

  /** Exactly-once mode: the route's checkpoint rides in each batch's transaction. */
  get atomicCheckpoints(): boolean {
    return this.config.exactlyOnce;
  }

  async open(): Promise<void> {
    this.producer = this.config.exactlyOnce
      ? this.kafka.producer({ transactionalId: this.transactionalId, idempotent: true, maxInFlightRequests: 1 })
      : this.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    try {
      await this.producer.connect();
    } catch (err) {
      throw new BridgeError('KAFKA_UNAVAILABLE', `kafka sink: cannot connect to ${this.config.brokers.join(',')}: ${errorMessage(err)}`);
    }
  }

  private async ensureTopics(topics: string[]): Promise<void> {
    const missing = topics.filter((t) => !this.known.has(t));
    if (missing.length === 0) return;
    if (this.config.createTopics) {
      const admin = this.kafka.admin();
      await admin.connect();
      try {
        const existing = new Set(await admin.listTopics());
        const create = missing.filter((t) => !existing.has(t));
        if (create.length > 0) {
          await admin.createTopics({
            waitForLeaders: true,
            topics: create.map((topic) => ({
              topic,
              numPartitions: this.config.createTopics?.partitions ?? 1,
              replicationFactor: this.config.createTopics?.replicationFactor ?? -1,
            })),
          });
        }
      } finally {
        await admin.disconnect();
      }
    }
    for (const t of missing) this.known.add(t);
  }

  async write(batch: readonly Envelope[], checkpoint?: CheckpointRecord): Promise<void> {
    const producer = this.producer;
    if (!producer) throw new RetriableError('KAFKA_UNAVAILABLE', 'kafka sink is not connected');
    const byTopic = new Map<string, Message[]>();
    for (const e of batch) {
      const topic = topicFor(this.config.topic, e, this.ctx.route);
      let list = byTopic.get(topic);
      if (!list) byTopic.set(topic, (list = []));
      list.push(toMessage(e, this.config.key));
    }
    const compression = this.config.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
    const topicMessages = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
    try {
      await this.ensureTopics([...byTopic.keys()]);
      if (!this.config.exactlyOnce) {
        await producer.sendBatch({ topicMessages, acks: -1, compression });
        return;
      }
      // Exactly-once: the events and the route's checkpoint (from the pipeline), atomically.
      const tx = await producer.transaction();
      try {
        const messages = [...topicMessages];
        if (checkpoint) messages.push({ topic: checkpoint.topic, messages: [{ key: checkpoint.key, value: checkpoint.value }] });
        await tx.sendBatch({ topicMessages: messages, acks: -1, compression });
        await tx.commit();
      } catch (err) {
        await tx.abort().catch(() => undefined);
        throw err;
      }
    } catch (err) {
      const e = err as { retriable?: boolean; type?: string };
      // kafkajs marks broker-side permanent errors (e.g. a too-large record) as not retriable.
      if (
        e.retriable === false &&
        e.type &&
        !/NOT_LEADER|UNKNOWN_TOPIC|LEADER_NOT_AVAILABLE|COORDINATOR|REQUEST_TIMED_OUT|NETWORK/.test(e.type)
      ) {
        throw new BridgeError('KAFKA_REJECTED', `kafka sink: broker rejected the batch (${e.type}): ${errorMessage(err)}`);
      }
      throw new RetriableError('KAFKA_UNAVAILABLE', `kafka sink: ${errorMessage(err)}`, err);
    }
  }

  async drain(): Promise<void> {}

  async close(): Promise<void> {
    await this.producer?.disconnect().catch(() => undefined);
    this.producer = null;
  }
}
