/**
 * Gap enrichment (route `gaps: enrich`). A `GAP_CREATE/UPDATE/DELETE/UNDELETE` change event
 * carries record ids but no field values (Salesforce could not produce the change itself); this
 * stage fetches those records' current state through the Composite sObject Collections API
 * (GET /composite/sobjects/{entity}?ids=…&fields=…, at most 200 ids per call, ids batched across
 * events) and hands the sinks the gap envelope with `enriched: true`, `enrichedAt` and the fields
 * in `payload` (`deleted: true` for records that no longer exist).
 *
 * It wraps the route's subscriber, so it sits between the source and the pipeline: batches,
 * keepalive checkpoints and the end of the stream pass through one queue, in stream order, so a
 * position is never committed ahead of an event still being enriched. Credit is untouched (one
 * envelope in, one out). When Salesforce cannot be asked (network, limits), the gap event goes on
 * unenriched with the reason in `enrichError` after a few tries: never lost, never stuck.
 */
import type { Envelope } from '../envelope.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { backoffDelay, sleep } from '../retry.js';
import type { RestClient } from '../salesforce/rest.js';
import type { Subscriber, SubscriberContext } from '../subscribers/types.js';
import { QueuedStage, type Step } from './stage.js';

const MAX_IDS = 200;
/**
 * When a batch holds gap events, wait for the batches right behind it (a burst of gap events
 * arrives as several batches) so their ids share calls: while new batches keep coming within
 * LINGER_MS, up to MAX_IDS ids or LINGER_MAX_MS in all.
 */
const LINGER_MS = 25;
const LINGER_MAX_MS = 250;
const TRIES = 3;

const isGap = (e: Envelope) => e.kind === 'gap' && (e.changeHeader?.recordIds.length ?? 0) > 0;

export class GapEnrichment extends QueuedStage {
  private readonly fields = new Map<string, Promise<string[]>>();
  protected readonly counters = { gapsEnriched: 0, gapsNotEnriched: 0, compositeCalls: 0 };

  constructor(
    inner: Subscriber,
    private readonly rest: RestClient,
    private readonly log: Logger,
  ) {
    super(inner, 'gaps enriched');
  }

  request(n: number): void {
    this.inner.request(n);
  }

  protected async drain(ctx: SubscriberContext): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.stopped) {
        const head = this.queue[0] as Step;
        if (head.kind === 'emit' && head.events.some(isGap)) {
          await this.linger();
          // Every emit queued by now (up to the next non-emit step) is enriched together.
          const batches: Envelope[][] = [];
          while (this.queue[0]?.kind === 'emit') batches.push((this.queue.shift() as { events: Envelope[] }).events);
          const enriched = await this.enrich(batches.flat());
          let at = 0;
          for (const b of batches) {
            if (this.stopped) return;
            ctx.emit(enriched.slice(at, at + b.length));
            at += b.length;
          }
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

  private async linger(): Promise<void> {
    const start = Date.now();
    let seen = -1;
    while (Date.now() - start < LINGER_MAX_MS) {
      const emits = this.queue.filter((s) => s.kind === 'emit') as Array<{ events: Envelope[] }>;
      const ids = emits.reduce((n, s) => n + s.events.filter(isGap).reduce((m, e) => m + (e.changeHeader?.recordIds.length ?? 0), 0), 0);
      if (ids >= MAX_IDS || emits.length === seen) return;
      seen = emits.length;
      await sleep(LINGER_MS);
    }
  }

  /** The same events, gap events replaced by enriched copies. */
  private async enrich(events: Envelope[]): Promise<Envelope[]> {
    const byEntity = new Map<string, Set<string>>();
    for (const e of events)
      if (isGap(e)) {
        const entity = e.changeHeader?.entity as string;
        const ids = byEntity.get(entity) ?? new Set();
        for (const id of e.changeHeader?.recordIds ?? []) ids.add(id);
        byEntity.set(entity, ids);
      }
    const found = new Map<string, Record<string, unknown> | null>();
    const failed = new Map<string, string>();
    for (const [entity, ids] of byEntity) {
      try {
        const fields = await this.fieldsOf(entity);
        const list = [...ids];
        for (let i = 0; i < list.length; i += MAX_IDS) {
          const chunk = list.slice(i, i + MAX_IDS);
          const rows = await this.withRetry(`${entity} records`, () => {
            this.counters.compositeCalls++;
            return this.rest.request<Array<Record<string, unknown> | null>>(
              'GET',
              `/composite/sobjects/${encodeURIComponent(entity)}?ids=${chunk.join(',')}&fields=${fields.join(',')}`,
            );
          });
          for (const [k, id] of chunk.entries()) found.set(id, rows[k] ?? null);
        }
      } catch (err) {
        failed.set(entity, errorMessage(err));
        this.log.warn({ entity, error: errorMessage(err) }, 'gap events go on unenriched: Salesforce could not be asked for the records');
      }
    }
    const at = new Date().toISOString();
    return events.map((e) => {
      if (!isGap(e)) return e;
      const entity = e.changeHeader?.entity as string;
      const why = failed.get(entity);
      if (why) {
        this.counters.gapsNotEnriched++;
        return { ...e, enrichError: why };
      }
      this.counters.gapsEnriched++;
      const ids = e.changeHeader?.recordIds ?? [];
      const rows = ids.map((id) => found.get(id) ?? null);
      const payload =
        ids.length === 1
          ? recordPayload(rows[0] ?? null)
          : { records: ids.map((id, k) => ({ Id: id, ...recordPayload(rows[k] ?? null) })) };
      return { ...e, enriched: true, enrichedAt: at, payload };
    });
  }

  /** The entity's field names from its describe (once per entity). */
  private fieldsOf(entity: string): Promise<string[]> {
    let p = this.fields.get(entity);
    if (!p) {
      p = this.withRetry(`${entity} describe`, () =>
        this.rest.request<{ fields: Array<{ name: string; type: string }> }>('GET', `/sobjects/${encodeURIComponent(entity)}/describe`),
      ).then((d) => d.fields.filter((f) => f.type !== 'address' && f.type !== 'location').map((f) => f.name));
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
        this.log.info({ what, attempt, error: errorMessage(err) }, 'gap enrichment: retrying a Salesforce call');
        await sleep(backoffDelay(attempt));
      }
    }
  }
}

/** A fetched row as payload (without `attributes`), or the mark of a record that is gone. */
function recordPayload(row: Record<string, unknown> | null): Record<string, unknown> {
  if (!row) return { deleted: true };
  const { attributes: _attributes, ...fields } = row;
  return fields;
}
