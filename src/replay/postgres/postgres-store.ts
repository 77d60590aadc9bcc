/**
 * PostgreSQL replay store: one row per (namespace, key), upserted atomically. Creates its tables
 * on open (idempotent). With HA leases, a commit only lands while the row of the lease table still
 * carries this instance's fencing token (checked in the same statement).
 */
import type pg from 'pg';
import { z } from 'zod';
import { BridgeError, errorMessage, RetriableError } from '../../errors.js';
import type { CheckpointRecord } from '../../positions.js';
import { FencedError, type Lease, type LeaseStore } from '../lease.js';
import type { CommitRequest, ReplayStore, StoredPosition } from '../types.js';

export const postgresStoreConfigSchema = z.strictObject({
  type: z.literal('postgres'),
  url: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .refine((u) => URL.canParse(u), 'is not a valid URL (check the host, port and any %-escapes in the password)'),
  namespace: z.string().min(1).default('default'),
  /** Table name prefix; tables `<prefix>_positions`, `<prefix>_leases`, `<prefix>_instances`. */
  tablePrefix: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, 'lower-case letters, digits and _')
    .default('sfbridge'),
});
export type PostgresStoreConfig = z.infer<typeof postgresStoreConfigSchema>;

export class PostgresReplayStore implements ReplayStore, LeaseStore {
  private pool: pg.Pool | null = null;
  private readonly t: { positions: string; leases: string; instances: string };

  constructor(private readonly config: PostgresStoreConfig) {
    const p = config.tablePrefix;
    this.t = { positions: `${p}_positions`, leases: `${p}_leases`, instances: `${p}_instances` };
  }

  describe(): string {
    const u = new URL(this.config.url);
    return `postgres ${u.host}${u.pathname} (table ${this.t.positions}, namespace ${this.config.namespace})`;
  }

  async open(): Promise<void> {
    // Loaded here, not at startup: only bridges with a PostgreSQL store need the client.
    const { default: pgLib } = await import('pg');
    const pool = new pgLib.Pool({ connectionString: this.config.url, max: 4, connectionTimeoutMillis: 5000 });
    pool.on('error', () => undefined);
    try {
      await this.migrate(pool).catch((err: { code?: string }) => {
        // Two instances creating the tables at once: the loser retries and finds them there.
        if (err.code === '23505' || err.code === '42P07') return this.migrate(pool);
        throw err;
      });
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new BridgeError('REPLAY_STORE_UNAVAILABLE', `replay store ${this.describe()} is unreachable or unusable: ${errorMessage(err)}`);
    }
    this.pool = pool;
  }

  private async migrate(pool: pg.Pool): Promise<void> {
    await pool.query(`
        CREATE TABLE IF NOT EXISTS ${this.t.positions} (
          namespace text NOT NULL, key text NOT NULL, replay_id text NOT NULL,
          event_time timestamptz, committed_at timestamptz NOT NULL, PRIMARY KEY (namespace, key));
        CREATE TABLE IF NOT EXISTS ${this.t.leases} (
          namespace text NOT NULL, key text NOT NULL, owner text NOT NULL, fencing bigint NOT NULL,
          expires_at timestamptz NOT NULL, PRIMARY KEY (namespace, key));
        CREATE TABLE IF NOT EXISTS ${this.t.instances} (
          namespace text NOT NULL, owner text NOT NULL, seen_at timestamptz NOT NULL, PRIMARY KEY (namespace, owner));
        CREATE SEQUENCE IF NOT EXISTS ${this.t.leases}_fencing;`);
  }

  private async q<T extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<T>> {
    if (!this.pool) throw new BridgeError('REPLAY_STORE_UNAVAILABLE', 'postgres store used before open()');
    try {
      return await this.pool.query<T>(text, values);
    } catch (err) {
      throw new RetriableError('REPLAY_STORE_UNAVAILABLE', `replay store ${this.describe()}: ${errorMessage(err)}`, err);
    }
  }

  async load(key: string): Promise<StoredPosition | undefined> {
    const r = await this.q<Row>(
      `SELECT key, replay_id, event_time, committed_at FROM ${this.t.positions} WHERE namespace = $1 AND key = $2`,
      [this.config.namespace, key],
    );
    return r.rows[0] ? toPosition(r.rows[0]) : undefined;
  }

  async list(): Promise<StoredPosition[]> {
    const r = await this.q<Row>(
      `SELECT key, replay_id, event_time, committed_at FROM ${this.t.positions} WHERE namespace = $1 ORDER BY key`,
      [this.config.namespace],
    );
    return r.rows.map(toPosition);
  }

  async commit(key: string, position: CommitRequest, lease?: Lease): Promise<StoredPosition> {
    const c = this.checkpointRecord(key, position, lease);
    const r = await this.q(c.text, c.values);
    if (r.rowCount !== 1) throw new FencedError(key, lease);
    return c.stored;
  }

  /**
   * The commit as one statement, for a sink that writes to this same database (the PostgreSQL
   * sink's exactly-once mode runs it in the transaction of its rows). Under HA it changes a row
   * only while the lease row still carries this instance's fencing token: no row changed means
   * the commit was fenced off.
   */
  checkpointRecord(key: string, position: CommitRequest, lease?: Lease): CheckpointRecord & { kind: 'sql' } {
    const committedAt = new Date().toISOString();
    const values: unknown[] = [this.config.namespace, key, position.replayId, position.eventTime, committedAt];
    const upsert = `INSERT INTO ${this.t.positions} (namespace, key, replay_id, event_time, committed_at) `;
    const conflict =
      ' ON CONFLICT (namespace, key) DO UPDATE SET replay_id = EXCLUDED.replay_id, event_time = EXCLUDED.event_time, committed_at = EXCLUDED.committed_at';
    const text = lease
      ? `${upsert} SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM ${this.t.leases} WHERE namespace = $1 AND key = $2 AND owner = $6 AND fencing = $7)${conflict}`
      : `${upsert} VALUES ($1, $2, $3, $4, $5)${conflict}`;
    if (lease) values.push(lease.owner, lease.fencing);
    return { kind: 'sql', text, values, stored: { key, replayId: position.replayId, eventTime: position.eventTime, committedAt } };
  }

  async delete(key: string): Promise<boolean> {
    const r = await this.q(`DELETE FROM ${this.t.positions} WHERE namespace = $1 AND key = $2`, [this.config.namespace, key]);
    return (r.rowCount ?? 0) > 0;
  }

  async close(): Promise<void> {
    await this.pool?.end().catch(() => undefined);
    this.pool = null;
  }

  // ---- leases ----

  async acquire(key: string, owner: string, ttlMs: number): Promise<Lease | null> {
    // Take the lease if free, expired or already ours; a new owner gets a new fencing token.
    const r = await this.q<{ owner: string; fencing: string }>(
      `INSERT INTO ${this.t.leases} (namespace, key, owner, fencing, expires_at)
       VALUES ($1, $2, $3, nextval('${this.t.leases}_fencing'), now() + ($4 || ' milliseconds')::interval)
       ON CONFLICT (namespace, key) DO UPDATE SET
         owner = EXCLUDED.owner,
         fencing = CASE WHEN ${this.t.leases}.owner = EXCLUDED.owner THEN ${this.t.leases}.fencing ELSE EXCLUDED.fencing END,
         expires_at = EXCLUDED.expires_at
       WHERE ${this.t.leases}.owner = EXCLUDED.owner OR ${this.t.leases}.expires_at < now()
       RETURNING owner, fencing`,
      [this.config.namespace, key, owner, String(ttlMs)],
    );
    const row = r.rows[0];
    return row ? { key, owner, fencing: Number(row.fencing) } : null;
  }

  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    const r = await this.q(
      `UPDATE ${this.t.leases} SET expires_at = now() + ($5 || ' milliseconds')::interval WHERE namespace = $1 AND key = $2 AND owner = $3 AND fencing = $4 AND expires_at >= now()`,
      [this.config.namespace, lease.key, lease.owner, lease.fencing, String(ttlMs)],
    );
    return r.rowCount === 1;
  }

  async release(lease: Lease): Promise<void> {
    await this.q(`DELETE FROM ${this.t.leases} WHERE namespace = $1 AND key = $2 AND owner = $3 AND fencing = $4`, [
      this.config.namespace,
      lease.key,
      lease.owner,
      lease.fencing,
    ]);
  }

  async heartbeat(owner: string, ttlMs: number): Promise<number> {
    await this.q(
      `INSERT INTO ${this.t.instances} (namespace, owner, seen_at) VALUES ($1, $2, now()) ON CONFLICT (namespace, owner) DO UPDATE SET seen_at = now()`,
      [this.config.namespace, owner],
    );
    const r = await this.q<{ n: string }>(
      `SELECT count(*) AS n FROM ${this.t.instances} WHERE namespace = $1 AND seen_at > now() - ($2 || ' milliseconds')::interval`,
      [this.config.namespace, String(ttlMs)],
    );
    return Number(r.rows[0]?.n ?? 1);
  }
}

interface Row {
  key: string;
  replay_id: string;
  event_time: Date | null;
  committed_at: Date;
}

function toPosition(r: Row): StoredPosition {
  return {
    key: r.key,
    replayId: r.replay_id,
    eventTime: r.event_time ? r.event_time.toISOString() : null,
    committedAt: r.committed_at.toISOString(),
  };
}
