/**
 * What every subscriber needs besides its protocol, written once: the credit gate (events may be
 * emitted only within the credit the pipeline granted; a marker waits for credit like an event),
 * the start-position choice (stored position, else `initial`; a stored position older than the
 * channel's retention is invalid before even subscribing), the invalid-replay policy (counted,
 * loud, a replay-gap marker; see replay-policy.ts), "refresh the token once, then back off", and
 * the LATEST guard (latest-start.ts). A subscriber keeps only how its protocol expresses these.
 */
import type { Envelope } from '../envelope.js';
import type { StoredPosition } from '../positions.js';
import { LatestStartGuard } from './latest-start.js';
import { applyInvalidReplayPolicy, type InvalidReplayPolicy } from './replay-policy.js';
import type { SubscriberContext } from './types.js';

export interface StartSettings {
  start: 'stored' | 'earliest' | 'latest';
  initial: 'earliest' | 'latest';
  onInvalidReplay: InvalidReplayPolicy;
  retentionMs: number;
}

/** Where to subscribe from: a preset, or the stored replay id (valid as far as the bridge can tell). */
export type StartAt = 'earliest' | 'latest' | { replayId: string };

export class SubscriberToolkit {
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
   * (null when it can). An unusable stored position goes through the invalid-replay policy:
   * the result is then the policy's preset, or null when the route must stop.
   */
  chooseStart(orgId: string, problem: (replayId: string) => string | null): StartAt | null {
    const { start, initial } = this.settings;
    if (start !== 'stored') return start;
    const from = this.ctx.from;
    if (!from) {
      this.ctx.log.info({ ...this.logFields, start: initial }, 'no stored position; starting at the configured initial position');
      return initial;
    }
    const why = problem(from.replayId) ?? this.tooOld(from);
    if (why) return this.invalidReplay(orgId, from.replayId, from.eventTime, why);
    return { replayId: from.replayId };
  }

  private tooOld(from: StoredPosition): string | null {
    const ageMs = from.eventTime ? Date.now() - Date.parse(from.eventTime) : null;
    if (ageMs === null || ageMs <= this.settings.retentionMs) return null;
    const h = (ms: number) => `${(ms / 3600_000).toFixed(1)} h`;
    return `the stored position is ${h(ageMs)} old, beyond the channel's ${h(this.settings.retentionMs).replace('.0 h', ' h')} retention`;
  }

  /**
   * The invalid-replay policy: counted, logged at error, a replay-gap marker downstream. Returns
   * where to resume, or null after failing the route (`onInvalidReplay: fail`).
   */
  invalidReplay(orgId: string, storedId: string, storedEventTime: string | null, reason: string): 'earliest' | 'latest' | null {
    this.replayGaps++;
    const r = applyInvalidReplayPolicy({
      ctx: this.ctx,
      logFields: this.logFields,
      channel: this.channel,
      orgId,
      storedId,
      storedEventTime,
      reason,
      policy: this.settings.onInvalidReplay,
      backfilled: this.ctx.backfilled ?? null,
    });
    if ('fail' in r) {
      this.ctx.fail(r.fail);
      return null;
    }
    this.latest.restart();
    this.emitMarker(r.marker);
    return this.settings.onInvalidReplay === 'latest' ? 'latest' : 'earliest';
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
