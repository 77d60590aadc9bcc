/**
 * Bulk API 2.0 query export: create a query job, wait for it, then read its CSV results page by
 * page (`locator`), yielding rows as objects. Empty CSV cells are nulls (that is how the Bulk API
 * writes them); values are typed from the object's describe (booleans and numbers), the rest stay
 * strings as Salesforce wrote them.
 */
import { BridgeError } from '../errors.js';
import { sleep } from '../retry.js';
import type { RestClient } from './rest.js';

export interface FieldInfo {
  name: string;
  type: string;
}

export interface ExportProgress {
  jobId: string;
  total: number | null;
  done: number;
}

/** The object's fields from its describe, minus compound ones (their parts are separate fields). */
export async function describeFields(rest: RestClient, entity: string): Promise<FieldInfo[]> {
  const d = await rest.request<{ fields: FieldInfo[] }>('GET', `/sobjects/${encodeURIComponent(entity)}/describe`);
  return d.fields.filter((f) => f.type !== 'address' && f.type !== 'location');
}

export interface ExportPage {
  rows: Array<Record<string, unknown>>;
  jobId: string;
  /** The locator this page was read from ('' for the first page). */
  locator: string;
  /** Where the next page starts (null: this was the last). */
  nextLocator: string | null;
}

export interface ExportOptions {
  soql: string;
  fields: FieldInfo[];
  /** queryAll: deleted (recycle bin) records too. */
  all?: boolean;
  pageSize?: number;
  /** Continue a job already run: its results from this locator on (empty: from the start). */
  resume?: { jobId: string; locator: string };
  /** Called before the job is created and before each page: waits while the org's allowance is low. */
  allowance?: () => Promise<void>;
}

export async function* bulkExport(rest: RestClient, o: ExportOptions, progress: (p: ExportProgress) => void): AsyncGenerator<ExportPage> {
  let jobId = o.resume?.jobId ?? null;
  let info: { state: string; numberRecordsProcessed?: number; errorMessage?: string } | null = null;
  if (jobId) {
    // Bulk API keeps a job's results for days; a job that is gone means starting over.
    info = await rest.request<{ state: string; numberRecordsProcessed?: number }>('GET', `/jobs/query/${jobId}`).catch(() => null);
    if (!info) jobId = null;
  }
  if (!jobId) {
    await o.allowance?.();
    jobId = (await rest.request<{ id: string }>('POST', '/jobs/query', { operation: o.all ? 'queryAll' : 'query', query: o.soql })).id;
    info = null;
  }
  for (let attempt = 1; info?.state !== 'JobComplete'; attempt++) {
    if (info?.state === 'Failed' || info?.state === 'Aborted')
      throw new BridgeError(
        'SF_BULK',
        `Bulk API query job ${jobId} ${info.state.toLowerCase()}: ${info.errorMessage ?? 'no reason given'}`,
      );
    if (info) await sleep(Math.min(5000, 250 * attempt));
    info = await rest.request('GET', `/jobs/query/${jobId}`);
  }
  const types = new Map(o.fields.map((f) => [f.name, f.type]));
  const p: ExportProgress = { jobId, total: info.numberRecordsProcessed ?? null, done: 0 };
  progress(p);
  let locator: string | null = o.resume?.jobId === jobId && o.resume.locator ? o.resume.locator : null;
  do {
    const at = locator ?? '';
    await o.allowance?.();
    const { text, headers } = await rest.getText(
      `/jobs/query/${jobId}/results?maxRecords=${o.pageSize ?? 10_000}${locator ? `&locator=${encodeURIComponent(locator)}` : ''}`,
    );
    const rows = parseCsv(text);
    const head = rows.shift() ?? [];
    const page = rows.map((cells) => Object.fromEntries(head.map((h, i) => [h, typed(cells[i] ?? '', types.get(h))])));
    const next = headers['sforce-locator'];
    locator = typeof next === 'string' && next !== 'null' && next !== '' ? next : null;
    p.done += page.length;
    progress(p);
    yield { rows: page, jobId, locator: at, nextLocator: locator };
  } while (locator);
}

function typed(cell: string, type: string | undefined): unknown {
  if (cell === '') return null;
  if (type === 'boolean') return cell === 'true';
  if (type === 'int' || type === 'double' || type === 'currency' || type === 'percent') {
    const n = Number(cell);
    return Number.isFinite(n) ? n : cell;
  }
  return cell;
}

/** RFC 4180 CSV: quoted cells, doubled quotes, line breaks inside quotes; LF or CRLF rows. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  if (cell !== '' || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}
