/**
 * Records exported before the stream starts, for a Pub/Sub route of one object's change events.
 * - Initial snapshot (`initial: snapshot`), what Debezium users know as the initial snapshot: on
 *   the route's first start (no stored position), note the time T0, export the object's current
 *   records, then stream from EARLIEST skipping only change events from before T0 minus a
 *   clock-skew margin (latest-start.ts). A change can arrive twice; none falls between.
 * - Backfill past retention (`onInvalidReplay: backfill`, Pub/Sub and CometD): whenever the
 *   subscriber's position is refused — older than retention on Salesforce's clock before
 *   subscribing, or refused by Salesforce at the first subscribe or any later one — the subscriber
 *   holds its stream and calls `ctx.backfill` with its last delivered event's time and its unused
 *   credit. This stage exports the records changed since that time minus a margin — deleted ones
 *   too (queryAll: `deleted: true`) — then the subscriber resumes at EARLIEST, and its replay-gap
 *   marker says what was backfilled. What cannot be recovered: intermediate states (only each
 *   record's latest), and deleted records already emptied from the recycle bin.
 * Exports are Bulk API 2.0 queries (fields from the object's describe) delivered as `snapshot`
 * envelopes within the pipeline's credit, so memory stays bounded whatever the size. An initial
 * snapshot checkpoints `snapshot:<t0>:<job>:<page locator>:<rows>` as the route's position as its
 * records are acknowledged, so a bridge stopped part-way resumes the same job where it stopped (a
 * backfill runs again). Progress (records done / total) is in the logs and in /status
 * (`snapshotDone`, `snapshotTotal`).
 */

import { ChangeSignal } from '../change-signal.js';
import { snapshotEnvelope } from '../envelope.js';
import { BridgeError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { OrgServices } from '../orgs.js';
import { bulkExport, describeFields, type ExportProgress } from '../salesforce/bulk-export.js';
import { waitForAllowance } from '../salesforce/limits.js';
import type { RestClient } from '../salesforce/rest.js';
import { changeEventEntity } from '../salesforce/topics.js';
import type { Subscriber, SubscriberContext } from '../subscribers/types.js';
import { Stage } from './stage.js';

/** How far before the stored position's time a backfill starts (clock skew, in-flight transactions). */
const BACKFILL_MARGIN_MS = 10 * 60_000;

export interface RecordExportSource {
  org: string;
  /** One object's change events: /data/<Object>ChangeEvent. */
  topic: string;
  /** Run an initial snapshot when nothing is stored (`initial: snapshot`). */
  snapshot: boolean;
  /** Offer the subscriber a backfill when its position is refused (`onInvalidReplay: backfill`). */
  backfill: boolean;
}

interface Plan {
  label: 'initial snapshot' | 'backfill';
  where: string;
  all: boolean;
  /** Backfill: records changed since this time (null: every record). */
  since: string | null;
  /** An initial snapshot stopped part-way: its start time and where its results resume. */
  resume?: { t0: number; jobId: string; locator: string; skip: number; done: boolean };
}

/** The position of an initial snapshot under way: `snapshot:<t0>:<job>:<page locator | start | all>:<rows into page>`. */
function snapshotPosition(replayId: string | undefined): Plan['resume'] | null {
  const m = /^snapshot:(\d+):(\w+):([^:]+):(\d+)$/.exec(replayId ?? '');
  if (!m) return null;
  const where = m[3] as string;
  return {
    t0: Number(m[1]),
    jobId: m[2] as string,
    locator: where === 'start' || where === 'all' ? '' : where,
    skip: Number(m[4]),
    done: where === 'all',
  };
}

/** The initial snapshot to run (or resume) before streaming, if any. */
function snapshotPlan(source: RecordExportSource, ctx: SubscriberContext): Plan | null {
  const from = ctx.from;
  if (!from) return source.snapshot ? { label: 'initial snapshot', where: '', all: false, since: null } : null;
  const resume = snapshotPosition(from.replayId);
  return resume ? { label: 'initial snapshot', where: '', all: false, since: null, resume } : null;
}

/** A backfill of the records changed since `lastEventTime` minus a margin (every record when unknown). */
function backfillPlan(lastEventTime: string | null): Plan {
  const at = lastEventTime ? Date.parse(lastEventTime) : Number.NaN;
  if (!Number.isFinite(at)) return { label: 'backfill', where: '', all: true, since: null };
  const since = new Date(at - BACKFILL_MARGIN_MS).toISOString();
  return { label: 'backfill', where: ` WHERE SystemModstamp >= ${since}`, all: true, since };
}

export class RecordExport extends Stage {
  private credit = 0;
  /** Credit goes to the subscriber (not held here for an export). */
  private streaming = false;
  private innerStarted = false;
  private readonly creditChanged = new ChangeSignal();
  protected readonly counters = { snapshotDone: 0, snapshotTotal: 0 };

  constructor(
    inner: Subscriber,
    private readonly rest: RestClient,
    private readonly orgs: OrgServices,
    private readonly source: RecordExportSource,
    private readonly log: Logger,
  ) {
    const label = [source.snapshot ? 'initial snapshot' : '', source.backfill ? 'backfill past retention' : ''];
    super(inner, label.filter(Boolean).join(', '));
  }

  override stats(): Record<string, number> {
    return { ...super.stats(), exportApiCalls: this.rest.calls };
  }

  async start(ctx: SubscriberContext): Promise<void> {
    const plan = snapshotPlan(this.source, ctx);
    if (!plan) return this.startInner(ctx, {});
    void this.exportThenStream(ctx, plan).catch((err) =>
      ctx.fail(new BridgeError('SNAPSHOT', `${plan.label} of ${this.source.topic} failed: ${errorMessage(err)}`)),
    );
  }

  /** Start the subscriber, offering it a backfill when the route has one. */
  private startInner(ctx: SubscriberContext, extra: Partial<SubscriberContext>): Promise<void> {
    this.streaming = true;
    this.innerStarted = true;
    const backfill = this.source.backfill ? { backfill: (req: { since: string | null; credit: number }) => this.backfill(ctx, req) } : {};
    return this.inner.start({ ...ctx, ...extra, ...backfill });
  }

  /**
   * The subscriber's position was refused: export what changed since its last event on the
   * credit it hands over (and what the pipeline grants meanwhile), then hand the rest back.
   */
  private async backfill(
    ctx: SubscriberContext,
    req: { since: string | null; credit: number },
  ): Promise<{ since: string | null; records: number; credit: number }> {
    this.streaming = false;
    this.credit += req.credit;
    const plan = backfillPlan(req.since);
    this.counters.snapshotDone = 0;
    this.counters.snapshotTotal = 0;
    try {
      await this.exportRecords(ctx, plan, Date.now());
    } catch (err) {
      throw new BridgeError('SNAPSHOT', `backfill of ${this.source.topic} failed: ${errorMessage(err)}`);
    } finally {
      this.streaming = true;
    }
    const records = this.counters.snapshotDone;
    this.log.info(
      { entity: changeEventEntity(this.source.topic), records, since: plan.since },
      'backfill: done; the stream resumes at earliest',
    );
    const credit = this.credit;
    this.credit = 0;
    return { since: plan.since, records, credit };
  }

  request(n: number): void {
    if (this.streaming) this.inner.request(n);
    else {
      this.credit += n;
      this.creditChanged.notify();
    }
  }

  // Before streaming, the inner subscriber has not started: nothing to stop there.
  override async stop(): Promise<void> {
    this.stopped = true;
    this.creditChanged.notify();
    if (this.innerStarted) await this.inner.stop();
  }

  private async exportThenStream(ctx: SubscriberContext, plan: Plan): Promise<void> {
    const t0 = plan.resume?.t0 ?? Date.now();
    if (!plan.resume?.done) await this.exportRecords(ctx, plan, t0);
    if (this.stopped) return;
    const records = this.counters.snapshotDone;
    this.log.info(
      { entity: changeEventEntity(this.source.topic), records, streamFrom: new Date(t0).toISOString() },
      'initial snapshot: done; streaming change events from the moment the export began',
    );
    // The route's stored position is the snapshot's, not a stream position: the stream starts fresh from t0.
    await this.startInner(ctx, { from: undefined, snapshotTakenAt: t0 });
    if (this.credit > 0) this.inner.request(this.credit);
    this.credit = 0;
  }

  /** Export the plan's records as snapshot envelopes, within the credit this stage holds. */
  private async exportRecords(ctx: SubscriberContext, plan: Plan, t0: number): Promise<void> {
    const entity = changeEventEntity(this.source.topic) as string;
    const orgId = (await this.orgs.tokenProvider(this.source.org).getToken()).orgId;
    const fields = await describeFields(this.rest, entity);
    const names = fields.map((f) => f.name);
    this.log.info(
      { entity, fields: names.length, since: plan.since },
      plan.label === 'backfill'
        ? `backfill: exporting the records changed since ${plan.since ?? 'ever (every record)'} (Bulk API 2.0, deleted ones included) before streaming`
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
    const resume = plan.resume ? { jobId: plan.resume.jobId, locator: plan.resume.locator } : undefined;
    if (plan.resume) this.log.info({ entity, job: plan.resume.jobId }, 'initial snapshot: resuming the export where the last run stopped');
    let first = true;
    for await (const page of bulkExport(this.rest, { soql, fields, all: plan.all, allowance, resume }, progress)) {
      // A resumed page was partly delivered: skip those rows (unless the old job was gone and this is a new one).
      let i = first && plan.resume && page.jobId === plan.resume.jobId ? Math.min(plan.resume.skip, page.rows.length) : 0;
      first = false;
      const rows = page.rows;
      while (i < rows.length) {
        if (this.stopped) return;
        if (this.credit <= 0) {
          await this.creditChanged.wait(1000);
          continue;
        }
        const n = Math.min(this.credit, rows.length - i);
        ctx.emit(
          rows
            .slice(i, i + n)
            .map((row) =>
              snapshotEnvelope(row, { entity, org: orgId, channel: this.source.topic, exportId: String(t0), exportedAt: t0, receivedAt }),
            ),
        );
        this.credit -= n;
        i += n;
        // Initial snapshot: where to resume if the bridge stops now (committed once the sinks have these).
        if (plan.label === 'initial snapshot') {
          const at = i < rows.length ? `${page.locator || 'start'}:${i}` : page.nextLocator ? `${page.nextLocator}:0` : 'all:0';
          ctx.checkpoint(`snapshot:${t0}:${page.jobId}:${at}`, null);
        }
      }
    }
  }
}
