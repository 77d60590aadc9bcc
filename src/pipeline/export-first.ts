/**
 * Records exported before the stream starts, for a Pub/Sub route of one object's change events.
 * - Initial snapshot (`initial: snapshot`), what Debezium users know as the initial snapshot: on
 *   the route's first start (no stored position), note the time T0, export the object's current
 *   records, then stream from EARLIEST skipping only change events from before T0 minus a
 *   clock-skew margin (latest-start.ts). A change can arrive twice; none falls between.
 * - Backfill past retention (`onInvalidReplay: backfill`): when the stored position is older than
 *   the channel's retention (the events after it are gone from Salesforce), export the records
 *   changed since its time minus a margin — deleted ones too (queryAll: `deleted: true`) — then
 *   the subscriber resumes at EARLIEST, and its replay-gap marker says what was backfilled.
 *   What cannot be recovered: intermediate states (only each record's latest), and deleted
 *   records already emptied from the recycle bin.
 * Exports are Bulk API 2.0 queries (fields from the object's describe) delivered as `snapshot`
 * envelopes within the pipeline's credit, so memory stays bounded whatever the size. They carry no
 * stream position: nothing is committed before the stream's first event, and a bridge stopped
 * during an export runs it again on its next start (duplicates, nothing lost). Progress (records
 * done / total) is in the logs and in /status (`snapshotDone`, `snapshotTotal`).
 */
import { snapshotEnvelope } from '../envelope.js';
import { BridgeError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { OrgServices } from '../orgs.js';
import { bulkExport, describeFields, type ExportProgress } from '../salesforce/bulk-export.js';
import { waitForAllowance } from '../salesforce/limits.js';
import type { RestClient } from '../salesforce/rest.js';
import { changeEventEntity } from '../salesforce/topics.js';
import type { Subscriber, SubscriberContext } from '../subscribers/types.js';
import { ChangeSignal } from './change-signal.js';

/** How far before the stored position's time a backfill starts (clock skew, in-flight transactions). */
const BACKFILL_MARGIN_MS = 10 * 60_000;

export interface ExportFirstSource {
  org: string;
  topic: string;
  initial: string;
  onInvalidReplay: string;
  retentionHours: number;
}

interface Plan {
  label: 'initial snapshot' | 'backfill';
  where: string;
  all: boolean;
  since: string | null;
}

/** What to export before streaming, if anything. */
function planFor(source: ExportFirstSource, ctx: SubscriberContext): Plan | null {
  const from = ctx.from;
  if (!from) return source.initial === 'snapshot' ? { label: 'initial snapshot', where: '', all: false, since: null } : null;
  if (source.onInvalidReplay !== 'backfill' || !from.eventTime) return null;
  const at = Date.parse(from.eventTime);
  if (!Number.isFinite(at) || Date.now() - at <= source.retentionHours * 3600_000) return null;
  const since = new Date(at - BACKFILL_MARGIN_MS).toISOString();
  return { label: 'backfill', where: ` WHERE SystemModstamp >= ${since}`, all: true, since };
}

export class ExportFirst implements Subscriber {
  private credit = 0;
  private streaming = false;
  private stopped = false;
  private readonly creditChanged = new ChangeSignal();
  private readonly counters = { snapshotDone: 0, snapshotTotal: 0 };

  constructor(
    private readonly inner: Subscriber,
    private readonly rest: RestClient,
    private readonly orgs: OrgServices,
    private readonly source: ExportFirstSource,
    private readonly log: Logger,
  ) {}

  describe(): string {
    return `${this.inner.describe()}${this.source.initial === 'snapshot' ? ', initial snapshot' : ''}${this.source.onInvalidReplay === 'backfill' ? ', backfill past retention' : ''}`;
  }

  stats(): Record<string, number> {
    return { ...(this.inner.stats?.() ?? {}), ...this.counters, exportApiCalls: this.rest.calls };
  }

  onCommitted = (p: Parameters<NonNullable<Subscriber['onCommitted']>>[0]) => this.inner.onCommitted?.(p);

  async start(ctx: SubscriberContext): Promise<void> {
    const plan = planFor(this.source, ctx);
    if (!plan) {
      this.streaming = true;
      return this.inner.start(ctx);
    }
    void this.exportThenStream(ctx, plan).catch((err) =>
      ctx.fail(new BridgeError('SNAPSHOT', `${plan.label} of ${this.source.topic} failed: ${errorMessage(err)}`)),
    );
  }

  request(n: number): void {
    if (this.streaming) this.inner.request(n);
    else {
      this.credit += n;
      this.creditChanged.notify();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.creditChanged.notify();
    if (this.streaming) await this.inner.stop();
  }

  private async exportThenStream(ctx: SubscriberContext, plan: Plan): Promise<void> {
    const t0 = Date.now();
    const entity = changeEventEntity(this.source.topic) as string;
    const orgId = (await this.orgs.tokenProvider(this.source.org).getToken()).orgId;
    const fields = await describeFields(this.rest, entity);
    const names = fields.map((f) => f.name);
    this.log.info(
      { entity, fields: names.length, since: plan.since },
      plan.since
        ? `backfill: the stored position is older than retention; exporting the records changed since ${plan.since} (Bulk API 2.0, deleted ones included) before streaming`
        : 'initial snapshot: exporting the current records (Bulk API 2.0) before streaming',
    );
    let lastLog = 0;
    const progress = (p: ExportProgress) => {
      this.counters.snapshotDone = p.done;
      this.counters.snapshotTotal = p.total ?? 0;
      if (Date.now() - lastLog > 5000 || p.done === p.total) {
        lastLog = Date.now();
        this.log.info({ entity, job: p.jobId, done: p.done, total: p.total }, `${plan.label}: progress`);
      }
    };
    const receivedAt = new Date().toISOString();
    const soql = `SELECT ${names.join(', ')} FROM ${entity}${plan.where}`;
    const lim = this.orgs.config(this.source.org).limits;
    const allowance = () =>
      waitForAllowance(this.rest, { reservePercent: lim.reservePercent, recheckMs: lim.recheck }, this.log, () => this.stopped);
    for await (const { rows: page } of bulkExport(this.rest, { soql, fields, all: plan.all, allowance }, progress)) {
      let i = 0;
      while (i < page.length) {
        if (this.stopped) return;
        if (this.credit <= 0) {
          await this.creditChanged.wait(1000);
          continue;
        }
        const n = Math.min(this.credit, page.length - i);
        ctx.emit(
          page
            .slice(i, i + n)
            .map((row) =>
              snapshotEnvelope(row, { entity, org: orgId, channel: this.source.topic, exportId: String(t0), exportedAt: t0, receivedAt }),
            ),
        );
        this.credit -= n;
        i += n;
      }
    }
    if (this.stopped) return;
    const records = this.counters.snapshotDone;
    this.streaming = true;
    if (plan.since) {
      this.log.info({ entity, records, since: plan.since }, 'backfill: done; the stream resumes at earliest');
      await this.inner.start({ ...ctx, backfilled: { since: plan.since, records } });
    } else {
      this.log.info(
        { entity, records, streamFrom: new Date(t0).toISOString() },
        'initial snapshot: done; streaming change events from the moment the export began',
      );
      await this.inner.start({ ...ctx, snapshotTakenAt: t0 });
    }
    if (this.credit > 0) this.inner.request(this.credit);
    this.credit = 0;
  }
}
