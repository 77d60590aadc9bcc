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

export async function* bulkExport(
  rest: RestClient,
  soql: string,
  fields: FieldInfo[],
  progress: (p: ExportProgress) => void,
  /** queryAll: deleted (recycle bin) records too. */
  all = false,
  pageSize = 10_000,
): AsyncGenerator<Array<Record<string, unknown>>> {
  const job = await rest.request<{ id: string }>('POST', '/jobs/query', { operation: all ? 'queryAll' : 'query', query: soql });
  let info: { state: string; numberRecordsProcessed?: number; errorMessage?: string };
  for (let attempt = 1; ; attempt++) {
    info = await rest.request('GET', `/jobs/query/${job.id}`);
    if (info.state === 'JobComplete') break;
    if (info.state === 'Failed' || info.state === 'Aborted')
      throw new BridgeError(
        'SF_BULK',
        `Bulk API query job ${job.id} ${info.state.toLowerCase()}: ${info.errorMessage ?? 'no reason given'}`,
      );
    await sleep(Math.min(5000, 250 * attempt));
  }
  const types = new Map(fields.map((f) => [f.name, f.type]));
  const p: ExportProgress = { jobId: job.id, total: info.numberRecordsProcessed ?? null, done: 0 };
  progress(p);
  let locator: string | null = null;
  do {
    const { text, headers } = await rest.getText(
      `/jobs/query/${job.id}/results?maxRecords=${pageSize}${locator ? `&locator=${encodeURIComponent(locator)}` : ''}`,
    );
    const rows = parseCsv(text);
    const head = rows.shift() ?? [];
    const page = rows.map((cells) => Object.fromEntries(head.map((h, i) => [h, typed(cells[i] ?? '', types.get(h))])));
    p.done += page.length;
    progress(p);
    yield page;
    const next = headers['sforce-locator'];
    locator = typeof next === 'string' && next !== 'null' && next !== '' ? next : null;
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
