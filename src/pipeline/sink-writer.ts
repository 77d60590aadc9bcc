/**
 * Feeds one sink of one route. Batches queue in stream order; while a write is in flight the next
 * batches wait and are then coalesced into one larger write (natural group commit: one fsync or
 * one Kafka request covers many subscriber batches). A failed write is retried with backoff, the
 * same events again, before anything later is written — so a sink never sees a gap.
 */

import { type DeadLetterStore, deadLettersFor } from '../deadletter/types.js';
import type { Envelope } from '../envelope.js';
import { BridgeError, errorMessage, isRetriable } from '../errors.js';
import type { Logger } from '../log.js';
import type { CheckpointRecord, StoredPosition } from '../positions.js';
import { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF, sleep } from '../retry.js';
import type { OutagePolicy, Sink } from '../sinks/types.js';

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
  /** dead-letter outage mode: a write failing for longer than `afterMs` is dead-lettered and acknowledged. */
  deadLetters?: DeadLetterStore;
  outage?: OutagePolicy;
  /** For an `atomicCheckpoints` sink: the route's commit record for a write (its last positioned event). */
  checkpointFor?: (events: readonly Envelope[]) => CheckpointRecord | undefined;
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
  stats?: Record<string, number | string | boolean>;
}

export class SinkWriter {
  private readonly queue: QueuedBatch[] = [];
  private active = 0;
  private readonly abort = new AbortController();
  private consecutiveFailures = 0;
  private lastError: string | null = null;
  private eventsWritten = 0;
  private eventsDeadLettered = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    readonly sink: Sink,
    private readonly opts: SinkWriterOptions,
    /** `committed`: the position a checkpointing write committed with the batch ending at `seq`. */
    private readonly onAck: (seq: number, committed?: StoredPosition) => void,
    private readonly onFatal: (err: unknown) => void,
    private readonly log: Logger,
  ) {}

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
      failing: this.consecutiveFailures > 0,
      consecutiveFailures: this.consecutiveFailures,
      lastError: this.lastError,
      eventsWritten: this.eventsWritten,
      eventsDeadLettered: this.eventsDeadLettered,
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
      void this.deliver(take).finally(() => {
        this.active--;
        this.pump();
        if (this.isIdle()) this.notifyIdle();
      });
    }
  }

  private async deliver(take: QueuedBatch[]): Promise<void> {
    const events = take.length === 1 ? (take[0] as QueuedBatch).events : take.flatMap((b) => b.events);
    const firstFailure = { at: 0 };
    for (let attempt = 1; !this.abort.signal.aborted; attempt++) {
      if (this.opts.mayWrite && !this.opts.mayWrite()) {
        this.onFatal(new BridgeError('FENCED', 'this instance no longer holds the lease of the route; not writing'));
        return;
      }
      try {
        const checkpoint = this.opts.checkpointFor?.(events);
        await this.sink.write(events, checkpoint);
        if (this.consecutiveFailures > 0) {
          this.log.info({ sink: this.opts.name, attempts: attempt }, 'sink recovered');
        }
        this.consecutiveFailures = 0;
        this.eventsWritten += events.length;
        for (let i = 0; i < take.length; i++)
          this.onAck((take[i] as QueuedBatch).seq, i === take.length - 1 ? checkpoint?.stored : undefined);
        return;
      } catch (err) {
        this.consecutiveFailures++;
        this.lastError = errorMessage(err);
        firstFailure.at ||= Date.now();
        if (!isRetriable(err)) {
          this.log.error({ sink: this.opts.name, err }, 'sink failed permanently; stopping route');
          this.onFatal(err);
          return;
        }
        const outage = this.opts.outage;
        if (outage?.mode === 'dead-letter' && this.opts.deadLetters && Date.now() - firstFailure.at >= outage.afterMs) {
          if (await this.deadLetter(events, attempt, firstFailure.at)) {
            for (const b of take) this.onAck(b.seq);
            return;
          }
        }
        const delay = backoffDelay(attempt, this.opts.backoff ?? DEFAULT_BACKOFF);
        this.log.warn(
          { sink: this.opts.name, attempt, retryInMs: delay, events: events.length, error: this.lastError },
          'sink write failed; holding the replay commit and retrying',
        );
        await sleep(delay, this.abort.signal);
      }
    }
  }

  /** Dead-letter a batch the sink could not take for `outage.afterMs`; false if the store failed too. */
  private async deadLetter(events: Envelope[], attempts: number, firstFailedAt: number): Promise<boolean> {
    try {
      await (this.opts.deadLetters as DeadLetterStore).add(
        deadLettersFor(
          this.opts.route ?? '',
          this.opts.name,
          events,
          `sink down for longer than sinkOutage.after; last error: ${this.lastError}`,
          attempts,
          new Date(firstFailedAt).toISOString(),
        ),
      );
    } catch (err) {
      this.log.error({ sink: this.opts.name, error: errorMessage(err) }, 'dead-letter store write failed; still holding the events');
      return false;
    }
    this.eventsDeadLettered += events.length;
    this.log.error(
      { sink: this.opts.name, events: events.length, attempts },
      'sink down for longer than sinkOutage.after: events dead-lettered (sfbridge dlq replay delivers them later)',
    );
    return true;
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
