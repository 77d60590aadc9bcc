/**
 * One route: a subscription feeding its sinks. The route
 * - hands every batch to every sink writer and tracks, per batch, how many sinks still owe an ack;
 * - commits the replay id of the newest event such that it and everything before it was acked by
 *   all sinks (stream order, never by comparing replay ids, which are opaque);
 * - bounds memory with credits: the subscriber may hold at most `maxInFlight` unacknowledged events;
 * - group-commits positions (every `commitIntervalMs` or `commitMaxEvents`, whichever comes first).
 */

import type { DeadLetterStore } from '../deadletter/types.js';
import { type Envelope, hasPosition } from '../envelope.js';
import { BridgeError, errorMessage, isRetriable } from '../errors.js';
import type { Logger } from '../log.js';
import type { CheckpointRecord, CommitRequest, StoredPosition } from '../positions.js';
import type { Lease } from '../replay/lease.js';
import type { ReplayStore } from '../replay/types.js';
import { backoffDelay, DEFAULT_BACKOFF } from '../retry.js';
import type { OutagePolicy, Sink } from '../sinks/types.js';
import type { Subscriber, SubscriberContext } from '../subscribers/types.js';
import { type SinkStatus, SinkWriter } from './sink-writer.js';

export interface RouteOptions {
  key: string;
  subscriber: Subscriber;
  sinks: Array<{ name: string; sink: Sink; concurrency?: number }>;
  store: ReplayStore;
  /** HA: the lease this route runs under; commits carry it so a stale owner is fenced off. */
  lease?: Lease;
  /** HA: false once this instance may no longer deliver (lease not renewed in time). */
  mayWrite?: () => boolean;
  /** Where a dead-letter route sets aside what a sink could not take in time. */
  deadLetters?: DeadLetterStore;
  outage?: OutagePolicy;
  maxInFlight: number;
  maxBatchEvents: number;
  commitIntervalMs: number;
  commitMaxEvents: number;
  log: Logger;
}

export type RouteState = 'idle' | 'running' | 'draining' | 'stopped' | 'ended' | 'failed' | 'standby';

export interface RouteStatus {
  key: string;
  state: RouteState;
  source: string;
  sourceStats: Record<string, number>;
  eventsReceived: number;
  eventsAcked: number;
  eventsCommitted: number;
  inFlight: number;
  maxInFlight: number;
  maxInFlightSeen: number;
  creditViolations: number;
  committed: StoredPosition | null;
  commitFailures: number;
  error: string | null;
  sinks: SinkStatus[];
}

interface Entry {
  seq: number;
  count: number;
  /** Position after this batch; null when the batch holds only markers (nothing to commit). */
  replayId: string | null;
  eventTime: string | null;
  /** Sinks that have not acknowledged this batch yet. */
  pending: number;
}

export class Route {
  readonly key: string;
  private state: RouteState = 'idle';
  private readonly writers: SinkWriter[];
  private readonly entries = new Map<number, Entry>();
  private nextSeq = 0;
  private headSeq = 0;
  private inFlight = 0;
  private maxInFlightSeen = 0;
  private creditViolations = 0;
  private withheldCredit = 0;
  private received = 0;
  private acked = 0;
  private committedEvents = 0;
  private eventsSinceCommit = 0;
  private committable: CommitRequest | null = null;
  /** The request object last written to the store (identity tells whether there is news). */
  private lastWritten: CommitRequest | null = null;
  private committed: StoredPosition | null = null;
  private committing: Promise<void> | null = null;
  private commitTimer: NodeJS.Timeout | null = null;
  private commitFailures = 0;
  private storeDown = false;
  private error: string | null = null;
  private endRequested = false;
  /** The route's only sink commits positions in its own transactions (see sinks/types.ts). */
  private readonly atomic: boolean;
  /** The position the atomic sink committed last. */
  private atomicCommitted: StoredPosition | null = null;
  private settled!: (state: RouteState) => void;
  /** Resolves when the route ends, fails or is stopped. */
  readonly done: Promise<RouteState>;
  private changeWaiters: Array<() => void> = [];

  constructor(private readonly opts: RouteOptions) {
    this.key = opts.key;
    this.done = new Promise((resolve) => {
      this.settled = resolve;
    });
    this.atomic = opts.sinks.length === 1 && opts.sinks[0]?.sink.atomicCheckpoints === true;
    const checkpointFor = this.atomic ? (events: readonly Envelope[]) => this.checkpointFor(events) : undefined;
    this.writers = opts.sinks.map(
      (s) =>
        new SinkWriter(
          s.sink,
          {
            name: s.name,
            route: opts.key,
            maxBatchEvents: opts.maxBatchEvents,
            concurrency: s.concurrency ?? 1,
            mayWrite: opts.mayWrite,
            deadLetters: opts.deadLetters,
            outage: opts.outage,
            checkpointFor,
          },
          (seq, committed) => this.onSinkAck(seq, committed),
          (err) => this.failRoute(err),
          opts.log,
        ),
    );
  }

  async start(): Promise<void> {
    if (this.atomic && !this.opts.store.checkpointRecord) {
      throw new BridgeError(
        'CONFIG',
        `${this.opts.sinks[0]?.name}: commits positions in its own transactions, which needs a replay store that can hand it a checkpoint record (replayStore.type kafka)`,
      );
    }
    const from = await this.opts.store.load(this.key);
    this.committed = from ?? null;
    this.state = 'running';
    this.opts.log.info(
      { source: this.opts.subscriber.describe(), from: from?.replayId ?? null },
      from ? 'route starting from stored position' : 'route starting with no stored position',
    );
    const ctx: SubscriberContext = {
      key: this.key,
      from,
      emit: (events) => this.onEmit(events),
      checkpoint: (replayId, eventTime) => this.onCheckpoint(replayId, eventTime),
      end: () => this.onEnd(),
      fail: (err) => this.failRoute(err),
      deadLetter: this.opts.deadLetters
        ? async (entries) => {
            await (this.opts.deadLetters as DeadLetterStore).add(entries);
          }
        : undefined,
      log: this.opts.log,
    };
    await this.opts.subscriber.start(ctx);
    this.opts.subscriber.request(this.opts.maxInFlight);
  }

  status(): RouteStatus {
    return {
      key: this.key,
      state: this.state,
      source: this.opts.subscriber.describe(),
      sourceStats: this.opts.subscriber.stats?.() ?? {},
      eventsReceived: this.received,
      eventsAcked: this.acked,
      eventsCommitted: this.committedEvents,
      inFlight: this.inFlight,
      maxInFlight: this.opts.maxInFlight,
      maxInFlightSeen: this.maxInFlightSeen,
      creditViolations: this.creditViolations,
      committed: this.committed,
      commitFailures: this.commitFailures,
      error: this.error,
      sinks: this.writers.map((w) => w.status()),
    };
  }

  /**
   * Graceful stop: no more fetching, wait (up to `timeoutMs`) for in-flight events to reach every
   * sink, commit what was acknowledged. Returns true when everything in flight was drained.
   */
  async stop(timeoutMs: number): Promise<boolean> {
    if (this.state === 'stopped') return true;
    if (this.state === 'running') this.state = 'draining';
    await this.opts.subscriber.stop().catch((err) => {
      this.opts.log.warn({ err }, 'subscriber did not stop cleanly');
    });
    const deadline = Date.now() + timeoutMs;
    while (this.entries.size > 0 && Date.now() < deadline && this.state !== 'failed') {
      await this.waitForChange(deadline - Date.now());
    }
    const drained = this.entries.size === 0;
    for (const w of this.writers) w.stop();
    await this.flushCommit();
    if (!drained) {
      this.opts.log.warn(
        { unacknowledgedEvents: this.inFlight },
        'drain timeout: unacknowledged events will be replayed from the committed position on next start',
      );
    }
    if (this.state !== 'failed' && this.state !== 'ended') this.state = 'stopped';
    this.settled(this.state);
    return drained;
  }

  private onEmit(events: Envelope[]): void {
    if (events.length === 0) return;
    if (this.state !== 'running' && this.state !== 'draining') return;
    // Markers (replay-gap) carry no position: commit the last real event of the batch, if any.
    let last: Envelope | undefined;
    for (let i = events.length - 1; i >= 0 && !last; i--) if (hasPosition(events[i] as Envelope)) last = events[i];
    const seq = this.nextSeq++;
    this.entries.set(seq, {
      seq,
      count: events.length,
      replayId: last?.replayId ?? null,
      eventTime: last?.eventTime ?? null,
      pending: this.writers.length,
    });
    this.received += events.length;
    this.inFlight += events.length;
    if (this.inFlight > this.maxInFlightSeen) this.maxInFlightSeen = this.inFlight;
    if (this.inFlight > this.opts.maxInFlight) {
      // A subscriber bug, never expected: keep the events (losing them is worse) but say so.
      this.creditViolations++;
      this.opts.log.error(
        { inFlight: this.inFlight, maxInFlight: this.opts.maxInFlight },
        'subscriber emitted more events than its credit',
      );
    }
    if (this.writers.length === 0) {
      this.onSinkAck(seq);
      return;
    }
    for (const w of this.writers) w.enqueue({ seq, events });
  }

  private onCheckpoint(replayId: string, eventTime: string | null): void {
    if (this.state !== 'running' && this.state !== 'draining') return;
    const seq = this.nextSeq++;
    this.entries.set(seq, { seq, count: 0, replayId, eventTime, pending: 0 });
    this.advance();
  }

  /** The commit record for an atomic write: the position of its last positioned event. */
  private checkpointFor(events: readonly Envelope[]): CheckpointRecord | undefined {
    for (let i = events.length - 1; i >= 0; i--) {
      const e = events[i] as Envelope;
      if (hasPosition(e)) return this.opts.store.checkpointRecord?.(this.key, { replayId: e.replayId, eventTime: e.eventTime });
    }
    return undefined;
  }

  private onSinkAck(seq: number, committed?: StoredPosition): void {
    if (committed) {
      this.atomicCommitted = committed;
      this.opts.store.remember?.(committed);
    }
    const entry = this.entries.get(seq);
    if (!entry || entry.pending === 0) return;
    entry.pending--;
    if (entry.pending > 0) return;
    this.inFlight -= entry.count;
    this.acked += entry.count;
    this.returnCredit(entry.count);
    this.advance();
  }

  /** Pop every fully acknowledged entry at the head: the commit position moves in stream order. */
  private advance(): void {
    let moved = false;
    for (;;) {
      const head = this.entries.get(this.headSeq);
      if (!head) {
        if (this.headSeq < this.nextSeq) {
          this.headSeq++;
          continue;
        }
        break;
      }
      if (head.pending > 0) break;
      this.entries.delete(this.headSeq);
      this.headSeq++;
      if (head.replayId !== null) this.committable = { replayId: head.replayId, eventTime: head.eventTime };
      this.eventsSinceCommit += head.count;
      moved = true;
    }
    if (moved) this.scheduleCommit();
    this.notifyChange();
    if (this.endRequested && this.entries.size === 0) void this.finishEnded();
  }

  private returnCredit(n: number): void {
    if (n === 0) return;
    if (this.storeDown) {
      this.withheldCredit += n;
      return;
    }
    if (this.state === 'running') this.opts.subscriber.request(n);
  }

  private scheduleCommit(): void {
    if (this.eventsSinceCommit >= this.opts.commitMaxEvents) {
      void this.flushCommit();
      return;
    }
    if (!this.commitTimer) {
      this.commitTimer = setTimeout(() => {
        this.commitTimer = null;
        void this.flushCommit();
      }, this.opts.commitIntervalMs);
      this.commitTimer.unref?.();
    }
  }

  /** Write the newest committable position; one store write at a time, latest wins. */
  private async flushCommit(): Promise<void> {
    if (this.commitTimer) {
      clearTimeout(this.commitTimer);
      this.commitTimer = null;
    }
    while (this.committing) await this.committing;
    const target = this.committable;
    if (!target || target === this.lastWritten) return;
    const events = this.eventsSinceCommit;
    this.eventsSinceCommit = 0;
    // Not cleared inside the async body: when the sink checkpoints (exactly-once), that body runs
    // to the end synchronously, before the assignment below, and `committing` would never clear.
    const commit = (async () => {
      try {
        // An atomic sink already committed the position with its write; a position that no write
        // carried (a keepalive) goes to the store directly, after every write before it committed.
        const viaSink = this.atomic && this.atomicCommitted?.replayId === target.replayId ? this.atomicCommitted : null;
        this.committed = viaSink ?? (await this.opts.store.commit(this.key, target, this.opts.lease));
        this.lastWritten = target;
        this.opts.subscriber.onCommitted?.(this.committed);
        this.committedEvents += events;
        if (this.storeDown) {
          this.storeDown = false;
          this.opts.log.info({}, 'replay store reachable again; resuming');
          const credit = this.withheldCredit;
          this.withheldCredit = 0;
          this.returnCredit(credit);
        }
        this.commitFailures = 0;
      } catch (err) {
        this.eventsSinceCommit += events;
        if (!isRetriable(err)) {
          // Fenced (another instance owns the subscription now) or otherwise permanent: stop.
          this.failRoute(err);
          return;
        }
        this.commitFailures++;
        this.storeDown = true;
        const delay = backoffDelay(this.commitFailures, DEFAULT_BACKOFF);
        this.opts.log.error(
          { attempt: this.commitFailures, retryInMs: delay, error: errorMessage(err) },
          'replay commit failed; fetching paused until the store accepts commits',
        );
        if (this.state === 'running' || this.state === 'draining') {
          this.commitTimer = setTimeout(() => {
            this.commitTimer = null;
            void this.flushCommit();
          }, delay);
          this.commitTimer.unref?.();
        }
      }
    })();
    this.committing = commit;
    try {
      await commit;
    } finally {
      if (this.committing === commit) this.committing = null;
    }
    // A newer position may have become committable while writing.
    if (this.committable !== target && !this.storeDown) this.scheduleCommit();
  }

  private onEnd(): void {
    this.endRequested = true;
    if (this.entries.size === 0) void this.finishEnded();
  }

  private async finishEnded(): Promise<void> {
    if (this.state !== 'running') return;
    this.state = 'ended';
    await this.flushCommit();
    for (const w of this.writers) w.stop();
    this.opts.log.info({ committed: this.committed?.replayId ?? null }, 'route finished (source ended)');
    this.settled('ended');
  }

  private failRoute(err: unknown): void {
    if (this.state === 'failed' || this.state === 'stopped') return;
    this.state = 'failed';
    this.error = errorMessage(err);
    this.opts.log.error({ error: this.error }, 'route failed; nothing past the last acknowledged event is committed');
    for (const w of this.writers) w.stop();
    void this.opts.subscriber.stop().catch(() => undefined);
    void this.flushCommit().finally(() => this.settled('failed'));
    this.notifyChange();
  }

  private waitForChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, Math.max(1, ms));
      const self = this;
      function done() {
        clearTimeout(t);
        resolve();
      }
      self.changeWaiters.push(done);
    });
  }

  private notifyChange(): void {
    const w = this.changeWaiters;
    this.changeWaiters = [];
    for (const f of w) f();
  }
}
