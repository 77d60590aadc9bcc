/** Compare a PostgreSQL mirror table with the emulator's records, as a user would: REST query on one side, psql on the other. */
import { spawnSync } from 'node:child_process';
import type { TestEmulator } from './emulator.js';

export const MIRROR_FIELDS = ['Name', 'Industry', 'Phone', 'BillingCity', 'AnnualRevenue', 'NumberOfEmployees'];

/** The table's rows through psql (CSV, one line per row), by id: field name → text ('' for NULL). */
export function psqlRows(url: string, table: string, columns: string[]): Map<string, Record<string, string>> {
  const cols = ['id', ...columns.map((c) => c.toLowerCase())];
  const sql = `COPY (SELECT ${cols.map((c) => `"${c}"`).join(', ')} FROM ${table} ORDER BY id) TO STDOUT WITH (FORMAT csv)`;
  const r = spawnSync('psql', [url, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}`);
  const out = new Map<string, Record<string, string>>();
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const cells = parseCsvLine(line);
    const row: Record<string, string> = {};
    columns.forEach((c, i) => {
      row[c] = cells[i + 1] ?? '';
    });
    out.set(cells[0] ?? '', row);
  }
  return out;
}

function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** The org's records through the REST query API, as text the way psql prints them ('' for null, numbers without trailing zeros). */
export async function restRows(t: TestEmulator, object: string, fields: string[]): Promise<Map<string, Record<string, string>>> {
  const q = encodeURIComponent(`SELECT Id, ${fields.join(', ')} FROM ${object}`);
  const r = await t.http('GET', `/services/data/v63.0/query?q=${q}`, { token: await t.token() });
  const out = new Map<string, Record<string, string>>();
  for (const rec of r.json.records as Array<Record<string, unknown>>) {
    const row: Record<string, string> = {};
    for (const f of fields) row[f] = rec[f] === null || rec[f] === undefined ? '' : String(rec[f]);
    out.set(String(rec.Id), row);
  }
  return out;
}

/** Numbers compare by value (psql prints numeric as written: 1000.0 vs 1000). */
export function normalise(rows: Map<string, Record<string, string>>): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const [id, row] of rows) {
    const n: Record<string, string> = {};
    for (const [k, v] of Object.entries(row)) n[k] = /^-?\d+(\.\d+)?$/.test(v) ? String(Number(v)) : v;
    out.set(id, n);
  }
  return out;
}
