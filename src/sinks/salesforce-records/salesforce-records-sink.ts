/**
 * `salesforce-records` sink: each event becomes a record written into Salesforce (insert, update,
 * upsert by an external id, delete). Up to `bulkAbove` events a write go through sObject
 * Collections, 200 records a call; more go through one Bulk API 2.0 ingest job. Each record's
 * result decides its event. Every call carries `Sforce-Call-Options: client=<client>`, so the
 * change events the writes cause name that client in changeOrigin (the loop guard `notFromClient`).
 */
import type { Envelope } from '../../envelope.js';
import { errorMessage } from '../../errors.js';
import type { OrgServices } from '../../orgs.js';
import { stayAwayDelay } from '../../retry.js';
import { runIngestJob } from '../../salesforce/bulk-ingest.js';
import { type RestClient, SalesforceApiError } from '../../salesforce/rest.js';
import { FieldMapping } from '../mapping.js';
import type { EventOutcome, Sink, SinkContext } from '../types.js';
import type { SalesforceRecordsSinkConfig } from './config.js';

/** Per-record errors that may pass on a second try (REST API status codes). */
const TRANSIENT = new Set(['UNABLE_TO_LOCK_ROW', 'ALL_OR_NONE_OPERATION_ROLLED_BACK', 'SERVER_UNAVAILABLE', 'REQUEST_RUNNING_TOO_LONG']);
const MAX_COLLECTION = 200;

interface Prepared {
  index: number;
  fields: Record<string, unknown>;
  key: string;
}

interface CollectionResult {
  id?: string | null;
  success: boolean;
  errors?: Array<{ statusCode: string; message: string; fields?: string[] }>;
}

export class SalesforceRecordsSink implements Sink {
  private readonly mapping: FieldMapping;
  private rest: RestClient | null = null;
  private readonly abort = new AbortController();
  private limitHits = 0;
  private readonly counts = { written: 0, rejected: 0, retried: 0, collectionCalls: 0, bulkJobs: 0 };

  constructor(
    private readonly c: SalesforceRecordsSinkConfig,
    private readonly ctx: SinkContext,
    private readonly orgs: OrgServices,
  ) {
    this.mapping = new FieldMapping(c.mapping);
  }

  describe(): string {
    const via = this.c.bulkAbove ? `sObject Collections, Bulk API 2.0 above ${this.c.bulkAbove} events` : 'sObject Collections';
    return `Salesforce ${this.c.operation} of ${this.c.object}${this.c.externalIdField ? ` by ${this.c.externalIdField}` : ''} in org ${this.c.org} (${via}; client=${this.c.client})`;
  }

  async open(): Promise<void> {
    this.rest = this.orgs.rest(this.c.org).withHeaders({ 'Sforce-Call-Options': `client=${this.c.client}` });
  }

  stats() {
    return { ...this.counts };
  }

  async write(batch: readonly Envelope[]): Promise<EventOutcome[]> {
    const outcomes: Array<EventOutcome | null> = batch.map(() => null);
    const ready: Prepared[] = [];
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i] as Envelope;
      const m = this.mapping.mapNow(e) ?? (await this.mapping.map(e));
      if ('error' in m) outcomes[i] = { status: 'rejected', error: m.error };
      else {
        const key = this.keyOf(m.fields);
        if (typeof key === 'object') outcomes[i] = { status: 'rejected', error: key.error };
        else ready.push({ index: i, fields: m.fields, key });
      }
    }
    try {
      if (this.c.bulkAbove !== undefined && ready.length > this.c.bulkAbove) await this.viaBulk(ready, outcomes);
      else await this.viaCollections(ready, outcomes);
      this.limitHits = 0;
    } catch (err) {
      // The whole call failed: every event not yet decided is retried (a spent API allowance waits minutes).
      const limit = err instanceof SalesforceApiError && err.errorCode === 'REQUEST_LIMIT_EXCEEDED';
      if (limit) this.limitHits++;
      const o: EventOutcome = limit
        ? { status: 'retry', error: errorMessage(err), retryAfterMs: stayAwayDelay(this.limitHits) }
        : err instanceof SalesforceApiError && !err.retriable
          ? { status: 'rejected', error: errorMessage(err) }
          : { status: 'retry', error: errorMessage(err) };
      for (const p of ready) outcomes[p.index] ??= o;
    }
    for (const o of outcomes) if (o) this.counts[o.status === 'delivered' ? 'written' : o.status === 'rejected' ? 'rejected' : 'retried']++;
    return outcomes.map((o) => o ?? { status: 'retry', error: 'Salesforce gave no result for this record' });
  }

  /** What identifies the record (for per-key order): Id, the external id, or nothing for inserts. */
  private keyOf(f: Record<string, unknown>): string | { error: string } {
    const op = this.c.operation;
    if (op === 'insert') return '';
    const field = op === 'upsert' ? (this.c.externalIdField as string) : 'Id';
    const v = f[field] ?? (field === 'Id' ? f.id : undefined);
    if (v === undefined || v === null || v === '') return { error: `the mapping gave no ${field}, which ${op} needs` };
    return String(v);
  }

  /** Calls of ≤ 200 records, one after another; a record whose key is already in a call starts the next (so one record's changes apply in order). */
  private async viaCollections(ready: Prepared[], outcomes: Array<EventOutcome | null>): Promise<void> {
    const calls: Prepared[][] = [];
    let cur: Prepared[] = [];
    let keys = new Set<string>();
    for (const p of ready) {
      if (cur.length >= MAX_COLLECTION || (p.key !== '' && keys.has(p.key))) {
        calls.push(cur);
        cur = [];
        keys = new Set();
      }
      cur.push(p);
      if (p.key !== '') keys.add(p.key);
    }
    if (cur.length > 0) calls.push(cur);
    for (const call of calls) {
      const results = await this.collectionCall(call);
      call.forEach((p, k) => {
        outcomes[p.index] = this.outcome(results[k]);
      });
      // Later calls may hold later changes of a record that failed here: they wait for its retry.
      const failed = new Set(call.filter((p) => outcomes[p.index]?.status === 'retry' && p.key !== '').map((p) => p.key));
      if (failed.size > 0)
        for (const p of ready)
          if (outcomes[p.index] === null && failed.has(p.key))
            outcomes[p.index] = { status: 'retry', error: `an earlier change of ${p.key} is being retried` };
    }
  }

  private collectionCall(call: Prepared[]): Promise<CollectionResult[]> {
    const rest = this.rest as RestClient;
    this.counts.collectionCalls++;
    const attributes = { type: this.c.object };
    switch (this.c.operation) {
      case 'insert':
        return rest.request('POST', '/composite/sobjects', { allOrNone: false, records: call.map((p) => ({ attributes, ...p.fields })) });
      case 'update':
        return rest.request('PATCH', '/composite/sobjects', {
          allOrNone: false,
          records: call.map((p) => ({ attributes, ...withoutId(p.fields), id: p.key })),
        });
      case 'upsert':
        return rest.request('PATCH', `/composite/sobjects/${this.c.object}/${this.c.externalIdField}`, {
          allOrNone: false,
          records: call.map((p) => ({ attributes, ...p.fields })),
        });
      case 'delete':
        return rest.request('DELETE', `/composite/sobjects?allOrNone=false&ids=${call.map((p) => encodeURIComponent(p.key)).join(',')}`);
    }
  }

  private outcome(r: CollectionResult | undefined): EventOutcome {
    if (!r) return { status: 'retry', error: 'Salesforce gave no result for this record' };
    if (r.success) return { status: 'delivered' };
    const e = r.errors?.[0];
    const error = `${this.c.operation} ${this.c.object} refused: ${e?.statusCode ?? 'UNKNOWN'}: ${e?.message ?? ''}${e?.fields?.length ? ` (fields: ${e.fields.join(', ')})` : ''}`;
    return e && TRANSIENT.has(e.statusCode) ? { status: 'retry', error } : { status: 'rejected', error };
  }

  /** One ingest job for the whole write; a record's later change in the same write goes in a later job (retry). */
  private async viaBulk(ready: Prepared[], outcomes: Array<EventOutcome | null>): Promise<void> {
    const seen = new Set<string>();
    const now: Prepared[] = [];
    for (const p of ready) {
      if (p.key !== '' && seen.has(p.key))
        outcomes[p.index] = { status: 'retry', error: `a later change of ${p.key} waits for the next job` };
      else now.push(p);
      if (p.key !== '') seen.add(p.key);
    }
    const columns = this.c.operation === 'delete' ? ['Id'] : [...new Set(now.flatMap((p) => Object.keys(p.fields)))];
    const rows = now.map((p) => (this.c.operation === 'delete' ? [p.key] : columns.map((c) => csvValue(p.fields[c]))));
    this.counts.bulkJobs++;
    this.ctx.log.info(
      { sink: this.ctx.sinkName, records: rows.length },
      `writing ${rows.length} ${this.c.object} records through a Bulk API 2.0 ingest job`,
    );
    const results = await runIngestJob(
      this.rest as RestClient,
      { object: this.c.object, operation: this.c.operation, externalIdFieldName: this.c.externalIdField },
      columns,
      rows,
      { pollMs: this.c.bulkPollMs, timeoutMs: this.c.bulkTimeoutMs, signal: this.abort.signal },
    );
    now.forEach((p, k) => {
      const r = results[k];
      outcomes[p.index] = !r
        ? { status: 'retry', error: 'the Bulk job did not process this record' }
        : r.success
          ? { status: 'delivered' }
          : /UNABLE_TO_LOCK_ROW|SERVER_UNAVAILABLE/.test(r.error ?? '')
            ? { status: 'retry', error: `${this.c.operation} ${this.c.object} refused: ${r.error}` }
            : { status: 'rejected', error: `${this.c.operation} ${this.c.object} refused: ${r.error}` };
    });
  }

  async drain(): Promise<void> {}

  async close(): Promise<void> {
    this.abort.abort();
  }
}

function withoutId(f: Record<string, unknown>): Record<string, unknown> {
  const { Id: _a, id: _b, ...rest } = f;
  return rest;
}

/** A Bulk CSV cell: null clears the field (#N/A), absent leaves it alone (empty). */
function csvValue(v: unknown): string {
  if (v === undefined) return '';
  if (v === null) return '#N/A';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
