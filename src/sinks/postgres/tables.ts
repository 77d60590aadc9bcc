/**
 * The sink's tables: created on first use, widened (`ALTER TABLE … ADD COLUMN IF NOT EXISTS`) when
 * events bring a field the table lacks, never narrowed: a column Salesforce no longer describes is
 * reported, not dropped. Identifiers are always quoted; values never reach SQL text.
 */
import type pg from 'pg';
import type { Logger } from '../../log.js';
import { columnName, type PgType, pgTypeOf } from './columns.js';

export const q = (id: string) => `"${id.replace(/"/g, '""')}"`;

/** Columns every mirror table has besides the object's fields. */
export const MIRROR_META: Array<[string, string]> = [
  ['id', 'text PRIMARY KEY'],
  ['_sf_ts', 'bigint NOT NULL'],
  ['_sf_cn', 'numeric NOT NULL'],
  ['_sf_seq', 'integer NOT NULL'],
  ['_sf_stale_at', 'timestamptz'],
  ['is_deleted', 'boolean NOT NULL DEFAULT false'],
  ['deleted_at', 'timestamptz'],
];

const HISTORY_DDL = `event_id text PRIMARY KEY, record_ids text[] NOT NULL, change_type text NOT NULL,
  changed_fields text[] NOT NULL, nulled_fields text[] NOT NULL, commit_timestamp timestamptz,
  commit_number numeric, replay_id text NOT NULL, org text NOT NULL, channel text NOT NULL,
  received_at timestamptz NOT NULL, payload jsonb`;

const EVENTS_DDL = `event_id text PRIMARY KEY, org text NOT NULL, channel text NOT NULL, replay_id text NOT NULL,
  kind text NOT NULL, event_time timestamptz, received_at timestamptz NOT NULL, envelope jsonb NOT NULL`;

export type Describe = (entity: string) => Promise<Array<{ name: string; type: string }>>;

export class Tables {
  /** Known columns (name → type) per table, once created or read from the catalog. */
  private readonly columns = new Map<string, Map<string, string>>();
  /** Salesforce field types per object, from the describe (or empty when there is none). */
  private readonly types = new Map<string, Promise<Map<string, PgType>>>();
  private reported = new Set<string>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    private readonly log: Logger,
    private readonly describe?: Describe,
  ) {}

  name(table: string): string {
    return `${q(this.schema)}.${q(table)}`;
  }

  /** The table exists (created with the mode's columns when not), its columns known. */
  async ensure(table: string, mode: 'mirror' | 'history' | 'events'): Promise<Map<string, string>> {
    let cols = this.columns.get(table);
    if (cols) return cols;
    const ddl = mode === 'mirror' ? MIRROR_META.map(([c, t]) => `${q(c)} ${t}`).join(', ') : mode === 'history' ? HISTORY_DDL : EVENTS_DDL;
    await this.pool.query(`CREATE SCHEMA IF NOT EXISTS ${q(this.schema)}`).catch(ignoreRace);
    await this.pool.query(`CREATE TABLE IF NOT EXISTS ${this.name(table)} (${ddl})`).catch(ignoreRace);
    const r = await this.pool.query<{ column_name: string; data_type: string }>(
      'SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2',
      [this.schema, table],
    );
    cols = new Map(r.rows.map((x) => [x.column_name, x.data_type]));
    this.columns.set(table, cols);
    return cols;
  }

  /** The object's field types from its describe (once per object; empty when it cannot be had). */
  fieldTypes(entity: string): Promise<Map<string, PgType>> {
    let p = this.types.get(entity);
    if (!p) {
      const describe = this.describe;
      p = describe
        ? describe(entity).then(
            (fields) => new Map(fields.flatMap((f) => ((t) => (t ? [[columnName(f.name), t] as [string, PgType]] : []))(pgTypeOf(f.type)))),
            (err) => {
              this.log.warn({ entity, error: String(err) }, 'postgres sink: no describe for the object; column types follow the values');
              this.types.delete(entity);
              return new Map<string, PgType>();
            },
          )
        : Promise.resolve(new Map());
      this.types.set(entity, p);
    }
    return p;
  }

  /** Add the columns the table lacks; a column type is the describe's, else the value's. */
  async widen(table: string, entity: string, wanted: Map<string, PgType>): Promise<void> {
    const cols = this.columns.get(table);
    if (!cols) throw new Error(`table ${table} used before ensure()`);
    const missing = [...wanted].filter(([c]) => !cols.has(c));
    if (missing.length === 0) return;
    const described = await this.fieldTypes(entity);
    for (const [c, t] of missing) {
      const type = described.get(c) ?? t;
      await this.pool.query(`ALTER TABLE ${this.name(table)} ADD COLUMN IF NOT EXISTS ${q(c)} ${type}`);
      cols.set(c, type);
      this.log.info({ table: `${this.schema}.${table}`, column: c, type }, 'postgres sink: column added');
    }
    this.reportVanished(table, entity, cols, described);
  }

  /** Columns Salesforce no longer describes are kept (never dropped) and said once. */
  private reportVanished(table: string, entity: string, cols: Map<string, string>, described: Map<string, PgType>): void {
    if (described.size === 0) return;
    for (const c of cols.keys()) {
      if (c.startsWith('_sf_') || MIRROR_META.some(([m]) => m === c) || described.has(c) || this.reported.has(`${table}.${c}`)) continue;
      this.reported.add(`${table}.${c}`);
      this.log.warn(
        { table: `${this.schema}.${table}`, column: c, entity },
        'postgres sink: the column is not in the object any more; kept, not dropped',
      );
    }
  }

  has(table: string, column: string): boolean {
    return this.columns.get(table)?.has(column) ?? false;
  }

  /** The column's type as the table has it (for values), or the describe's / inferred one. */
  typeOf(table: string, column: string): PgType {
    const t = this.columns.get(table)?.get(column);
    switch (t) {
      case 'boolean':
        return 'boolean';
      case 'bigint':
      case 'integer':
        return 'bigint';
      case 'numeric':
      case 'double precision':
        return 'numeric';
      case 'timestamp with time zone':
      case 'timestamptz':
        return 'timestamptz';
      case 'date':
        return 'date';
      case 'time without time zone':
      case 'time':
        return 'time';
      default:
        return 'text';
    }
  }
}

/** Two writers creating one table at once: the loser finds it there. */
function ignoreRace(err: { code?: string }): void {
  if (err.code === '23505' || err.code === '42P07' || err.code === '42P06') return;
  throw err;
}
