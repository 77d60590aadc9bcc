/**
 * Kafka sink (@platformatic/kafka, see client.ts): idempotent producer, acks=all, topic per route from a template, key per
 * record (CDC: first record id, so one record's changes stay ordered in one partition), headers
 * with replay id, channel, schema id, change type and event id; value = the JSON envelope.
 * A batch is acknowledged only when Kafka acknowledged all of it.
 * Exactly-once mode: the batch and the route's replay checkpoint go into one transaction, with a
 * transactional id stable per route, so a restarted bridge fences its previous incarnation and a
 * read_committed consumer sees every event exactly once.
 */
import type { CheckContext } from '../../config/schema.js';
import type { Envelope } from '../../envelope.js';
import { BridgeError, RetriableError } from '../../errors.js';
import { readKafkaTrust } from '../../kafka-connection.js';
import { redactUrl } from '../../log.js';
import type { CheckpointRecord } from '../../positions.js';
import { describeProxy, proxyFor, tunnelAgent } from '../../proxy.js';
import { trustedCas } from '../../tls-ca.js';
import { recordKey } from '../record-key.js';
import type { EventOutcome, Sink, SinkContext } from '../types.js';
import { type Outgoing, pack, recordBytes, tooLarge } from './batching.js';
import { type BytesProducer, createProducer, describe as describeError, isTooLarge, kafkaError, prepareTopics } from './client.js';
import type { KafkaSinkConfig } from './config.js';
import { toRecord } from './record.js';
import { RegistryFormat } from './registry-format.js';
import { SchemaRegistryClient } from './schema-registry.js';

/** The registry's client: its CA, and its own proxy or the environment's (through a CONNECT tunnel). */
function registryClient(r: NonNullable<KafkaSinkConfig['schemaRegistry']>, ctx: SinkContext): SchemaRegistryClient {
  const ca = r.caCertFile ? trustedCas(r.caCertFile, 'schemaRegistry.caCertFile') : null;
  const url = new URL(r.url);
  const proxy = proxyFor(url, { at: `route ${ctx.route} ${ctx.sinkName ?? 'kafka'} schemaRegistry.proxy`, proxy: r.proxy });
  if (proxy)
    ctx.log.info({ registry: redactUrl(r.url), proxy: describeProxy(proxy) }, `schema registry through proxy ${describeProxy(proxy)}`);
  const agent = proxy ? tunnelAgent(proxy, url.protocol === 'https:', ca) : undefined;
  return new SchemaRegistryClient({ url: r.url, username: r.username, password: r.password, ca, agent, timeoutMs: r.timeoutMs });
}

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
export function kafkaSinkProblems(config: KafkaSinkConfig, ctx: CheckContext): string[] {
  const out: string[] = [];
  const sample = config.topic
    .replace(/\{route\}/g, topicSafe(ctx.route.key))
    .replace(/\{org\}|\{channel\}|\{kind\}/g, 'x')
    .slice(0, 249);
  const bad = topicNameProblem(sample);
  if (bad) out.push(`topic: "${config.topic}" gives "${sample}" for route "${ctx.route.key}", ${bad}`);
  if (config.format !== 'json' && !config.schemaRegistry)
    out.push(`format: ${config.format} needs schemaRegistry.url (the Confluent-compatible registry the schemas go to)`);
  if (config.keyFormat === 'avro' && !config.schemaRegistry) out.push('keyFormat: avro needs schemaRegistry.url');
  if (config.format === 'json' && config.schemaRegistry)
    out.push('schemaRegistry: is used only with format avro or json-schema (format is json)');
  if (config.format === 'avro' && config.cloudEvents)
    out.push('cloudEvents: binary mode says content-type application/json; use it with format json or json-schema');
  if (config.exactlyOnce) {
    if (ctx.config.replayStore.type !== 'kafka')
      out.push('exactlyOnce: needs replayStore.type kafka (the checkpoint is written in the same Kafka transaction)');
    if (ctx.route.sinks > 1)
      out.push("exactlyOnce: the exactly-once Kafka sink must be the route's only sink (its checkpoint must not run ahead of other sinks)");
  }
  return out;
}

export class KafkaSink implements Sink {
  private producer: BytesProducer | null = null;
  /** Exactly-once: the transaction begun at open (it fences a previous incarnation), used by the first write. */
  private openTx: Awaited<ReturnType<BytesProducer['beginTransaction']>> | null = null;
  private readonly known = new Set<string>();
  /** Each topic's max.message.bytes, as the broker reports it. */
  private readonly limits = new Map<string, number>();
  /** Topic per (org, channel, kind): the template is applied once, not per event. */
  private readonly topics = new Map<string, string>();

  /** `avro` / `json-schema`: values through the schema registry. */
  private readonly registry: RegistryFormat | null;

  constructor(
    private readonly config: KafkaSinkConfig,
    private readonly ctx: SinkContext,
  ) {
    readKafkaTrust(config, 'kafka sink');
    const r = config.schemaRegistry;
    this.registry = config.format === 'json' || !r ? null : new RegistryFormat(config, registryClient(r, ctx), ctx.payloadSchema, ctx.log);
  }

  /** Record bytes (key, value, headers) the broker acknowledged. */
  private bytesWritten = 0;

  stats(): Record<string, number> {
    return this.registry
      ? { bytesWritten: this.bytesWritten, schemaRegistryCalls: this.registry.registryCalls }
      : { bytesWritten: this.bytesWritten };
  }

  describe(): string {
    const format = this.config.format === 'json' ? '' : ` (${this.config.format} via schema registry)`;
    return `kafka ${this.config.brokers.join(',')} topic ${this.config.topic}${format}${this.config.exactlyOnce ? ' (exactly-once)' : ''}`;
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
    try {
      this.producer = await createProducer(this.config, this.config.exactlyOnce ? this.transactionalId : undefined);
      // Exactly-once: initialising the transactional id fences a killed predecessor and aborts its
      // open transaction before the route reads its checkpoint; otherwise, connect and learn the ids.
      // (-1/-1: "a new producer"; the library would otherwise send 0/0 and be refused as fenced.)
      if (this.config.exactlyOnce) this.openTx = await this.producer.beginTransaction({ producerId: -1n, producerEpoch: -1 });
      else await this.producer.initIdempotentProducer({});
    } catch (err) {
      throw new BridgeError('KAFKA_UNAVAILABLE', `kafka sink: cannot connect to ${this.config.brokers.join(',')}: ${describeError(err)}`);
    }
  }

  /** Create missing topics (createTopics) and learn each topic's max.message.bytes, once per topic. */
  private async ensureTopics(topics: string[]): Promise<void> {
    const missing = topics.filter((t) => !this.known.has(t));
    if (missing.length === 0) return;
    const { limits, unread } = await prepareTopics(this.config, missing);
    for (const [t, v] of limits) {
      this.limits.set(t, v);
      this.known.add(t);
    }
    for (const t of unread) {
      this.known.add(t);
      this.ctx.log.warn(
        { topic: t, maxBatchBytes: this.config.maxBatchBytes },
        "kafka sink: cannot read the topic's max.message.bytes; batches stay under maxBatchBytes",
      );
    }
    // Topics the broker will auto-create on first write are absent from both: learnt next time.
  }

  async write(batch: readonly Envelope[], checkpoint?: CheckpointRecord): Promise<EventOutcome[]> {
    const producer = this.producer;
    if (!producer) throw new RetriableError('KAFKA_UNAVAILABLE', 'kafka sink is not connected');
    const outcomes: EventOutcome[] = batch.map(() => ({ status: 'delivered' }));
    const records = this.registry ? await this.encoded(batch, this.registry, outcomes) : this.plain(batch);
    try {
      await this.ensureTopics([...new Set(records.map((r) => r.topic))]);
    } catch (err) {
      throw kafkaError(err);
    }
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
      for (const r of fits) this.bytesWritten += r.bytes;
      return outcomes;
    }
    await this.sendInOrder(producer, pack(fits, limit), outcomes, limit);
    return outcomes;
  }

  private plain(batch: readonly Envelope[]): Outgoing[] {
    return batch.map((e, index) => {
      const topic = this.topicOf(e);
      const message = toRecord(e, topic, this.config.key, this.config.cloudEvents);
      return { index, topic, message, bytes: recordBytes(message) };
    });
  }

  /**
   * Registry formats: each value framed with its schema id. An event whose schema the registry
   * refuses gets that outcome, and everything after it waits (retry), so nothing passes it.
   */
  private async encoded(batch: readonly Envelope[], format: RegistryFormat, outcomes: EventOutcome[]): Promise<Outgoing[]> {
    const out: Outgoing[] = [];
    let refused = false;
    for (let index = 0; index < batch.length; index++) {
      const e = batch[index] as Envelope;
      const topic = this.topicOf(e);
      const enc = await format.encode(e, topic, recordKey(this.config.key, e));
      if ('outcome' in enc) {
        // Every event that needs a refused version says so at once (a dead-letter route sets them
        // all aside in one pass); the others after the first refusal wait for the next attempt.
        outcomes[index] = enc.outcome;
        refused = true;
      } else if (refused) outcomes[index] = { status: 'retry', error: 'held back behind an event whose schema was refused' };
      else {
        const message = toRecord(e, topic, this.config.key, this.config.cloudEvents, enc);
        out.push({ index, topic, message, bytes: recordBytes(message) });
      }
    }
    return out;
  }

  private topicOf(e: Envelope): string {
    const k = `${e.org}\n${e.channel}\n${e.kind}`;
    let topic = this.topics.get(k);
    if (topic === undefined) {
      topic = topicFor(this.config.topic, e, this.ctx.route);
      if (this.topics.size < 1024) this.topics.set(k, topic);
    }
    return topic;
  }

  /** Requests one after another; a failure reports it and everything after it as not delivered. */
  private async sendInOrder(
    producer: BytesProducer,
    chunks: Outgoing[][],
    outcomes: EventOutcome[],
    limit: (t: string) => number,
  ): Promise<void> {
    const queue = [...chunks];
    while (queue.length > 0) {
      const chunk = queue.shift() as Outgoing[];
      try {
        await producer.send({ messages: chunk.map((r) => r.message) });
        for (const r of chunk) this.bytesWritten += r.bytes;
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
            error: `${this.oversizeText(r, limit(r.topic))} (the broker said: ${describeError(err)})`,
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
  private async sendTransaction(producer: BytesProducer, chunks: Outgoing[][], checkpoint: CheckpointRecord | undefined): Promise<void> {
    // `check` pairs this sink with the Kafka replay store; anything else is a bug, never a silent non-commit.
    if (checkpoint && checkpoint.kind !== 'kafka') throw new TypeError(`the Kafka sink cannot write a ${checkpoint.kind} checkpoint`);
    try {
      const tx = this.openTx ?? (await producer.beginTransaction());
      this.openTx = null;
      try {
        for (const chunk of chunks) await tx.send({ messages: chunk.map((r) => r.message) });
        if (checkpoint)
          await tx.send({
            messages: [{ topic: checkpoint.topic, key: Buffer.from(checkpoint.key), value: Buffer.from(checkpoint.value) }],
          });
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
    await this.openTx?.cancel().catch(() => undefined);
    this.openTx = null;
    await this.producer?.close().catch(() => undefined);
    this.producer = null;
  }
}
