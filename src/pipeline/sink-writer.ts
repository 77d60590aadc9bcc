/**
 * Feeds one sink of one route. Batches queue in stream order; while a write is in flight the next
 * batches wait and are then coalesced into one larger write (natural group commit: one fsync or
 * one Kafka request covers many subscriber batches). What happens when a write fails is decided
 * by the delivery policy (delivery-policy.ts): what was not delivered is retried before anything
 * later is written, so a sink never sees a gap.
 */

import type { Envelope } from '../envelope.js';
import type { StoredPosition } from '../positions.js';
import type { Shape } from '../shaping/shape.js';
import type { Sink } from '../sinks/types.js';
import type { DeliveryPolicy } from './delivery-policy.js';

export interface QueuedBatch {
  seq: number;
  events: Envelope[];
}

export interface SinkWriterOptions {
  /** Upper bound of events per write when coalescing queued batches. */
  maxBatchEvents: number;
  /** Writes in flight at once; above 1, acknowledgements may arrive out of order. */
  concurrency: number;
  /** The route's and the sink's shaping (filters, fields, transforms), if any. */
  shape?: Shape | null;
}

export interface SinkStatus {
  name: string;
  description: string;
  queuedBatches: number;
  writesInFlight: number;
  failing: boolean;
  consecutiveFailures: number;
  lastError: string | null;
  eventsWritten: number;
  eventsDeadLettered: number;
  /** Events a write did not deliver (each attempt counts; retried ones may still arrive). */
  eventsFailed: number;
  /** Events waiting for their next retry now. */
  awaitingRetry: number;
  /** When the current run of failures began (ISO), or null. */
  failingSince: string | null;
  retries: number;
  /** Shaping: events filtered out (acknowledged without a write) and events an expression threw on. */
  eventsFiltered?: number;
  eventsUnshaped?: number;
  stats?: Record<string, number | string | boolean>;
}

export class SinkWriter {
  private readonly queue: QueuedBatch[] = [];
  private active = 0;
  private eventsWritten = 0;
  private eventsFiltered = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    /** What happens after each write (retries, dead letters, stopping the route): one place. */
    private readonly policy: DeliveryPolicy,
    private readonly opts: SinkWriterOptions,
    /** `committed`: the position a checkpointing write committed with the batch ending at `seq`. */
    private readonly onAck: (seq: number, committed?: StoredPosition) => void,
    private readonly onFatal: (err: unknown) => void,
  ) {}

  get sink(): Sink {
    return this.policy.sink;
  }

  enqueue(batch: QueuedBatch): void {
    this.queue.push(batch);
    this.pump();
  }

  /** Stop retrying and writing; whatever is not yet written stays unacknowledged. */
  stop(): void {
    this.policy.stop();
    this.queue.length = 0;
    this.notifyIdle();
  }

  isIdle(): boolean {
    return this.active === 0 && this.queue.length === 0;
  }

  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  status(): SinkStatus {
    return {
      name: this.policy.name,
      description: this.sink.describe(),
      queuedBatches: this.queue.length,
      writesInFlight: this.active,
      failing: this.policy.consecutiveFailures > 0,
      consecutiveFailures: this.policy.consecutiveFailures,
      lastError: this.policy.lastError,
      eventsWritten: this.eventsWritten,
      eventsDeadLettered: this.policy.eventsDeadLettered,
      eventsFailed: this.policy.eventsFailed,
      awaitingRetry: this.policy.awaitingRetry,
      failingSince: this.policy.failingSince,
      retries: this.policy.retries,
      ...(this.opts.shape ? { eventsFiltered: this.eventsFiltered, eventsUnshaped: this.policy.eventsUnshaped } : {}),
      ...(this.sink.stats ? { stats: this.sink.stats() } : {}),
    };
  }

  private pump(): void {
    while (this.active < this.opts.concurrency && this.queue.length > 0 && !this.policy.stopped) {
      const take: QueuedBatch[] = [];
      let count = 0;
      while (this.queue.length > 0) {
        const next = this.queue[0] as QueuedBatch;
        if (take.length > 0 && count + next.events.length > this.opts.maxBatchEvents) break;
        take.push(next);
        count += next.events.length;
        this.queue.shift();
      }
      this.active++;
      // Anything thrown on the way (a dead-letter store missing, a bug) fails the route: never an
      // unhandled rejection that leaves it "running".
      void this.deliver(take)
        .catch((err) => this.onFatal(err))
        .finally(() => {
          this.active--;
          this.pump();
          if (this.isIdle()) this.notifyIdle();
        });
    }
  }

  private async deliver(take: QueuedBatch[]): Promise<void> {
    let events = take.length === 1 ? (take[0] as QueuedBatch).events : take.flatMap((b) => b.events);
    if (this.opts.shape) {
      const shaped = await this.opts.shape.apply(events);
      this.eventsFiltered += shaped.filtered;
      if (shaped.failed.length > 0) {
        const set = await this.policy.setAside(shaped.failed);
        if ('fatal' in set) return this.onFatal(set.fatal);
        if ('aborted' in set) return;
      }
      events = shaped.out;
    }
    // Filtered out to the last event: nothing to write, the batch is acknowledged all the same.
    const r = events.length > 0 ? await this.policy.deliver(events) : { done: true as const, committed: undefined };
    if ('fatal' in r) {
      this.onFatal(r.fatal);
      return;
    }
    if ('aborted' in r) return; // stopping: what is not acknowledged is replayed on the next start
    this.eventsWritten += events.length;
    for (let i = 0; i < take.length; i++) this.onAck((take[i] as QueuedBatch).seq, i === take.length - 1 ? r.committed : undefined);
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
