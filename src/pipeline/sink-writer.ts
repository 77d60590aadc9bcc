/**
 * Feeds one sink of one route. Batches queue in stream order; while a write is in flight the next
 * batches wait and are then coalesced into one larger write (natural group commit: one fsync or
 * one Kafka request covers many subscriber batches). What happens when a write fails is decided
 * by the delivery policy (delivery-policy.ts): what was not delivered is retried before anything
 * later is written, so a sink never sees a gap.
 */

import type { DeadLetterStore } from '../deadletter/types.js';
import type { Envelope } from '../envelope.js';
import type { Logger } from '../log.js';
import type { CheckpointRecord, StoredPosition } from '../positions.js';
import type { BackoffOptions } from '../retry.js';
import type { OutagePolicy, Sink } from '../sinks/types.js';
import { DeliveryPolicy } from './delivery-policy.js';

export interface QueuedBatch {
  seq: number;
  events: Envelope[];
}

export interface SinkWriterOptions {
  name: string;
  /** Upper bound of events per write when coalescing queued batches. */
  maxBatchEvents: number;
  /** Writes in flight at once; above 1, acknowledgements may arrive out of order. */
  concurrency: number;
  backoff?: BackoffOptions;
  /** HA: checked before every write; false means this instance may no longer deliver. */
  mayWrite?: () => boolean;
  route?: string;
  /** Where rejected events (and, on dead-letter routes, undeliverable ones) go. */
  deadLetters?: DeadLetterStore;
  outage?: OutagePolicy;
  /** For an `atomicCheckpoints` sink: the route's commit record for a write (its last positioned event). */
  checkpointFor?: (events: readonly Envelope[]) => CheckpointRecord | undefined;
  /** Told how long each sink write took (metrics). */
  observeWrite?: (seconds: number) => void;
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
  stats?: Record<string, number | string | boolean>;
}

export class SinkWriter {
  private readonly queue: QueuedBatch[] = [];
  private active = 0;
  private readonly abort = new AbortController();
  private readonly policy: DeliveryPolicy;
  private eventsWritten = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    readonly sink: Sink,
    private readonly opts: SinkWriterOptions,
    /** `committed`: the position a checkpointing write committed with the batch ending at `seq`. */
    private readonly onAck: (seq: number, committed?: StoredPosition) => void,
    private readonly onFatal: (err: unknown) => void,
    log: Logger,
  ) {
    this.policy = new DeliveryPolicy({
      sink,
      name: opts.name,
      route: opts.route ?? '',
      outage: opts.outage ?? { mode: 'block', afterMs: Number.POSITIVE_INFINITY },
      deadLetters: opts.deadLetters,
      backoff: opts.backoff,
      mayWrite: opts.mayWrite,
      checkpointFor: opts.checkpointFor,
      observeWrite: opts.observeWrite,
      signal: this.abort.signal,
      log,
    });
  }

  enqueue(batch: QueuedBatch): void {
    this.queue.push(batch);
    this.pump();
  }

  /** Stop retrying and writing; whatever is not yet written stays unacknowledged. */
  stop(): void {
    this.abort.abort();
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
      name: this.opts.name,
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
      ...(this.sink.stats ? { stats: this.sink.stats() } : {}),
    };
  }

  private pump(): void {
    while (this.active < this.opts.concurrency && this.queue.length > 0 && !this.abort.signal.aborted) {
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
    const events = take.length === 1 ? (take[0] as QueuedBatch).events : take.flatMap((b) => b.events);
    const r = await this.policy.deliver(events);
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
