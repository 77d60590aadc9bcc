/**
 * What every subscriber needs besides its protocol, written once: the credit gate (events may be
 * emitted only within the credit the pipeline granted; a marker waits for credit like an event),
 * the start-position choice (stored position, else `initial`; a stored position older than the
 * channel's retention on Salesforce's clock is refused before even subscribing), the invalid-replay
 * policy (counted, loud, a backfill where the route offers one, a replay-gap marker; see
 * replay-policy.ts), "refresh the token once, then back off", and
 * the LATEST guard (latest-start.ts). A subscriber keeps only how its protocol expresses these.
 */
import type { Envelope } from '../envelope.js';
import type { StoredPosition } from '../positions.js';
import { LatestStartGuard } from './latest-start.js';
import {
  type Backfilled,
  type InvalidReplay,
  type InvalidReplayPolicy,
  invalidReplayOutcome,
  reportInvalidReplay,
} from './replay-policy.js';
import type { SubscriberContext } from './types.js';

export interface StartSettings {
  start: 'stored' | 'earliest' | 'latest';
  initial: 'earliest' | 'latest';
  onInvalidReplay: InvalidReplayPolicy;
  retentionMs: number;
  /** Salesforce's clock (ms): ours plus the offset the org's /limits polls measured, where known. */
  now: () => number;
}

/** Where to subscribe from: a preset, or the stored replay id (valid as far as the bridge can tell). */
export type StartAt = 'earliest' | 'latest' | { replayId: string };

/** The stored position cannot be used: hand it to `invalidReplay`. */
export interface Refusal {
  refused: { storedId: string; storedEventTime: string | null; reason: string };
}

export function isRefusal(at: StartAt | Refusal): at is Refusal {
  return typeof at === 'object' && 'refused' in at;
}

export class SubscriptionControl {
  /** Credit granted by the pipeline and not yet used by emitted events. */
  available = 0;
  replayGaps = 0;
  readonly latest = new LatestStartGuard();
  private pendingMarker: Envelope | null = null;
  private authRetried = false;

  constructor(
    private readonly ctx: SubscriberContext,
    private readonly channel: string,
    private readonly logFields: Record<string, unknown>,
    private readonly settings: StartSettings,
  ) {}

  /** The pipeline granted `n` more events; a marker waiting for credit goes out first. */
  grant(n: number): void {
    this.available += n;
    if (this.pendingMarker && this.available > 0) {
      const m = this.pendingMarker;
      this.pendingMarker = null;
      this.available--;
      this.ctx.emit([m]);
    }
  }

  /**
   * Where the stream starts. `problem(replayId)` says why a stored id cannot be this protocol's
   * (null when it can). An unusable stored position is a refusal: the subscriber holds its stream
   * and runs `invalidReplay` (asynchronous: a backfill may run first).
   */
  chooseStart(problem: (replayId: string) => string | null): StartAt | Refusal {
    const { start, initial } = this.settings;
    if (start !== 'stored') return start;
    const from = this.ctx.from;
    if (!from) {
      this.ctx.log.info({ ...this.logFields, start: initial }, 'no stored position; starting at the configured initial position');
      return initial;
    }
    const why = problem(from.replayId) ?? this.tooOld(from);
    if (why) return { refused: { storedId: from.replayId, storedEventTime: from.eventTime, reason: why } };
    return { replayId: from.replayId };
  }

  /** Older than retention on Salesforce's clock (where known): Salesforce would refuse it anyway. */
  private tooOld(from: StoredPosition): string | null {
    const ageMs = from.eventTime ? this.settings.now() - Date.parse(from.eventTime) : null;
    if (ageMs === null || !(ageMs > this.settings.retentionMs)) return null;
    const h = (ms: number) => `${(ms / 3600_000).toFixed(1)} h`;
    return `the stored position is ${h(ageMs)} old, beyond the channel's ${h(this.settings.retentionMs).replace('.0 h', ' h')} retention`;
  }

  /**
   * The invalid-replay policy: counted, logged at error at once; with `backfill` and a route that
   * can export, the export runs (on the credit this subscriber held); then a replay-gap marker
   * downstream. Resolves with where to resume, or null after failing the route (`fail`, or a
   * backfill that failed: the route restarts from its last committed position and tries again).
   * The subscriber must not stream until it resolves.
   */
  async invalidReplay(
    orgId: string,
    storedId: string,
    storedEventTime: string | null,
    reason: string,
  ): Promise<'earliest' | 'latest' | null> {
    this.replayGaps++;
    const policy = this.settings.onInvalidReplay;
    const r: InvalidReplay = {
      ctx: this.ctx,
      logFields: this.logFields,
      channel: this.channel,
      orgId,
      storedId,
      storedEventTime,
      reason,
      policy,
      now: this.settings.now(),
    };
    reportInvalidReplay(r);
    let backfilled: Backfilled | null = null;
    if (policy === 'backfill' && this.ctx.backfill) {
      const credit = this.available;
      this.available = 0;
      try {
        const done = await this.ctx.backfill({ since: storedEventTime, credit });
        this.available += done.credit;
        backfilled = { since: done.since, records: done.records };
      } catch (err) {
        this.ctx.fail(err as Error);
        return null;
      }
    }
    const out = invalidReplayOutcome(r, backfilled);
    if ('fail' in out) {
      this.ctx.fail(out.fail);
      return null;
    }
    this.latest.restart();
    this.emitMarker(out.marker);
    return policy === 'latest' ? 'latest' : 'earliest';
  }

  /** A marker takes one event of credit; without credit it waits for the next grant. */
  emitMarker(marker: Envelope): void {
    if (this.available > 0) {
      this.available--;
      this.ctx.emit([marker]);
    } else this.pendingMarker = marker;
  }

  /** Authentication failed: true the first time since the stream last worked (refresh and retry now), else back off. */
  retryAuthNow(): boolean {
    if (this.authRetried) return false;
    this.authRetried = true;
    return true;
  }

  /** The stream delivered something: the next auth failure may be retried at once again. */
  streamWorked(): void {
    this.authRetried = false;
  }
}
