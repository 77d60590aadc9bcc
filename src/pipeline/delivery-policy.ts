/**
 * The one place that decides what happens after a sink reports on a write, for every sink:
 * retries (the sink's schedule or exponential backoff, Retry-After honoured), dead-lettering
 * (rejected events always; everything on `sinkOutage.mode: dead-letter` routes once the schedule
 * or `sinkOutage.after` runs out, or the sink is unavailable), and stopping a `block` route that
 * cannot go on. Only the events still owed are retried, in stream order, before anything later
 * is written, so per-key order holds (see the Sink contract). `deliver` returns only when every
 * event is delivered or durably dead-lettered, or the route must stop.
 */
import { type DeadLetterStore, deadLettersFor } from '../deadletter/types.js';
import type { Envelope } from '../envelope.js';
import { BridgeError, errorMessage, isProgrammingError, isRetriable } from '../errors.js';
import type { Logger } from '../log.js';
import type { CheckpointRecord, StoredPosition } from '../positions.js';
import { backoffDelay, DEFAULT_BACKOFF, sleep } from '../retry.js';
import type { EventOutcome, OutagePolicy, Sink } from '../sinks/types.js';

export interface DeliveryOptions {
  sink: Sink;
  name: string;
  route: string;
  outage: OutagePolicy;
  deadLetters?: DeadLetterStore;
  /** HA: checked before every attempt; false means this instance may no longer deliver. */
  mayWrite?: () => boolean;
  checkpointFor?: (events: readonly Envelope[]) => CheckpointRecord | undefined;
  /** Told how long each sink write took (metrics), thrown writes excepted. */
  observeWrite?: (seconds: number) => void;
  log: Logger;
}

/** `done`: every event delivered or dead-lettered; `fatal`: the route must stop; `aborted`: stopping. */
export type DeliveryResult = { done: true; committed?: StoredPosition } | { fatal: unknown } | { aborted: true };

interface Sorted {
  retry: Envelope[];
  retryAfterMs: number;
  rejected: Array<{ event: Envelope; error: string }>;
  unavailable: Array<{ event: Envelope; error: string }>;
  firstError: string | null;
}

export class DeliveryPolicy {
  consecutiveFailures = 0;
  lastError: string | null = null;
  eventsDeadLettered = 0;
  eventsFailed = 0;
  awaitingRetry = 0;
  failingSince: string | null = null;
  retries = 0;
  /** Events an expression of the sink's shaping threw on. */
  eventsUnshaped = 0;
  /** Stopping: no more attempts or waits; what is not delivered stays unacknowledged. */
  private readonly abort = new AbortController();

  constructor(private readonly opts: DeliveryOptions) {}

  get sink(): Sink {
    return this.opts.sink;
  }

  get name(): string {
    return this.opts.name;
  }

  stop(): void {
    this.abort.abort();
  }

  get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  async deliver(events: readonly Envelope[]): Promise<DeliveryResult> {
    const { opts } = this;
    let pending: readonly Envelope[] = events;
    let firstFailedAt = 0;
    let committed: StoredPosition | undefined;
    for (let attempt = 1; ; attempt++) {
      if (this.stopped) return { aborted: true };
      if (opts.mayWrite && !opts.mayWrite()) {
        return { fatal: new BridgeError('FENCED', 'this instance no longer holds the lease of the route; not writing') };
      }
      const checkpoint = opts.checkpointFor?.(pending);
      const { outcomes, thrown } = await this.attempt(pending, checkpoint);
      if (isProgrammingError(thrown)) {
        opts.log.error(
          { sink: opts.name, err: thrown },
          'the sink threw a programming error; failing the route (not retried: a retry cannot fix a bug)',
        );
        return { fatal: thrown };
      }
      const s = sort(pending, outcomes);
      if (s.firstError === null && checkpoint) committed = checkpoint.stored;
      if (s.firstError !== null) {
        firstFailedAt ||= Date.now();
        this.failingSince ??= new Date(firstFailedAt).toISOString();
        this.eventsFailed += s.retry.length + s.rejected.length + s.unavailable.length;
      }
      const failedAt = new Date(firstFailedAt || Date.now()).toISOString();
      if (s.rejected.length > 0 && !(await this.deadLetter(s.rejected, attempt, failedAt))) return { aborted: true };
      if (s.unavailable.length > 0) {
        if (opts.outage.mode === 'block') return { fatal: this.blockedError(s.unavailable[0]?.error ?? '', thrown) };
        if (!(await this.deadLetter(s.unavailable, attempt, failedAt))) return { aborted: true };
      }
      if (s.retry.length === 0) {
        if (this.consecutiveFailures > 0) opts.log.info({ sink: opts.name, attempts: attempt }, 'sink recovered');
        this.consecutiveFailures = 0;
        this.failingSince = null;
        return { done: true, committed };
      }
      this.consecutiveFailures++;
      this.lastError = s.firstError;
      const giveUp = this.outOfTime(attempt, firstFailedAt);
      if (giveUp) {
        const error = `${giveUp}; last error: ${this.lastError}`;
        const ok = await this.deadLetter(
          s.retry.map((event) => ({ event, error })),
          attempt,
          failedAt,
        );
        return ok ? { done: true, committed } : { aborted: true };
      }
      const delay = this.delay(attempt, s.retryAfterMs);
      this.retries++;
      opts.log.warn(
        { sink: opts.name, attempt, retryInMs: delay, failed: s.retry.length, events: pending.length, error: this.lastError },
        'sink write failed; holding the replay commit and retrying what was not delivered',
      );
      this.awaitingRetry = s.retry.length;
      await sleep(delay, this.abort.signal);
      this.awaitingRetry = 0;
      pending = s.retry;
    }
  }

  /**
   * Events that cannot be shaped for this sink (an expression threw, src/shaping/): a dead-letter
   * route sets them aside with the reason; a block route stops, naming the route and the event.
   */
  async setAside(items: Array<{ event: Envelope; error: string }>): Promise<DeliveryResult> {
    const { opts } = this;
    this.eventsUnshaped += items.length;
    const first = items[0]?.error ?? '';
    if (opts.outage.mode === 'block') {
      return {
        fatal: new BridgeError(
          'SHAPING',
          `route "${opts.route}", sink ${opts.name}: ${first}. The route blocks on undeliverable events (sinkOutage.mode: block), so it stops before that event: fix the expression, or set routes[].sinkOutage.mode: dead-letter to set such events aside`,
        ),
      };
    }
    return (await this.deadLetter(items, 1, new Date().toISOString(), true)) ? { done: true } : { aborted: true };
  }

  /** One write; a thrown error stands for every event (retry, or unavailable if permanent). */
  private async attempt(events: readonly Envelope[], checkpoint: CheckpointRecord | undefined) {
    const t0 = performance.now();
    try {
      const outcomes = await this.opts.sink.write(events, checkpoint);
      this.opts.observeWrite?.((performance.now() - t0) / 1000);
      return { outcomes: outcomes ?? null, thrown: null as unknown };
    } catch (err) {
      const error = errorMessage(err);
      const one: EventOutcome = isRetriable(err) ? { status: 'retry', error } : { status: 'unavailable', error };
      if (one.status === 'unavailable') this.opts.log.error({ sink: this.opts.name, err }, 'sink failed permanently');
      return { outcomes: events.map(() => one), thrown: err };
    }
  }

  /** Why a dead-letter route stops retrying now, or null to keep going. */
  private outOfTime(attempt: number, firstFailedAt: number): string | null {
    const { outage, sink } = this.opts;
    if (outage.mode !== 'dead-letter') return null;
    if (sink.retry && attempt > sink.retry.delaysMs.length) return `not delivered after ${attempt} attempts`;
    if (Date.now() - firstFailedAt >= outage.afterMs) return 'sink down for longer than sinkOutage.after';
    return null;
  }

  private delay(attempt: number, retryAfterMs: number): number {
    const r = this.opts.sink.retry;
    if (!r) return Math.max(backoffDelay(attempt, DEFAULT_BACKOFF), Math.min(retryAfterMs, 3_600_000));
    const base = r.delaysMs[Math.min(attempt, r.delaysMs.length) - 1] as number;
    const jittered = Math.round(base * (1 - r.jitter + 2 * r.jitter * Math.random()));
    return Math.max(jittered, Math.min(retryAfterMs, r.maxRetryAfterMs));
  }

  private blockedError(error: string, thrown: unknown): unknown {
    if (thrown) return thrown; // the sink's own error says best what to fix
    return new BridgeError(
      'SINK_UNAVAILABLE',
      `${this.opts.name}: ${error}. This route blocks on sink outages (sinkOutage.mode: block), so it stops without committing past the undelivered event. Fix the cause (or set routes[].sinkOutage.mode: dead-letter) and restart; delivery resumes from the stored replay position`,
    );
  }

  /** Dead-letter durably; retried until it sticks (acknowledging without it would lose events). False only when aborted. */
  private async deadLetter(
    items: Array<{ event: Envelope; error: string }>,
    attempts: number,
    firstFailedAt: string,
    unshaped = false,
  ): Promise<boolean> {
    const { opts } = this;
    if (!opts.deadLetters)
      throw new BridgeError('CONFIG', `${opts.name}: events must be dead-lettered but the bridge has no dead-letter store`);
    const inputs = items.flatMap((it) =>
      deadLettersFor(opts.route, opts.name, [it.event], it.error, attempts, firstFailedAt).map((d) =>
        unshaped ? { ...d, unshaped: true as const } : d,
      ),
    );
    for (let i = 1; ; i++) {
      try {
        await opts.deadLetters.add(inputs);
        this.eventsDeadLettered += inputs.length;
        opts.log.warn(
          { sink: opts.name, events: inputs.length, error: items[0]?.error },
          'events dead-lettered (sfbridge dlq replay delivers them later)',
        );
        return true;
      } catch (err) {
        if (this.stopped) return false;
        opts.log.error({ sink: opts.name, error: errorMessage(err) }, 'dead-letter store write failed; retrying (nothing acknowledged)');
        await sleep(backoffDelay(i, DEFAULT_BACKOFF), this.abort.signal);
      }
    }
  }
}

function sort(events: readonly Envelope[], outcomes: readonly EventOutcome[] | null): Sorted {
  const s: Sorted = { retry: [], retryAfterMs: 0, rejected: [], unavailable: [], firstError: null };
  if (!outcomes) return s;
  events.forEach((event, i) => {
    const o = outcomes[i] ?? { status: 'retry', error: 'the sink reported no outcome for this event' };
    if (o.status === 'delivered') return;
    s.firstError ??= o.error;
    if (o.status === 'retry') {
      s.retry.push(event);
      s.retryAfterMs = Math.max(s.retryAfterMs, o.retryAfterMs ?? 0);
    } else if (o.status === 'rejected') s.rejected.push({ event, error: o.error });
    else s.unavailable.push({ event, error: o.error });
  });
  return s;
}
