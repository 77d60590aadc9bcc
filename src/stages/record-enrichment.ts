/**
 * Record enrichment: change events that reach the sinks with the records' current state, fetched
 * through the Composite sObject Collections API (GET /composite/sobjects/{entity}?ids=…&fields=…,
 * at most 200 ids per call, ids batched across the events of a burst). Two uses:
 * - gap enrichment (`gaps: enrich`): a `GAP_CREATE/UPDATE/DELETE/UNDELETE` event carries record
 *   ids but no field values (Salesforce could not produce the change itself);
 * - full records on update (`fullRecord`): an UPDATE carries only what changed; this adds every
 *   field (or the listed ones).
 * The envelope gets `enriched: true`, `enrichedAt` (values are as of the fetch, not of the change)
 * and the fields in `payload` (`deleted: true` for records that no longer exist).
 *
 * It wraps the route's subscriber, so it sits between the source and the pipeline: batches,
 * keepalive checkpoints and the end of the stream pass through one queue, in stream order, so a
 * position is never committed ahead of an event still being enriched. Credit is untouched (one
 * envelope in, one out). When Salesforce cannot be asked (network, limits, or the org's daily API
 * requests under `limits.reservePercent`), the event goes on unenriched with the reason in
 * `enrichError`: never lost, never stuck.
 */
import type { Envelope } from '../envelope.js';
import { BridgeError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { backoffDelay, sleep } from '../retry.js';
import type { RestClient } from '../salesforce/rest.js';
import type { Subscriber, SubscriberContext } from '../subscribers/types.js';
import { QueuedStage, type Step } from './stage.js';

const MAX_IDS = 200;
/**
 * When a batch holds events to enrich, wait for the batches right behind it (a burst arrives as
 * several batches) so their ids share calls: while new batches keep coming within LINGER_MS, up
 * to MAX_IDS ids or LINGER_MAX_MS in all.
 */
const LINGER_MS = 25;
const LINGER_MAX_MS = 250;
const TRIES = 3;

const hasIds = (e: Envelope) => (e.changeHeader?.recordIds.length ?? 0) > 0;

/** What an enrichment stage enriches, the fields it asks for and the names of its counters. */
export interface EnrichmentPurpose {
  label: string;
  select(e: Envelope): boolean;
  /** Field names to fetch; null: every field the entity's describe lists. */
  fields: string[] | null;
  counters: { enriched: string; notEnriched: string; calls: string };
}

export const GAPS: EnrichmentPurpose = {
  label: 'gaps enriched',
  select: (e) => e.kind === 'gap' && hasIds(e),
  fields: null,
  counters: { enriched: 'gapsEnriched', notEnriched: 'gapsNotEnriched', calls: 'compositeCalls' },
};

export function fullRecords(fields: string[] | null): EnrichmentPurpose {
  return {
    label: 'full records on update',
    select: (e) => e.kind === 'cdc' && e.changeHeader?.changeType === 'UPDATE' && hasIds(e),
    fields: fields && ['Id', ...fields.filter((f) => f !== 'Id')],
    counters: { enriched: 'fullRecords', notEnriched: 'fullRecordsNotFetched', calls: 'fullRecordCalls' },
  };
}

export class RecordEnrichment extends QueuedStage {
  private readonly fields = new Map<string, Promise<string[]>>();
  /** Fetched records of queued events by id: the row, null (no such record any more) or why it could not be fetched. */
  private readonly rows = new Map<string, Row | Unfetched>();
  protected readonly counters: Record<string, number>;

  constructor(
    inner: Subscriber,
    private readonly rest: RestClient,
    private readonly purpose: EnrichmentPurpose,
    /** The org's `limits.reservePercent`: no call while less than this share of daily API requests is left. */
    private readonly reservePercent: number,
    private readonly log: Logger,
  ) {
    super(inner, purpose.label);
    const c = purpose.counters;
    this.counters = { [c.enriched]: 0, [c.notEnriched]: 0, [c.calls]: 0 };
  }

  request(n: number): void {
    this.inner.request(n);
  }

  protected async drain(ctx: SubscriberContext): Promise<void> {
    this.running = true;
    const select = this.purpose.select;
    try {
      while (this.queue.length > 0 && !this.stopped) {
        const head = this.queue[0] as Step;
        if (head.kind === 'emit' && head.events.some(select)) {
          await this.prepare(head.events);
          if (this.stopped) return;
          this.queue.shift();
          ctx.emit(this.enriched(head.events));
          continue;
        }
        this.queue.shift();
        if (head.kind === 'emit') ctx.emit(head.events);
        else if (head.kind === 'checkpoint') ctx.checkpoint(head.replayId, head.eventTime);
        else ctx.end();
      }
    } catch (err) {
      ctx.fail(err as Error);
    } finally {
      this.running = false;
    }
  }

  /**
   * Fetch until every record of `head` is known. Ids of the whole queue are fetched in full calls
   * of MAX_IDS while a burst keeps arriving; a call for fewer only once nothing more comes (or
   * LINGER_MAX_MS passed), so a burst of N records takes ceil(N/200) calls per entity.
   */
  private async prepare(head: Envelope[]): Promise<void> {
    const started = Date.now();
    for (;;) {
      const quiet = await this.linger(started);
      const pending = this.unknownIds();
      for (const [entity, ids] of pending) {
        for (let i = 0; i + MAX_IDS <= ids.length; i += MAX_IDS) await this.fetch(entity, ids.slice(i, i + MAX_IDS));
      }
      const missing = this.unknownIds(head);
      if (missing.size === 0 || this.stopped) return;
      if (quiet) {
        for (const [entity] of missing) {
          const ids = this.unknownIds().get(entity) ?? [];
          for (let i = 0; i < ids.length; i += MAX_IDS) await this.fetch(entity, ids.slice(i, i + MAX_IDS));
        }
        return;
      }
    }
  }

  /** Waits while batches keep arriving; true when the burst went quiet (or took too long), false at MAX_IDS unknown ids. */
  private async linger(started: number): Promise<boolean> {
    let seen = -1;
    for (;;) {
      if (Date.now() - started >= LINGER_MAX_MS) return true;
      let ids = 0;
      for (const list of this.unknownIds().values()) ids += list.length;
      if (ids >= MAX_IDS) return false;
      const emits = this.queue.length;
      if (emits === seen) return true;
      seen = emits;
      await sleep(LINGER_MS);
    }
  }

  /** Record ids of selected events (of `events`, else of the whole queue) not fetched yet, by entity, in stream order. */
  private unknownIds(events?: Envelope[]): Map<string, string[]> {
    const out = new Map<string, string[]>();
    const seen = new Set<string>();
    const scan = (list: Envelope[]) => {
      for (const e of list) {
        if (!this.purpose.select(e)) continue;
        const entity = e.changeHeader?.entity as string;
        for (const id of e.changeHeader?.recordIds ?? []) {
          if (this.rows.has(id) || seen.has(id)) continue;
          seen.add(id);
          const l = out.get(entity) ?? [];
          l.push(id);
          out.set(entity, l);
        }
      }
    };
    if (events) scan(events);
    else for (const s of this.queue) if (s.kind === 'emit') scan(s.events);
    return out;
  }

  /** The events, the selected ones replaced by enriched copies (their rows are then forgotten). */
  private enriched(events: Envelope[]): Envelope[] {
    const at = new Date().toISOString();
    const c = this.purpose.counters;
    const out = events.map((e) => {
      if (!this.purpose.select(e)) return e;
      const ids = e.changeHeader?.recordIds ?? [];
      const rows = ids.map((id) => this.rows.get(id) ?? null);
      const failure = rows.find((r) => r instanceof Unfetched);
      if (failure) {
        this.counters[c.notEnriched] = (this.counters[c.notEnriched] ?? 0) + 1;
        return { ...e, enrichError: failure.error };
      }
      this.counters[c.enriched] = (this.counters[c.enriched] ?? 0) + 1;
      const payload =
        ids.length === 1 ? recordPayload(rows[0] as Row) : { records: ids.map((id, k) => ({ Id: id, ...recordPayload(rows[k] as Row) })) };
      return { ...e, enriched: true as const, enrichedAt: at, payload };
    });
    for (const e of events) if (this.purpose.select(e)) for (const id of e.changeHeader?.recordIds ?? []) this.rows.delete(id);
    return out;
  }

  /** One Composite call for up to MAX_IDS records; a failure is recorded for each id (its events go on unenriched). */
  private async fetch(entity: string, chunk: string[]): Promise<void> {
    const calls = this.purpose.counters.calls;
    try {
      const fields = this.purpose.fields ?? (await this.fieldsOf(entity));
      const rows = await this.withRetry(`${entity} records`, () => {
        this.checkAllowance();
        this.counters[calls] = (this.counters[calls] ?? 0) + 1;
        return this.rest.request<Array<Record<string, unknown> | null>>(
          'GET',
          `/composite/sobjects/${encodeURIComponent(entity)}?ids=${chunk.join(',')}&fields=${fields.join(',')}`,
        );
      });
      for (const [k, id] of chunk.entries()) this.rows.set(id, rows[k] ?? null);
    } catch (err) {
      const error = errorMessage(err);
      this.log.warn(
        { entity, records: chunk.length, error },
        `${this.purpose.label}: events go on unenriched, Salesforce could not be asked for the records`,
      );
      for (const id of chunk) this.rows.set(id, new Unfetched(error));
    }
  }

  /** Refuses a call while the org's daily API requests (as its last response said) are under the reserve. */
  private checkAllowance(): void {
    const u = this.rest.apiUsage;
    if (!u || u.max <= 0) return;
    const left = u.max - u.used;
    if ((left / u.max) * 100 < this.reservePercent)
      throw new BridgeError(
        'SF_ALLOWANCE',
        `the org's DailyApiRequests is down to ${Math.max(0, left)} of ${u.max}, under the ${this.reservePercent}% reserve (orgs.<name>.limits.reservePercent); not fetching records`,
      );
  }

  /** The entity's field names from its describe (once per entity). */
  private fieldsOf(entity: string): Promise<string[]> {
    let p = this.fields.get(entity);
    if (!p) {
      p = this.withRetry(`${entity} describe`, () => {
        this.checkAllowance();
        return this.rest.request<{ fields: Array<{ name: string; type: string }> }>(
          'GET',
          `/sobjects/${encodeURIComponent(entity)}/describe`,
        );
      }).then((d) => d.fields.filter((f) => f.type !== 'address' && f.type !== 'location').map((f) => f.name));
      p.catch(() => this.fields.delete(entity));
      this.fields.set(entity, p);
    }
    return p;
  }

  private async withRetry<T>(what: string, call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        const retriable = (err as { retriable?: boolean }).retriable !== false;
        if (!retriable || attempt >= TRIES || this.stopped) throw err;
        this.log.info({ what, attempt, error: errorMessage(err) }, `${this.purpose.label}: retrying a Salesforce call`);
        await sleep(backoffDelay(attempt));
      }
    }
  }
}

type Row = Record<string, unknown> | null;

/** A record that could not be fetched, and why. */
class Unfetched {
  constructor(readonly error: string) {}
}

/** A fetched row as payload (without `attributes`), or the mark of a record that is gone. */
function recordPayload(row: Row): Record<string, unknown> {
  if (!row) return { deleted: true };
  const { attributes: _attributes, ...fields } = row;
  return fields;
}
