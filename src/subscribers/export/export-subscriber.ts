/**
 * A finite source: one object's records exported with a Bulk API 2.0 query (`queryAll` by
 * default, so deleted records come too), as `snapshot` envelopes, optionally only those changed
 * since a time. Used by `sfbridge backfill`, and usable in a config for a one-off export.
 *
 * Resumable: after each batch handed over, the position `export:<job id>:<page locator>:<rows
 * into the page>:<done>` is checkpointed (committed once the sinks have acknowledged everything
 * before it); a run that starts from such a position reads that page of the same job again and
 * skips what was delivered. `export:<job>:all:…` marks a finished export.
 */
import { z } from 'zod';
import { snapshotEnvelope } from '../../envelope.js';
import { BridgeError, errorMessage } from '../../errors.js';
import type { OrgServices } from '../../orgs.js';
import { bulkExport, describeFields, type ExportProgress } from '../../salesforce/bulk-export.js';
import { waitForAllowance } from '../../salesforce/limits.js';
import type { RestClient } from '../../salesforce/rest.js';
import { changeEventEntity } from '../../salesforce/topics.js';
import type { SourceFacts, Subscriber, SubscriberContext } from '../types.js';

export const exportSubscriberConfigSchema = z.strictObject({
  type: z.literal('export'),
  org: z.string().min(1),
  /** The object's change event topic (envelopes carry it as their channel), e.g. /data/AccountChangeEvent. */
  topic: z.string().refine((t) => changeEventEntity(t) !== null, "must be one object's change events, e.g. /data/AccountChangeEvent"),
  /** Only records changed at or after this time (ISO 8601); all records when absent. */
  since: z
    .string()
    .refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO 8601 time such as 2026-11-25T00:00:00Z')
    .optional(),
  /** Deleted records too (queryAll), flagged `deleted: true`. */
  includeDeleted: z.boolean().default(true),
  pageSize: z.number().int().positive().max(100_000).default(10_000),
});
export type ExportSubscriberConfig = z.infer<typeof exportSubscriberConfigSchema>;

/** An export reads records, not a stream: no retention. */
export function exportSourceFacts(c: ExportSubscriberConfig): SourceFacts {
  return {
    key: c.topic,
    org: c.org,
    channel: c.topic,
    retentionMs: null,
    maxInFlight: 500,
    exclusive: [],
    snapshot: false,
    backfill: false,
  };
}

export class ExportSubscriber implements Subscriber {
  private credit = 0;
  private stopped = false;
  /** Resolves the wait for credit (request or stop). */
  private wake: (() => void) | null = null;
  private readonly counters = { snapshotDone: 0, snapshotTotal: 0 };
  private rest: RestClient | null = null;

  constructor(
    private readonly config: ExportSubscriberConfig,
    private readonly orgs: OrgServices,
  ) {}

  describe(): string {
    return `export ${changeEventEntity(this.config.topic)} (org ${this.config.org}${this.config.since ? `, changed since ${this.config.since}` : ''})`;
  }

  stats(): Record<string, number> {
    return { ...this.counters, exportApiCalls: this.rest?.calls ?? 0 };
  }

  request(n: number): void {
    this.credit += n;
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
  }

  async start(ctx: SubscriberContext): Promise<void> {
    void this.run(ctx).catch((err) => ctx.fail(new BridgeError('EXPORT', `export of ${this.config.topic} failed: ${errorMessage(err)}`)));
  }

  private async run(ctx: SubscriberContext): Promise<void> {
    const entity = changeEventEntity(this.config.topic) as string;
    const rest = this.orgs.rest(this.config.org);
    const orgId = (await this.orgs.tokenProvider(this.config.org).getToken()).orgId;
    const fields = await describeFields(rest, entity);
    const resume = parsePosition(ctx.from?.replayId);
    if (resume?.done === 'all') {
      ctx.log.info({ entity }, 'export: already complete');
      ctx.end();
      return;
    }
    const where = this.config.since ? ` WHERE SystemModstamp >= ${new Date(this.config.since).toISOString()}` : '';
    const soql = `SELECT ${fields.map((f) => f.name).join(', ')} FROM ${entity}${where}`;
    let done = typeof resume?.done === 'number' ? resume.done : 0;
    // Progress counts the re-read rows of a resumed page once.
    let base = done - (resume?.skip ?? 0);
    let lastLog = 0;
    const progress = (p: ExportProgress) => {
      this.counters.snapshotDone = base + p.done;
      this.counters.snapshotTotal = p.total ?? 0;
      if (Date.now() - lastLog > 2000 || this.counters.snapshotDone === p.total) {
        lastLog = Date.now();
        ctx.log.info({ entity, job: p.jobId, done: this.counters.snapshotDone, total: p.total }, 'export: progress');
      }
    };
    if (resume) ctx.log.info({ entity, job: resume.jobId, done }, 'export: resuming the job where the last run stopped');
    const exportedAt = Date.now();
    const receivedAt = new Date().toISOString();
    const lim = this.orgs.config(this.config.org).limits;
    const allowance = () =>
      waitForAllowance(rest, { reservePercent: lim.reservePercent, recheckMs: lim.recheck }, ctx.log, () => this.stopped);
    this.rest = rest;
    const pages = bulkExport(
      rest,
      {
        allowance,
        soql,
        fields,
        all: this.config.includeDeleted,
        pageSize: this.config.pageSize,
        resume: resume ? { jobId: resume.jobId, locator: resume.locator } : undefined,
      },
      progress,
    );
    for await (const page of pages) {
      if (resume && page.jobId !== resume.jobId && base > 0) {
        done = 0; // the old job was gone: a new one started from the beginning
        base = 0;
      }
      const env = page.rows.map((row) =>
        snapshotEnvelope(row, { entity, org: orgId, channel: this.config.topic, exportId: page.jobId, exportedAt, receivedAt }),
      );
      let i = 0;
      while (i < env.length) {
        if (this.stopped) return;
        if (this.credit <= 0) {
          await new Promise<void>((r) => {
            this.wake = r;
          });
          this.wake = null;
          continue;
        }
        const n = Math.min(this.credit, env.length - i);
        ctx.emit(env.slice(i, i + n));
        this.credit -= n;
        i += n;
        done += n;
        ctx.checkpoint(
          i < env.length || page.nextLocator
            ? `export:${page.jobId}:${i < env.length ? page.locator || 'start' : page.nextLocator}:${i < env.length ? i : 0}:${done}`
            : `export:${page.jobId}:all:0:${done}`,
          null,
        );
      }
    }
    if (this.stopped) return;
    ctx.log.info({ entity, records: done }, 'export: complete');
    ctx.end();
  }
}

/** `export:<job>:<page locator | start | all>:<rows into page>:<done>` -> where to resume (or that it is complete). */
function parsePosition(replayId: string | undefined): { jobId: string; locator: string; skip: number; done: number | 'all' } | null {
  const m = /^export:(\w+):([^:]+):(\d+):(\d+)$/.exec(replayId ?? '');
  if (!m) return null;
  const where = m[2] as string;
  return {
    jobId: m[1] as string,
    locator: where === 'start' || where === 'all' ? '' : where,
    skip: Number(m[3]),
    done: where === 'all' ? 'all' : Number(m[4]),
  };
}
