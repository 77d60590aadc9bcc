/**
 * "Start at LATEST" without a gap on reconnect. A subscription that starts at LATEST has no
 * position until its first event (or keepalive) arrives. If the stream drops before then,
 * resubscribing at LATEST again would silently skip whatever was published in between. So after
 * the first LATEST subscribe, a reconnect with no position replays from EARLIEST instead and skips
 * only events that Salesforce timestamped before the moment the route said "subscribed", minus a
 * clock-skew margin: a few events from just before that moment may be delivered, none after it
 * are lost. Events without a timestamp are never skipped. The first event kept ends the filter.
 */

/** How far Salesforce's clock may be behind ours before events after "subscribed" could be skipped. */
export const LATEST_SKEW_MARGIN_MS = 5 * 60_000;

export class LatestStartGuard {
  /** Epoch ms of the first LATEST subscribe; null once the filter has ended (or never began). */
  private since: number | null = null;
  private ended = false;
  skipped = 0;

  constructor(private readonly marginMs = LATEST_SKEW_MARGIN_MS) {}

  /** The stream was subscribed at LATEST; only the first such moment counts. */
  subscribedAtLatest(now = Date.now()): void {
    if (!this.ended && this.since === null) this.since = now;
  }

  /** True when a resubscribe without a position must replay from EARLIEST (and filter). */
  get mustReplayEarliest(): boolean {
    return this.since !== null;
  }

  /** ISO time before which events are skipped, for logs. */
  get cutoff(): string | null {
    return this.since === null ? null : new Date(this.since - this.marginMs).toISOString();
  }

  /**
   * Whether an event replayed from EARLIEST predates the subscription (skip it). Any event kept
   * ends the filter: later events are newer.
   */
  skip(eventTime: string | null): boolean {
    if (this.since === null) return false;
    const t = eventTime ? Date.parse(eventTime) : Number.NaN;
    if (!Number.isNaN(t) && t < this.since - this.marginMs) {
      this.skipped++;
      return true;
    }
    this.since = null;
    this.ended = true;
    return false;
  }

  /** Start over (e.g. an invalid replay id sent the stream back to LATEST on purpose). */
  restart(): void {
    this.since = null;
    this.ended = false;
  }
}
