/**
 * Mirror mode's statements: set-based over arrays (`unnest`), a few per table and batch; large
 * groups of rows go through COPY into a temporary table first. Values are parameters or COPY data,
 * never SQL text; identifiers are quoted.
 */
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { PgType } from './columns.js';
import type { NetRow } from './mirror-plan.js';
import { q } from './tables.js';

/** Rows in one upsert group from which COPY beats one array statement. */
const COPY_FROM = 500;

const GUARD = (t: string, d: string) => `(${t}."_sf_ts", ${t}."_sf_cn", ${t}."_sf_seq") <= (${d}."_sf_ts", ${d}."_sf_cn", ${d}."_sf_seq")`;

export interface TableRows {
  /** Quoted schema.table. */
  name: string;
  rows: NetRow[];
  deletes: 'hard' | 'soft';
  /** Column types, for the arrays' casts. */
  typeOf: (column: string) => PgType;
}

/** Apply the net row changes of one table, in the transaction of `client`. */
export async function applyMirror(client: pg.PoolClient, t: TableRows): Promise<void> {
  const deletes = t.rows.filter((r) => r.op === 'delete');
  const resets = t.rows.filter((r) => r.op === 'upsert' && r.reset);
  if (t.deletes === 'hard' || resets.length > 0) await hardDelete(client, t.name, t.deletes === 'hard' ? [...deletes, ...resets] : resets);
  if (t.deletes === 'soft' && deletes.length > 0) await softDelete(client, t.name, deletes);
  const groups = new Map<string, NetRow[]>();
  for (const r of t.rows) {
    if (r.op !== 'upsert') continue;
    // Rows of one source list their fields in one order: the key needs no sort.
    let key = r.full ? 'F' : 'P';
    for (const c of r.fields.keys()) key += `,${c}`;
    const g = groups.get(key);
    if (g) g.push(r);
    else groups.set(key, [r]);
  }
  for (const rows of groups.values()) await upsert(client, t, rows);
  const stale = t.rows.filter((r) => r.op === 'stale').map((r) => r.id);
  if (stale.length > 0) await client.query(`UPDATE ${t.name} SET "_sf_stale_at" = now() WHERE "id" = ANY($1::text[])`, [stale]);
}

const versions = (rows: NetRow[]) => [
  rows.map((r) => r.id),
  rows.map((r) => r.version.ts),
  rows.map((r) => r.version.cn),
  rows.map((r) => r.version.seq),
];

async function hardDelete(client: pg.PoolClient, name: string, rows: NetRow[]): Promise<void> {
  if (rows.length === 0) return;
  await client.query(
    `DELETE FROM ${name} AS t USING unnest($1::text[], $2::bigint[], $3::numeric[], $4::integer[]) AS d("id", "_sf_ts", "_sf_cn", "_sf_seq")
     WHERE t."id" = d."id" AND ${GUARD('t', 'd')}`,
    versions(rows),
  );
}

async function softDelete(client: pg.PoolClient, name: string, rows: NetRow[]): Promise<void> {
  await client.query(
    `UPDATE ${name} AS t SET "is_deleted" = true, "deleted_at" = to_timestamp(d."_sf_ts" / 1000.0),
       "_sf_ts" = d."_sf_ts", "_sf_cn" = d."_sf_cn", "_sf_seq" = d."_sf_seq"
     FROM unnest($1::text[], $2::bigint[], $3::numeric[], $4::integer[]) AS d("id", "_sf_ts", "_sf_cn", "_sf_seq")
     WHERE t."id" = d."id" AND ${GUARD('t', 'd')}`,
    versions(rows),
  );
}

/** One group: the same columns set on every row (and all full records, or all partial). */
async function upsert(client: pg.PoolClient, t: TableRows, rows: NetRow[]): Promise<void> {
  const first = rows[0] as NetRow;
  const cols = [...first.fields.keys()].filter((c) => c !== 'id');
  const meta = ['id', '_sf_ts', '_sf_cn', '_sf_seq', '_sf_stale_at'];
  const all = [...meta, ...cols];
  const staleSet = first.full ? 'EXCLUDED."_sf_stale_at"' : 'COALESCE(EXCLUDED."_sf_stale_at", t."_sf_stale_at")';
  const set = [
    '"_sf_ts" = EXCLUDED."_sf_ts"',
    '"_sf_cn" = EXCLUDED."_sf_cn"',
    '"_sf_seq" = EXCLUDED."_sf_seq"',
    `"_sf_stale_at" = ${staleSet}`,
    '"is_deleted" = false',
    '"deleted_at" = NULL',
    ...cols.map((c) => `${q(c)} = EXCLUDED.${q(c)}`),
  ].join(', ');
  const tail = `ON CONFLICT ("id") DO UPDATE SET ${set} WHERE ${GUARD('t', 'EXCLUDED')}`;
  const colList = all.map(q).join(', ');
  const types = ['text', 'bigint', 'numeric', 'integer', 'timestamptz', ...cols.map((c) => t.typeOf(c))];
  const now = new Date().toISOString();
  const value = (r: NetRow, c: string) =>
    c === 'id'
      ? r.id
      : c === '_sf_ts'
        ? r.version.ts
        : c === '_sf_cn'
          ? r.version.cn
          : c === '_sf_seq'
            ? r.version.seq
            : c === '_sf_stale_at'
              ? r.stale
                ? now
                : null
              : (r.fields.get(c) ?? null);
  if (rows.length >= COPY_FROM) {
    // Rows the table does not have yet (an initial snapshot: all of them) are copied straight in;
    // the rest, through a temporary table, meet the version guard.
    const ids = rows.map((r) => r.id);
    const have = new Set(
      (await client.query<{ id: string }>(`SELECT "id" FROM ${t.name} WHERE "id" = ANY($1::text[])`, [ids])).rows.map((r) => r.id),
    );
    const fresh = rows.filter((r) => !have.has(r.id));
    let rest = rows.filter((r) => have.has(r.id));
    if (
      fresh.length > 0 &&
      !(await copyNew(
        client,
        `COPY ${t.name} (${colList}) FROM STDIN`,
        fresh.map((r) => copyLine(all, (c) => value(r, c))),
      ))
    )
      rest = rows;
    if (rest.length === 0) return;
    // Made afresh each time: the table may have gained columns since.
    await client.query(`CREATE TEMP TABLE "_sfbridge_load" (LIKE ${t.name} INCLUDING DEFAULTS) ON COMMIT DROP`);
    await copyRows(
      client,
      `COPY "_sfbridge_load" (${colList}) FROM STDIN`,
      rest.map((r) => copyLine(all, (c) => value(r, c))),
    );
    await client.query(`INSERT INTO ${t.name} AS t (${colList}) SELECT ${colList} FROM "_sfbridge_load" ${tail}`);
    await client.query('DROP TABLE "_sfbridge_load"');
    return;
  }
  const params = all.map((c) => rows.map((r) => value(r, c)));
  const unnest = types.map((ty, i) => `$${i + 1}::${ty}[]`).join(', ');
  await client.query(`INSERT INTO ${t.name} AS t (${colList}) SELECT * FROM unnest(${unnest}) ${tail}`, params);
}

/** COPY new rows straight into the table; false (nothing written) when one appeared meanwhile (another writer). */
async function copyNew(client: pg.PoolClient, sql: string, rows: string[]): Promise<boolean> {
  await client.query('SAVEPOINT sfbridge_copy');
  try {
    await copyRows(client, sql, rows);
    await client.query('RELEASE SAVEPOINT sfbridge_copy');
    return true;
  } catch (err) {
    if ((err as { code?: string }).code !== '23505') throw err;
    await client.query('ROLLBACK TO SAVEPOINT sfbridge_copy');
    return false;
  }
}

/** COPY text format: tab-separated, \N for NULL, backslash escapes. */
const NEEDS_ESCAPE = /[\\\t\n\r]/;

function copyField(v: unknown): string {
  if (v === null || v === undefined) return '\\N';
  const s = typeof v === 'string' ? v : String(v);
  if (!NEEDS_ESCAPE.test(s)) return s;
  return s.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

/** One row of COPY text (tab-separated, newline-terminated). */
function copyLine(columns: string[], value: (c: string) => unknown): string {
  let line = '';
  for (let i = 0; i < columns.length; i++) line += (i === 0 ? '' : '\t') + copyField(value(columns[i] as string));
  return `${line}\n`;
}

async function copyRows(client: pg.PoolClient, sql: string, lines: string[]): Promise<void> {
  const stream = client.query(copyFrom(sql));
  const done = new Promise<void>((resolve, reject) => {
    stream.on('finish', resolve);
    stream.on('error', reject);
  });
  for (let i = 0; i < lines.length; i += 256) {
    if (!stream.write(lines.slice(i, i + 256).join(''))) await new Promise((res) => stream.once('drain', res));
  }
  stream.end();
  await done;
}
