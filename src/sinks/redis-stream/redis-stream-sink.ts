/**
 * Redis Streams sink: each event is one `XADD` to its stream; the reply (the entry id) is the
 * acknowledgement, an error reply that event's outcome. A batch goes as one pipeline (one round
 * trip). Commands are not queued while disconnected, so a Redis outage is a retry at once, not
 * memory growing behind a dead connection.
 */
import type { Redis } from 'ioredis';
import { type Envelope, envelopeBytes, payloadJson } from '../../envelope.js';
import { errorMessage, RetriableError } from '../../errors.js';
import { redactUrl } from '../../log.js';
import { Destinations } from '../destination.js';
import type { EventOutcome, Sink, SinkContext } from '../types.js';
import type { RedisStreamSinkConfig } from './config.js';

export class RedisStreamSink implements Sink {
  private redis: Redis | null = null;
  private readonly streams: Destinations;
  private readonly counters = { bytesWritten: 0, entriesAdded: 0 };

  constructor(
    private readonly config: RedisStreamSinkConfig,
    ctx: SinkContext,
  ) {
    this.streams = new Destinations(config.stream, ctx.route);
  }

  describe(): string {
    return `redis-stream ${redactUrl(this.config.url)} stream ${this.config.stream}${this.config.maxLen ? ` (MAXLEN ~${this.config.maxLen})` : ''}`;
  }

  async open(): Promise<void> {
    const { Redis: RedisClient } = await import('ioredis');
    const redis = new RedisClient(this.config.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 10_000,
    });
    redis.on('error', () => undefined); // reported through the commands that fail
    try {
      await redis.connect();
      await redis.ping();
    } catch (err) {
      redis.disconnect();
      throw new RetriableError(
        'SINK_UNAVAILABLE',
        `redis-stream sink: cannot reach ${redactUrl(this.config.url)}: ${errorMessage(err)}`,
        err,
      );
    }
    this.redis = redis;
  }

  async write(batch: readonly Envelope[]): Promise<EventOutcome[] | undefined> {
    const redis = this.redis;
    if (redis?.status !== 'ready')
      throw new RetriableError('SINK_UNAVAILABLE', `redis-stream sink: not connected to ${redactUrl(this.config.url)}`);
    const p = (redis as Redis).pipeline();
    let bytes = 0;
    for (const e of batch) {
      const trim: Array<string | number> = this.config.maxLen ? ['MAXLEN', '~', this.config.maxLen] : [];
      const fields = this.fields(e);
      for (const f of fields) bytes += f.length;
      p.xadd(this.streams.of(e), ...trim, '*', ...fields);
    }
    let replies: Array<[Error | null, unknown]> | null;
    try {
      replies = await p.exec();
    } catch (err) {
      throw new RetriableError('SINK_UNAVAILABLE', `redis-stream sink: ${errorMessage(err)}`, err);
    }
    if (!replies) throw new RetriableError('SINK_UNAVAILABLE', 'redis-stream sink: the pipeline was not run (connection closed)');
    let failed = false;
    const outcomes = replies.map(([err]): EventOutcome => {
      if (!err) return { status: 'delivered' };
      failed = true;
      // WRONGTYPE and the like are the data's or the config's; the rest (OOM, LOADING, connection) pass.
      return /^(WRONGTYPE|ERR)/.test(err.message)
        ? { status: 'rejected', error: `redis-stream sink: ${err.message}` }
        : { status: 'retry', error: `redis-stream sink: ${err.message}` };
    });
    this.counters.bytesWritten += bytes;
    this.counters.entriesAdded += outcomes.filter((o) => o.status === 'delivered').length;
    return failed ? outcomes : undefined;
  }

  /** The entry's field/value pairs. */
  private fields(e: Envelope): Array<string | Buffer> {
    if (this.config.layout === 'envelope') return ['envelope', envelopeBytes(e)];
    return ['replay-id', e.replayId, 'event-id', e.eventId, 'channel', e.channel, 'kind', e.kind, 'payload', payloadJson(e)];
  }

  async drain(): Promise<void> {}

  async close(): Promise<void> {
    this.redis?.disconnect();
    this.redis = null;
  }

  stats(): Record<string, number> {
    return { ...this.counters };
  }
}
