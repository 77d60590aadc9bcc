/**
 * Initial snapshot (`initial: snapshot` on a Pub/Sub route of one object's change events), what
 * Debezium users know as the initial snapshot. On the route's first start (no stored position):
 * note the time T0, export the object's current records with a Bulk API 2.0 query (fields from
 * its describe) and hand them to the sinks as `snapshot` envelopes — within the pipeline's credit,
 * so memory stays bounded whatever the object's size — then start the stream from EARLIEST,
 * skipping only change events from before T0 minus a clock-skew margin (latest-start.ts). A
 * change can be delivered twice (in the export and as an event); none falls between the two.
 *
 * Snapshot envelopes have no stream position, so nothing is committed until the stream's first
 * event: a bridge stopped during the export starts the export again (duplicates, nothing lost).
 * Progress (records done / total) is in the logs and in /status (`snapshotDone`, `snapshotTotal`).
 */
import { ENVELOPE_VERSION, type Envelope } from '../envelope.js';
import { BridgeError, errorMessage } from '../errors.js';
import { isoTime } from '../iso-time.js';
import type { Logger } from '../log.js';
import type { OrgServices } from '../orgs.js';
import { bulkExport, describeFields, type ExportProgress } from '../salesforce/bulk-export.js';
import type { RestClient } from '../salesforce/rest.js';
import { changeEventEntity } from '../salesforce/topics.js';
import type { Subscriber, SubscriberContext } from '../subscribers/types.js';
import { ChangeSignal } from './change-signal.js';

export class SnapshotFirst implements Subscriber {
  private credit = 0;
  private streaming = false;
  private stopped = false;
  private readonly creditChanged = new ChangeSignal();
  private readonly counters = { snapshotDone: 0, snapshotTotal: 0 };

  constructor(
    private readonly inner: Subscriber,
    private readonly rest: RestClient,
    private readonly orgs: OrgServices,
    private readonly source: { org: string; topic: string },
    private readonly log: Logger,
  ) {}

  describe(): string {
    return `${this.inner.describe()}, initial snapshot`;
  }

  stats(): Record<string, number> {
    return { ...(this.inner.stats?.() ?? {}), ...this.counters };
  }

  onCommitted = (p: Parameters<NonNullable<Subscriber['onCommitted']>>[0]) => this.inner.onCommitted?.(p);

  async start(ctx: SubscriberContext): Promise<void> {
    if (ctx.from) {
      this.streaming = true;
      return this.inner.start(ctx);
    }
    void this.exportThenStream(ctx).catch((err) =>
      ctx.fail(new BridgeError('SNAPSHOT', `initial snapshot of ${this.source.topic} failed: ${errorMessage(err)}`)),
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

  private async exportThenStream(ctx: SubscriberContext): Promise<void> {
    const t0 = Date.now();
    const entity = changeEventEntity(this.source.topic) as string;
    const orgId = (await this.orgs.tokenProvider(this.source.org).getToken()).orgId;
    const fields = await describeFields(this.rest, entity);
    const names = fields.map((f) => f.name);
    this.log.info({ entity, fields: names.length }, 'initial snapshot: exporting the current records (Bulk API 2.0) before streaming');
    let lastLog = 0;
    const progress = (p: ExportProgress) => {
      this.counters.snapshotDone = p.done;
      this.counters.snapshotTotal = p.total ?? 0;
      if (Date.now() - lastLog > 5000 || p.done === p.total) {
        lastLog = Date.now();
        this.log.info({ entity, job: p.jobId, done: p.done, total: p.total }, 'initial snapshot: progress');
      }
    };
    const receivedAt = new Date().toISOString();
    for await (const page of bulkExport(this.rest, `SELECT ${names.join(', ')} FROM ${entity}`, fields, progress)) {
      let i = 0;
      while (i < page.length) {
        if (this.stopped) return;
        if (this.credit <= 0) {
          await this.creditChanged.wait(1000);
          continue;
        }
        const n = Math.min(this.credit, page.length - i);
        ctx.emit(page.slice(i, i + n).map((row) => this.envelope(row, entity, orgId, t0, receivedAt)));
        this.credit -= n;
        i += n;
      }
    }
    if (this.stopped) return;
    this.log.info(
      { entity, records: this.counters.snapshotDone, streamFrom: new Date(t0).toISOString() },
      'initial snapshot: done; streaming change events from the moment the export began',
    );
    this.streaming = true;
    await this.inner.start({ ...ctx, snapshotTakenAt: t0 });
    if (this.credit > 0) this.inner.request(this.credit);
    this.credit = 0;
  }

  private envelope(row: Record<string, unknown>, entity: string, org: string, t0: number, receivedAt: string): Envelope {
    const id = String(row.Id ?? '');
    return {
      v: ENVELOPE_VERSION,
      org,
      channel: this.source.topic,
      replayId: '',
      eventId: `snapshot:${entity}:${id}:${t0}`,
      schemaId: null,
      eventTime: recordTime(row.SystemModstamp ?? row.LastModifiedDate) ?? isoTime(t0),
      receivedAt,
      kind: 'snapshot',
      changeHeader: {
        entity,
        recordIds: [id],
        changeType: 'SNAPSHOT',
        changeOrigin: '',
        transactionKey: '',
        sequenceNumber: 0,
        commitTimestamp: t0,
        commitUser: '',
        changedFields: [],
        nulledFields: [],
        diffFields: [],
      },
      payload: row,
    };
  }
}

/** A record's modification time as ISO (Bulk CSV gives ISO text; some orgs' tools give epoch ms). */
function recordTime(v: unknown): string | null {
  if (typeof v !== 'string' && typeof v !== 'number') return null;
  const ms = typeof v === 'number' || /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? isoTime(ms) : null;
}
