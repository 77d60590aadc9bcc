/**
 * The PostgreSQL sink (config.ts): a live mirror of Salesforce objects, a history of changes, or
 * an outbox of envelopes. Each write is one transaction; with `exactlyOnce` the route's replay
 * position is written in it too (the PostgreSQL replay store's checkpoint statement), so rows and
 * position never disagree, whatever crashes. Values that do not fit their column are refused per
 * event with the column and the reason; the database being unreachable is a retry.
 */
import type pg from 'pg';
import type { CheckContext } from '../../config/schema.js';
import type { Envelope } from '../../envelope.js';
import { BridgeError, errorMessage, RetriableError } from '../../errors.js';
import type { CheckpointRecord } from '../../positions.js';
import type { EventOutcome, Sink, SinkContext } from '../types.js';
import { type PostgresSinkConfig, tableTemplate } from './config.js';
import { Tables } from './tables.js';
import { type Step, WRITERS } from './writers.js';

const DELIVERED: EventOutcome = { status: 'delivered' };

export function postgresSinkProblems(config: PostgresSinkConfig, ctx: CheckContext): string[] {
  const out: string[] = [];
  const sample = tableName(tableTemplate(config), { object: 'opportunitylineitem__history', route: ctx.route.key, channel: 'x' });
  if (sample.length > 63)
    out.push(
      `tables: "${tableTemplate(config)}" gives "${sample}" for route "${ctx.route.key}", longer than PostgreSQL's 63-character names`,
    );
  if (config.exactlyOnce) {
    const store = ctx.config.replayStore;
    if (store.type !== 'postgres' || !sameDatabase(String(store.url), config.url))
      out.push(
        'exactlyOnce: needs replayStore.type postgres on the same database (the position is written in the transaction of the rows)',
      );
    if (ctx.route.sinks > 1)
      out.push(
        "exactlyOnce: the exactly-once PostgreSQL sink must be the route's only sink (its position must not run ahead of other sinks)",
      );
  }
  return out;
}

function sameDatabase(a: string, b: string): boolean {
  const [x, y] = [new URL(a), new URL(b)];
  return x.hostname === y.hostname && (x.port || '5432') === (y.port || '5432') && x.pathname === y.pathname;
}

/** A table name from the template, as an identifier (lower case; anything else becomes _). */
export function tableName(template: string, v: { object: string; route: string; channel: string }): string {
  const safe = (s: string) =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, '_')
      .replace(/^_+|_+$/g, '');
  return template
    .replace(/\{object\}/g, safe(v.object))
    .replace(/\{route\}/g, safe(v.route))
    .replace(/\{channel\}/g, safe(v.channel));
}

export class PostgresSink implements Sink {
  private pool: pg.Pool | null = null;
  private tables: Tables | null = null;
  readonly atomicCheckpoints: boolean;
  private readonly counters = { transactions: 0, rowsWritten: 0, eventsRejected: 0, eventsSkipped: 0 };

  constructor(
    private readonly config: PostgresSinkConfig,
    private readonly ctx: SinkContext,
  ) {
    this.atomicCheckpoints = config.exactlyOnce;
  }

  describe(): string {
    const u = new URL(this.config.url);
    return `postgres ${u.host}${u.pathname} ${this.config.schema}.${tableTemplate(this.config)} (${this.config.mode}${this.config.exactlyOnce ? ', exactly-once' : ''})`;
  }

  async open(): Promise<void> {
    // Loaded here, not at startup: only bridges with a PostgreSQL sink need the client.
    const { default: pgLib } = await import('pg');
    const pool = new pgLib.Pool({ connectionString: this.config.url, max: this.config.poolSize, connectionTimeoutMillis: 10_000 });
    pool.on('error', () => undefined);
    try {
      await pool.query('SELECT 1');
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new BridgeError(
        'SINK_UNAVAILABLE',
        `postgres sink: cannot use ${new URL(this.config.url).host}: ${errorMessage(err)} (check url)`,
      );
    }
    this.pool = pool;
    this.tables = new Tables(pool, this.config.schema, this.ctx.log, this.ctx.describeObject);
  }

  async write(batch: readonly Envelope[], checkpoint?: CheckpointRecord): Promise<EventOutcome[] | undefined> {
    if (!this.pool || !this.tables) throw new BridgeError('SINK_UNAVAILABLE', 'postgres sink used before open()');
    const outcomes: EventOutcome[] = batch.map(() => DELIVERED);
    const steps = await this.prepare(batch, outcomes);
    // The position rides along only when every event of the batch is in: a refused one is
    // dead-lettered first, and the route then commits past it on its own.
    const all = outcomes.every((o) => o.status === 'delivered');
    try {
      await this.transaction(steps, all ? checkpoint : undefined);
    } catch (err) {
      if (!isDataError(err)) throw classify(err);
      // A value PostgreSQL refused that the checks here let through: find it, one event at a time.
      return this.onePerTransaction(batch, outcomes);
    }
    this.counters.eventsRejected += outcomes.filter((o) => o.status === 'rejected').length;
    return all ? undefined : outcomes;
  }

  private prepare(batch: readonly Envelope[], outcomes: EventOutcome[]): Promise<Step[]> {
    const w = WRITERS[this.config.mode];
    return w({
      batch,
      outcomes,
      tables: this.tables as Tables,
      config: this.config,
      route: this.ctx.route,
      table: (v) => tableName(tableTemplate(this.config), { ...v, route: this.ctx.route }),
      note: (n) => {
        this.counters.eventsSkipped += n.events;
        this.ctx.log.warn({ sink: this.ctx.sinkName, events: n.events }, `postgres sink: ${n.why}`);
      },
      wrote: (rows) => {
        this.counters.rowsWritten += rows;
      },
    });
  }

  private async transaction(steps: Step[], checkpoint: CheckpointRecord | undefined): Promise<void> {
    if (checkpoint && checkpoint.kind !== 'sql') throw new TypeError(`the PostgreSQL sink cannot write a ${checkpoint.kind} checkpoint`);
    let client: pg.PoolClient;
    try {
      client = await (this.pool as pg.Pool).connect();
    } catch (err) {
      throw new RetriableError('SINK_UNAVAILABLE', `postgres sink: cannot connect: ${errorMessage(err)}`, err);
    }
    try {
      await client.query('BEGIN');
      for (const step of steps) await step(client);
      if (checkpoint) {
        const r = await client.query(checkpoint.text, checkpoint.values);
        if (r.rowCount !== 1) throw new BridgeError('FENCED', 'this instance no longer holds the lease of the route; rows not written');
      }
      await client.query('COMMIT');
      this.counters.transactions++;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private async onePerTransaction(batch: readonly Envelope[], outcomes: EventOutcome[]): Promise<EventOutcome[]> {
    for (let i = 0; i < batch.length; i++) {
      if (outcomes[i]?.status !== 'delivered') continue;
      const one: EventOutcome[] = [DELIVERED];
      try {
        await this.transaction(await this.prepare([batch[i] as Envelope], one), undefined);
        outcomes[i] = one[0] as EventOutcome;
      } catch (err) {
        if (!isDataError(err)) throw classify(err);
        outcomes[i] = { status: 'rejected', error: `PostgreSQL refused the event: ${errorMessage(err)}` };
      }
    }
    this.counters.eventsRejected += outcomes.filter((o) => o.status === 'rejected').length;
    return outcomes;
  }

  async drain(): Promise<void> {}

  async close(): Promise<void> {
    await this.pool?.end().catch(() => undefined);
    this.pool = null;
  }

  stats(): Record<string, number> {
    return { ...this.counters };
  }
}

/** PostgreSQL error classes 22 (data exception) and 23 (integrity): the data, not the database. */
function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^2[23]/.test(code);
}

/** Connection trouble, shutdowns, serialization failures and deadlocks pass; anything else is for a person to fix. */
function classify(err: unknown): unknown {
  if (err instanceof BridgeError || err instanceof TypeError) return err;
  const code = String((err as { code?: unknown }).code ?? '');
  if (code === '' || /^(08|53|57|40)/.test(code) || /ECONN|ETIMEDOUT|EPIPE|terminat/i.test(errorMessage(err)))
    return new RetriableError('SINK_UNAVAILABLE', `postgres sink: ${errorMessage(err)}`, err);
  return new BridgeError('SINK_UNAVAILABLE', `postgres sink: ${errorMessage(err)} (PostgreSQL error ${code})`);
}
