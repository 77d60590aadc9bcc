/**
 * One route: a subscription feeding its sinks. It hands every batch to every sink writer, has the newest position
 * all sinks acknowledged in stream order (checkpoint-tracker.ts) committed (commit-scheduler.ts, or by an atomic
 * sink), and bounds memory with credit: at most `maxInFlight` unacknowledged events, none new while positions cannot be stored.
 */

import { ChangeSignal } from '../change-signal.js';
import { type Envelope, lastPosition } from '../envelope.js';
import { errorMessage } from '../errors.js';
import type { CheckpointRecord, CommitRequest, StoredPosition } from '../positions.js';
import type { SubscriberContext } from '../subscribers/types.js';
import { CheckpointTracker } from './checkpoint-tracker.js';
import { CommitScheduler } from './commit-scheduler.js';
import { DeliveryPolicy } from './delivery-policy.js';
import type { RouteOptions, RouteState, RouteStatus } from './route-types.js';
import { SinkWriter } from './sink-writer.js';

export type { RouteOptions, RouteState, RouteStatus } from './route-types.js';

export class Route {
  readonly key: string;
  private state: RouteState = 'idle';
  private readonly writers: SinkWriter[];
  private readonly tracker = new CheckpointTracker();
  private readonly commits: CommitScheduler;
  private maxInFlightSeen = 0;
  private creditViolations = 0;
  private withheldCredit = 0;
  private paused = false;
  private received = 0;
  private acked = 0;
  private committedEvents = 0;
  private committed: StoredPosition | null = null;
  private error: string | null = null;
  private endRequested = false;
  /** The route's only sink commits positions in its own transactions (sinks/types.ts); what it committed last. */
  private readonly atomic: boolean;
  private atomicCommitted: StoredPosition | null = null;
  private settled!: (state: RouteState) => void;
  /** Resolves when the route ends, fails or is stopped. */
  readonly done: Promise<RouteState>;
  private readonly changed = new ChangeSignal();

  constructor(private readonly opts: RouteOptions) {
    this.key = opts.key;
    this.done = new Promise((resolve) => {
      this.settled = resolve;
    });
    this.atomic = opts.sinks.length === 1 && opts.sinks[0]?.sink.atomicCheckpoints === true;
    this.commits = new CommitScheduler({
      intervalMs: opts.commitIntervalMs,
      maxEvents: opts.commitMaxEvents,
      write: (target) => this.timedWrite(target),
      onCommitted: (stored, events) => {
        this.committed = stored;
        this.committedEvents += events;
        this.opts.observer?.committed(events);
        this.opts.subscriber.onCommitted?.(stored);
      },
      onStoreDown: (err, attempt, retryInMs) =>
        this.opts.log.error(
          { attempt, retryInMs, error: errorMessage(err) },
          'replay commit failed; fetching paused until the store accepts commits',
        ),
      onStoreUp: () => {
        this.opts.log.info({}, 'replay store reachable again; resuming');
        this.pause(this.paused);
      },
      // Fenced (another instance owns the subscription now) or otherwise permanent: stop.
      onFatal: (err) => this.failRoute(err),
      active: () => this.state === 'running' || this.state === 'draining',
    });
    const checkpointFor = this.atomic ? (events: readonly Envelope[]) => this.checkpointFor(events) : undefined;
    this.writers = opts.sinks.map(
      (s) =>
        new SinkWriter(
          new DeliveryPolicy({
            sink: s.sink,
            name: s.name,
            route: opts.key,
            outage: opts.outage ?? { mode: 'block', afterMs: Number.POSITIVE_INFINITY },
            deadLetters: opts.deadLetters,
            mayWrite: opts.mayWrite,
            checkpointFor,
            observeWrite: opts.observer ? (secs) => opts.observer?.sinkWrite(s.name, secs) : undefined,
            log: opts.log,
          }),
          { maxBatchEvents: opts.maxBatchEvents, concurrency: s.concurrency ?? 1, shape: s.shape },
          (seq, committed) => this.onSinkAck(seq, committed),
          (err) => this.failRoute(err),
        ),
    );
  }

  async start(): Promise<void> {
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
            await this.opts.deadLetters?.add(entries);
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
      inFlight: this.tracker.inFlight,
      maxInFlight: this.opts.maxInFlight,
      maxInFlightSeen: this.maxInFlightSeen,
      creditViolations: this.creditViolations,
      committed: this.committed,
      commitFailures: this.commits.failures,
      error: this.error,
      paused: this.paused,
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
    while (this.tracker.size > 0 && Date.now() < deadline && this.state !== 'failed') {
      await this.changed.wait(deadline - Date.now());
    }
    const drained = this.tracker.size === 0;
    for (const w of this.writers) w.stop();
    await this.commits.flush();
    this.commits.stop();
    await this.closeSource();
    if (!drained) {
      this.opts.log.warn(
        { unacknowledgedEvents: this.tracker.inFlight },
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
    const seq = this.tracker.add(events.length, lastPosition(events), this.writers.length);
    this.received += events.length;
    this.opts.observer?.received(events);
    const inFlight = this.tracker.inFlight;
    if (inFlight > this.maxInFlightSeen) this.maxInFlightSeen = inFlight;
    if (inFlight > this.opts.maxInFlight) {
      // A subscriber bug, never expected: keep the events (losing them is worse) but say so.
      this.creditViolations++;
      this.opts.log.error({ inFlight, maxInFlight: this.opts.maxInFlight }, 'subscriber emitted more events than its credit');
    }
    if (this.writers.length === 0) {
      this.advance();
      return;
    }
    for (const w of this.writers) w.enqueue({ seq, events });
  }

  private onCheckpoint(replayId: string, eventTime: string | null): void {
    if (this.state !== 'running' && this.state !== 'draining') return;
    this.tracker.add(0, { replayId, eventTime }, 0);
    this.advance();
  }

  /** The commit record for an atomic write: the position of its last positioned event. */
  private checkpointFor(events: readonly Envelope[]): CheckpointRecord | undefined {
    const position = lastPosition(events);
    return position ? this.opts.store.checkpointRecord?.(this.key, position, this.opts.lease) : undefined;
  }

  private onSinkAck(seq: number, committed?: StoredPosition): void {
    if (committed) {
      this.atomicCommitted = committed;
      this.opts.store.remember?.(committed);
    }
    const freed = this.tracker.ack(seq);
    if (freed === 0) return;
    this.acked += freed;
    this.returnCredit(freed);
    this.advance();
  }

  /** Move the commit position over everything fully acknowledged, in stream order. */
  private advance(): void {
    const moved = this.tracker.advance();
    if (moved) this.commits.offer(moved.position, moved.events);
    this.changed.notify();
    if (this.endRequested && this.tracker.size === 0) void this.finishEnded();
  }

  /** Operator pause (route API): no new credit; granted events still arrive and commit. */
  pause(on: boolean): void {
    this.paused = on;
    const credit = this.withheldCredit;
    this.withheldCredit = 0;
    this.returnCredit(credit);
  }

  private returnCredit(n: number): void {
    if (n === 0) return;
    if (this.commits.storeDown || this.paused) {
      this.withheldCredit += n;
      return;
    }
    if (this.state === 'running') this.opts.subscriber.request(n);
  }

  private async timedWrite(target: CommitRequest): Promise<StoredPosition> {
    const t0 = performance.now();
    try {
      const stored = await this.writePosition(target);
      this.opts.observer?.commitWrite((performance.now() - t0) / 1000, true);
      return stored;
    } catch (err) {
      this.opts.observer?.commitWrite((performance.now() - t0) / 1000, false);
      throw err;
    }
  }

  /**
   * An atomic sink already committed the position with its write; a position no write carried
   * (a keepalive) goes to the store directly, after every write before it committed.
   */
  private async writePosition(target: CommitRequest): Promise<StoredPosition> {
    if (this.atomic && this.atomicCommitted?.replayId === target.replayId) return this.atomicCommitted;
    return this.opts.store.commit(this.key, target, this.opts.lease);
  }

  private onEnd(): void {
    this.endRequested = true;
    if (this.tracker.size === 0) void this.finishEnded();
  }

  private async finishEnded(): Promise<void> {
    if (this.state !== 'running') return;
    this.state = 'ended';
    await this.commits.flush();
    this.commits.stop();
    for (const w of this.writers) w.stop();
    await this.closeSource();
    this.opts.log.info({ committed: this.committed?.replayId ?? null }, 'route finished (source ended)');
    this.settled('ended');
  }

  /** After the last commit: the source finishes its server-side commits and lets go. */
  private async closeSource(): Promise<void> {
    await this.opts.subscriber.close?.().catch((err) => this.opts.log.warn({ error: errorMessage(err) }, 'source did not close cleanly'));
  }

  private failRoute(err: unknown): void {
    if (this.state === 'failed' || this.state === 'stopped') return;
    this.state = 'failed';
    this.error = errorMessage(err);
    this.opts.log.error({ error: this.error }, 'route failed; nothing past the last acknowledged event is committed');
    for (const w of this.writers) w.stop();
    void this.opts.subscriber.stop().catch(() => undefined);
    void this.commits
      .flush()
      .then(() => this.closeSource())
      .finally(() => {
        this.commits.stop();
        this.settled('failed');
      });
    this.changed.notify();
  }
}
