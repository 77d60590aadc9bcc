/**
 * Overflow recovery (route `overflow: recover`). A `GAP_OVERFLOW` change event says a transaction
 * changed too many records for change events (over 100,000) and names none of them. Right after
 * it, this stage exports the entity's records changed since the last change event of that entity
 * it delivered (or the route's stored position, or an hour before the overflow when it knows
 * neither), minus a minute, with a Bulk API 2.0 `queryAll` — deleted records included — and hands
 * them on as `snapshot` envelopes, like a backfill; then the stream goes on.
 *
 * Credit: the export's envelopes come on top of the subscriber's, so nothing goes to the route
 * beyond the credit the route granted (queued events wait for acknowledgements like the export
 * does), and while an export runs the stage keeps the route's new credit instead of passing it to
 * the subscriber: the route never holds more than its maxInFlight, and the subscriber's queue is
 * bounded by the credit it already had. Order and checkpoints go through one queue, as in
 * gap-enricher.ts.
 */

import { ChangeSignal } from '../change-signal.js';
import { type Envelope, snapshotEnvelope } from '../envelope.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { bulkExport, describeFields } from '../salesforce/bulk-export.js';
import type { RestClient } from '../salesforce/rest.js';
import type { Subscriber, SubscriberContext } from '../subscribers/types.js';
import { QueuedStage, type Step } from './stage.js';

const MARGIN_MS = 60_000;
const UNKNOWN_WINDOW_MS = 3600_000;

export class OverflowRecovery extends QueuedStage {
  private granted = 0;
  private emitted = 0;
  private forwarded = 0;
  private innerEmitted = 0;
  private queued = 0;
  private holding = false;
  private readonly creditChanged = new ChangeSignal();
  /** Commit time (ms) of the last change event delivered per entity. */
  private readonly lastSeen = new Map<string, number>();
  protected readonly counters = { overflowsRecovered: 0, overflowRecords: 0, overflowFailures: 0 };

  constructor(
    inner: Subscriber,
    private readonly rest: RestClient,
    private readonly log: Logger,
  ) {
    super(inner, 'overflow recovery');
  }

  request(n: number): void {
    this.granted += n;
    if (!this.holding) this.forward(n);
    this.creditChanged.notify();
  }

  override async stop(): Promise<void> {
    const stopping = super.stop();
    this.creditChanged.notify(); // a recovery waiting for credit sees the stop
    await stopping;
  }

  protected override onQueued(s: Step): void {
    if (s.kind === 'emit') {
      this.innerEmitted += s.events.length;
      this.queued += s.events.length;
    }
  }

  private forward(n: number): void {
    if (n <= 0) return;
    this.forwarded += n;
    this.inner.request(n);
  }

  /** Events the route can take now. */
  private get capacity(): number {
    return this.granted - this.emitted;
  }

  private toRoute(ctx: SubscriberContext, events: Envelope[], fromQueue: boolean): void {
    if (events.length === 0) return;
    for (const e of events)
      if (e.changeHeader && (e.kind === 'cdc' || e.kind === 'gap'))
        this.lastSeen.set(e.changeHeader.entity, e.changeHeader.commitTimestamp);
    this.emitted += events.length;
    if (fromQueue) this.queued -= events.length;
    ctx.emit(events);
  }

  protected async drain(ctx: SubscriberContext): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.stopped) {
        const head = this.queue.shift() as Step;
        if (head.kind === 'checkpoint') ctx.checkpoint(head.replayId, head.eventTime);
        else if (head.kind === 'end') ctx.end();
        else {
          const k = head.events.findIndex((e) => e.kind === 'overflow' && e.changeHeader);
          const upTo = k < 0 ? head.events.length : k + 1;
          // Within the route's credit: what does not fit waits for acknowledgements.
          const n = Math.min(upTo, this.capacity);
          if (n <= 0) {
            this.queue.unshift(head);
            await this.creditChanged.wait(1000);
            continue;
          }
          this.toRoute(ctx, head.events.slice(0, n), true);
          const rest = head.events.slice(n);
          if (rest.length > 0) this.queue.unshift({ kind: 'emit', events: rest });
          // The overflow event is out: its records follow before anything else of the stream.
          if (k >= 0 && n === k + 1) await this.recover(ctx, head.events[k] as Envelope);
        }
      }
    } catch (err) {
      ctx.fail(err as Error);
    } finally {
      this.running = false;
    }
  }

  private async recover(ctx: SubscriberContext, overflow: Envelope): Promise<void> {
    const h = overflow.changeHeader as NonNullable<Envelope['changeHeader']>;
    const entity = h.entity;
    const at = h.commitTimestamp || Date.now();
    const stored = ctx.from?.eventTime ? Date.parse(ctx.from.eventTime) : Number.NaN;
    const last = this.lastSeen.get(entity) ?? (Number.isFinite(stored) ? stored : at - UNKNOWN_WINDOW_MS);
    const since = new Date(Math.min(last, at) - MARGIN_MS).toISOString();
    this.holding = true;
    try {
      this.log.warn(
        { entity, since, overflowReplayId: overflow.replayId },
        'GAP_OVERFLOW: exporting the records changed since the last change event delivered (Bulk API 2.0)',
      );
      const fields = await describeFields(this.rest, entity);
      const soql = `SELECT ${fields.map((f) => f.name).join(', ')} FROM ${entity} WHERE SystemModstamp >= ${since}`;
      const exportedAt = Date.now();
      const receivedAt = new Date().toISOString();
      let records = 0;
      for await (const page of bulkExport(this.rest, { soql, fields, all: true }, () => undefined)) {
        const env = page.rows.map((row) =>
          snapshotEnvelope(row, { entity, org: overflow.org, channel: overflow.channel, exportId: page.jobId, exportedAt, receivedAt }),
        );
        let i = 0;
        while (i < env.length) {
          if (this.stopped) return;
          const n = Math.min(this.capacity, env.length - i);
          if (n <= 0) {
            await this.creditChanged.wait(1000);
            continue;
          }
          this.toRoute(ctx, env.slice(i, i + n), false);
          i += n;
        }
        records += env.length;
      }
      this.counters.overflowsRecovered++;
      this.counters.overflowRecords += records;
      this.log.info({ entity, records, since }, 'GAP_OVERFLOW: recovered records delivered as snapshot envelopes');
    } catch (err) {
      // Never stuck behind an export that cannot run: the overflow event itself went on; say what is missing.
      this.counters.overflowFailures++;
      this.log.error(
        { entity, since, error: errorMessage(err) },
        `GAP_OVERFLOW: could not export the changed records; run sfbridge backfill --since ${since} for this route`,
      );
    } finally {
      this.holding = false;
      // Give the subscriber back what the route can take beyond what is queued or still promised to it.
      this.forward(Math.max(0, this.capacity - this.queued - (this.forwarded - this.innerEmitted)));
    }
  }
}
