/**
 * Kafka sink (kafkajs): idempotent producer, acks=all, topic per route from a template, key per
 * record (CDC: first record id, so one record's changes stay ordered in one partition), headers
 * with replay id, channel, schema id, change type and event id; value = the JSON envelope.
 * A batch is acknowledged only when Kafka acknowledged all of it.
 * Exactly-once mode: the batch and the route's replay checkpoint go into one transaction, with a
 * transactional id stable per route, so a restarted bridge fences its previous incarnation and a
 * read_committed consumer sees every event exactly once.
 */
import kafkajs, { CompressionTypes, Kafka, logLevel, type Message, type Producer, type SASLOptions } from 'kafkajs';
import type { Envelope } from '../../envelope.js';
import { BridgeError, errorMessage, RetriableError } from '../../errors.js';
import type { CheckpointRecord } from '../../positions.js';
import { recordKey } from '../record-key.js';
import type { EventOutcome, Sink, SinkContext } from '../types.js';
import { type Outgoing, pack, recordBytes, tooLarge, topicMessages } from './batching.js';
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

/** A kafkajs error as a bridge error: permanent broker refusals are not retried. */
function kafkaError(err: unknown): BridgeError {
  if (err instanceof BridgeError) return err;
  const e = err as { retriable?: boolean; type?: string };
  if (
    e.retriable === false &&
    e.type &&
    !/NOT_LEADER|UNKNOWN_TOPIC|LEADER_NOT_AVAILABLE|COORDINATOR|REQUEST_TIMED_OUT|NETWORK/.test(e.type)
  ) {
    return new BridgeError('KAFKA_REJECTED', `kafka sink: broker rejected the batch (${e.type}): ${errorMessage(err)}`);
  }
  return new RetriableError('KAFKA_UNAVAILABLE', `kafka sink: ${errorMessage(err)}`, err);
}

function kafkaType(err: unknown): string {
  return String((err as { type?: string }).type ?? (err as { cause?: { type?: string } }).cause?.type ?? errorMessage(err));
}

/** The broker refused a record batch for its size. */
function isTooLarge(err: unknown): boolean {
  return (
    /MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE/.test(kafkaType(err)) || /MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE/.test(errorMessage(err))
  );
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
  /** Each topic's max.message.bytes, as the broker reports it. */
  private readonly limits = new Map<string, number>();

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

  private get compression(): CompressionTypes {
    return this.config.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
  }

  /** Create missing topics (createTopics) and learn each topic's max.message.bytes, once per topic. */
  private async ensureTopics(topics: string[]): Promise<void> {
    const missing = topics.filter((t) => !this.known.has(t));
    if (missing.length === 0) return;
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      if (this.config.createTopics) {
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
      }
      for (const topic of missing) await this.learnLimit(admin, topic);
    } finally {
      await admin.disconnect();
    }
  }

  private async learnLimit(admin: ReturnType<Kafka['admin']>, topic: string): Promise<void> {
    try {
      const r = await admin.describeConfigs({
        includeSynonyms: false,
        // ConfigResourceTypes is not a named ESM export of kafkajs (CommonJS): take it from the default.
        resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }],
      });
      const v = Number(r.resources[0]?.configEntries.find((c) => c.configName === 'max.message.bytes')?.configValue);
      if (Number.isFinite(v) && v > 0) this.limits.set(topic, v);
      this.known.add(topic);
    } catch (err) {
      // A topic the broker will auto-create on first write: learn its limit on a later write.
      if (/UNKNOWN_TOPIC/.test(kafkaType(err))) return;
      this.known.add(topic);
      this.ctx.log.warn(
        { topic, error: errorMessage(err), maxBatchBytes: this.config.maxBatchBytes },
        "kafka sink: cannot read the topic's max.message.bytes; batches stay under maxBatchBytes",
      );
    }
  }

  async write(batch: readonly Envelope[], checkpoint?: CheckpointRecord): Promise<EventOutcome[]> {
    const producer = this.producer;
    if (!producer) throw new RetriableError('KAFKA_UNAVAILABLE', 'kafka sink is not connected');
    const records: Outgoing[] = batch.map((e, index) => {
      const message = toMessage(e, this.config.key);
      return { index, topic: topicFor(this.config.topic, e, this.ctx.route), message, bytes: recordBytes(message) };
    });
    try {
      await this.ensureTopics([...new Set(records.map((r) => r.topic))]);
    } catch (err) {
      throw kafkaError(err);
    }
    const outcomes: EventOutcome[] = batch.map(() => ({ status: 'delivered' }));
    const limit = (topic: string) => this.limits.get(topic) ?? this.config.maxBatchBytes;
    const fits: Outgoing[] = [];
    for (const r of records) {
      if (tooLarge(r, limit))
        outcomes[r.index] = { status: 'unavailable', error: this.oversize(batch[r.index] as Envelope, r, limit(r.topic)) };
      else fits.push(r);
    }
    if (this.config.exactlyOnce) {
      if (fits.length < records.length) {
        // Nothing of this batch may commit past an event that was not written: hold the rest back
        // until the oversized event is dealt with (a dead-letter route sets it aside; block stops).
        for (const r of fits) outcomes[r.index] = { status: 'retry', error: 'held back behind an event too large for its topic' };
        return outcomes;
      }
      await this.sendTransaction(producer, pack(fits, limit), checkpoint);
      return outcomes;
    }
    await this.sendInOrder(producer, pack(fits, limit), outcomes, limit);
    return outcomes;
  }

  /** Requests one after another; a failure reports it and everything after it as not delivered. */
  private async sendInOrder(
    producer: Producer,
    chunks: Outgoing[][],
    outcomes: EventOutcome[],
    limit: (t: string) => number,
  ): Promise<void> {
    const queue = [...chunks];
    while (queue.length > 0) {
      const chunk = queue.shift() as Outgoing[];
      try {
        await producer.sendBatch({ topicMessages: topicMessages(chunk), acks: -1, compression: this.compression });
      } catch (err) {
        if (isTooLarge(err) && chunk.length > 1) {
          // The broker counts differently than we estimated: halve and go on.
          queue.unshift(chunk.slice(0, chunk.length >> 1), chunk.slice(chunk.length >> 1));
          continue;
        }
        if (isTooLarge(err)) {
          const r = chunk[0] as Outgoing;
          outcomes[r.index] = {
            status: 'unavailable',
            error: `${this.oversizeText(r, limit(r.topic))} (the broker said ${kafkaType(err)})`,
          };
          continue;
        }
        const e = kafkaError(err);
        const failed: EventOutcome = e.retriable ? { status: 'retry', error: e.message } : { status: 'unavailable', error: e.message };
        for (const r of [chunk, ...queue].flat()) outcomes[r.index] = failed;
        return;
      }
    }
  }

  /** Exactly-once: every request and the route's checkpoint in one transaction, all or nothing. */
  private async sendTransaction(producer: Producer, chunks: Outgoing[][], checkpoint: CheckpointRecord | undefined): Promise<void> {
    try {
      const tx = await producer.transaction();
      try {
        for (const chunk of chunks) await tx.sendBatch({ topicMessages: topicMessages(chunk), acks: -1, compression: this.compression });
        if (checkpoint) {
          await tx.sendBatch({
            topicMessages: [{ topic: checkpoint.topic, messages: [{ key: checkpoint.key, value: checkpoint.value }] }],
            acks: -1,
          });
        }
        await tx.commit();
      } catch (err) {
        await tx.abort().catch(() => undefined);
        throw err;
      }
    } catch (err) {
      throw kafkaError(err);
    }
  }

  private oversize(e: Envelope, r: Outgoing, limit: number): string {
    return `${this.oversizeText(r, limit)}; event ${e.eventId} (replay id ${e.replayId})`;
  }

  private oversizeText(r: Outgoing, limit: number): string {
    return `kafka sink: an event of ${r.bytes} bytes does not fit topic ${r.topic}, which accepts record batches of at most ${limit} bytes (max.message.bytes${this.limits.has(r.topic) ? '' : ", or the sink's maxBatchBytes when that cannot be read"}). Raise the topic's max.message.bytes (and the broker's replica.fetch.max.bytes), or set the route's sinkOutage.mode: dead-letter to set such events aside`;
  }

  async drain(): Promise<void> {}

  async close(): Promise<void> {
    await this.producer?.disconnect().catch(() => undefined);
    this.producer = null;
  }
}
