/**
 * Kafka source: a consumer-group member (@platformatic/kafka, the client the Kafka sink uses)
 * reading its assigned partitions from the group's committed offsets. Records are handed on
 * within the route's credit, in partition order; the stream pauses when no credit is left. Once
 * the route committed a position (every sink acknowledged), `onCommitted` commits those offsets
 * to the group, one commit at a time; `close` waits for the last one before leaving the group.
 * A value that is not JSON is dead-lettered raw and a stand-in goes on in its place.
 */
import type { Consumer, Message, MessagesStream } from '@platformatic/kafka';
import { ENVELOPE_VERSION, type Envelope } from '../../envelope.js';
import { BridgeError, errorMessage } from '../../errors.js';
import { kafkaClientOptions, readKafkaTrust, withConnectionHint } from '../../kafka-connection.js';
import type { StoredPosition } from '../../positions.js';
import { backoffDelay, sleep } from '../../retry.js';
import type { Subscriber, SubscriberContext } from '../types.js';
import { undecodable } from '../undecodable.js';
import type { KafkaSubscriberConfig } from './config.js';
import { OffsetVector, parseOffsets } from './offsets.js';

type BytesMessage = Message<Buffer, Buffer, Buffer, Buffer>;

export class KafkaSubscriber implements Subscriber {
  private ctx!: SubscriberContext;
  private consumer: Consumer<Buffer, Buffer, Buffer, Buffer> | null = null;
  private stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | null = null;
  private readonly buffered: BytesMessage[] = [];
  private readonly vector = new OffsetVector();
  private credit = 0;
  private stopped = false;
  private readonly abort = new AbortController();
  private pumping = false;
  /** Group commits run one after another; the last committed offset per partition. */
  private commitChain: Promise<void> = Promise.resolve();
  private readonly groupCommitted = new Map<string, bigint>();
  private readonly counts = { received: 0, groupCommits: 0, groupCommitErrors: 0, notJson: 0 };

  constructor(private readonly c: KafkaSubscriberConfig) {
    readKafkaTrust(c, 'kafka source');
  }

  describe(): string {
    return `Kafka ${this.c.topics.join(', ')} on ${this.c.brokers.join(',')} (group ${this.c.groupId}${this.c.read_committed ? ', read_committed' : ''})`;
  }

  stats(): Record<string, number> {
    return { ...this.counts, buffered: this.buffered.length, subscribed: this.stream ? 1 : 0 };
  }

  async start(ctx: SubscriberContext): Promise<void> {
    this.ctx = ctx;
    if (ctx.from) parseOffsets(ctx.from.replayId); // a position of another source type is refused here, loudly
    const { Consumer, MessagesStreamModes } = await import('@platformatic/kafka');
    this.consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
      ...kafkaClientOptions(this.c, 'kafka source'),
      groupId: this.c.groupId,
      sessionTimeout: this.c.sessionTimeoutMs,
      ...(this.c.groupInstanceId === null ? {} : { groupInstanceId: this.c.groupInstanceId ?? `sfbridge-${this.c.groupId}` }),
      autocommit: false,
    });
    this.consumer.on('consumer:group:rebalance', () => ctx.log.info({ group: this.c.groupId }, 'Kafka source: the group is rebalancing'));
    void this.join(MessagesStreamModes.COMMITTED);
  }

  /** Join the group and read; a topic that does not exist yet (or a broker that is down) is waited for, said once per attempt. */
  private async join(mode: 'committed'): Promise<void> {
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        const consumer = this.consumer as Consumer<Buffer, Buffer, Buffer, Buffer>;
        // The cluster first: a refused login or an untrusted certificate fails here in seconds,
        // where joining the group retries its own retries and says nothing for 45 s.
        await consumer.metadata({ topics: [] });
        this.stream = await consumer.consume({
          topics: this.c.topics,
          mode,
          fallbackMode: this.c.initial === 'latest' ? 'latest' : 'earliest',
          autocommit: false,
          isolationLevel: this.c.read_committed ? 1 : 0,
          maxWaitTime: 200,
          // The library's defaults (50 MB a fetch, 1,024 records buffered) would hold far more
          // than the route may take: a fetch of 8 MB and one batch of records bound memory.
          maxBytes: 8 * 1024 * 1024,
          highWaterMark: this.c.batchSize,
        });
        break;
      } catch (err) {
        const delay = backoffDelay(attempt, { initialMs: 1000, maxMs: 30_000 });
        this.ctx.log.warn(
          { group: this.c.groupId, topics: this.c.topics, retryInMs: delay, error: errorMessage(err) },
          `Kafka source: cannot join group ${this.c.groupId} on ${this.c.brokers.join(',')} (${withConnectionHint(errorMessage(err), err)}); trying again`,
        );
        await sleep(delay, this.abort.signal);
      }
    }
    const stream = this.stream;
    if (!stream || this.stopped) return;
    this.ctx.log.info({ group: this.c.groupId, topics: this.c.topics }, 'Kafka source: reading');
    stream.on('data', (m: BytesMessage) => {
      this.buffered.push(m);
      // Hold at most one batch beyond what the route may take: memory stays bounded.
      if (this.buffered.length >= this.c.batchSize) stream.pause();
      this.pump();
    });
    stream.on('error', (err: Error) => {
      if (!this.stopped) this.ctx.fail(new BridgeError('KAFKA_SOURCE', `Kafka source: ${errorMessage(err)}`, { retriable: true }));
    });
  }

  request(n: number): void {
    this.credit += n;
    this.pump();
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    void this.emitReady()
      .catch((err) => this.ctx.fail(err as Error))
      .finally(() => {
        this.pumping = false;
        if (this.stopped) return;
        if (this.credit > 0 && this.buffered.length > 0) this.pump();
        else if (this.buffered.length < this.c.batchSize) this.stream?.resume();
      });
  }

  private async emitReady(): Promise<void> {
    while (!this.stopped && this.credit > 0 && this.buffered.length > 0) {
      const take = this.buffered.splice(0, Math.min(this.credit, this.c.batchSize));
      this.credit -= take.length;
      const now = new Date().toISOString();
      const out: Envelope[] = [];
      for (const m of take) {
        const e = this.envelope(m, now);
        if ('deadLetter' in e) {
          // Durable before anything after it can be committed.
          await this.ctx.deadLetter?.([e.deadLetter]);
          out.push(e.marker);
        } else out.push(e);
      }
      this.counts.received += out.length;
      this.ctx.emit(out);
    }
  }

  private envelope(m: BytesMessage, now: string): Envelope | ReturnType<typeof undecodable> {
    const replayId = this.vector.advance(m.topic, m.partition, m.offset);
    const eventId = `${m.topic}/${m.partition}/${m.offset}`;
    const channel = `kafka:${m.topic}`;
    let payload: unknown;
    try {
      payload = JSON.parse(m.value.toString('utf8'));
    } catch (err) {
      this.counts.notJson++;
      const u = undecodable({
        route: this.ctx.key,
        org: 'kafka',
        channel,
        replayId,
        eventId,
        schemaId: null,
        kind: 'generic',
        raw: m.value,
        error: `the record's value is not JSON: ${errorMessage(err)}`,
        receivedAt: now,
      });
      return u;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of m.headerEntries) headers[k.toString('utf8')] = v.toString('utf8');
    return {
      v: ENVELOPE_VERSION,
      org: 'kafka',
      channel,
      replayId,
      eventId,
      schemaId: null,
      eventTime: new Date(Number(m.timestamp)).toISOString(),
      receivedAt: now,
      kind: 'generic',
      payload,
      kafka: { topic: m.topic, partition: m.partition, offset: String(m.offset), key: m.key ? m.key.toString('utf8') : null, headers },
    };
  }

  /** The route committed: commit the same offsets to the group (only partitions that moved). */
  onCommitted(position: StoredPosition): void {
    const offsets = parseOffsets(position.replayId).filter((p) => (this.groupCommitted.get(`${p.topic}:${p.partition}`) ?? -1n) < p.offset);
    if (offsets.length === 0 || !this.consumer) return;
    const consumer = this.consumer;
    this.commitChain = this.commitChain.then(async () => {
      try {
        await consumer.commit({ offsets: offsets.map((p) => ({ ...p, leaderEpoch: -1 })) });
        for (const p of offsets) this.groupCommitted.set(`${p.topic}:${p.partition}`, p.offset);
        this.counts.groupCommits++;
      } catch (err) {
        // Not lost: the next commit carries these offsets too, and a restart reads them again (duplicates only).
        this.counts.groupCommitErrors++;
        this.ctx.log.warn(
          { group: this.c.groupId, error: errorMessage(err) },
          'Kafka source: committing offsets to the group failed; the next commit carries them',
        );
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.stream?.pause();
  }

  async close(): Promise<void> {
    this.stopped = true;
    await this.commitChain;
    await this.stream?.close().catch(() => undefined);
    await this.consumer?.close().catch(() => undefined);
    this.stream = null;
    this.consumer = null;
  }
}
