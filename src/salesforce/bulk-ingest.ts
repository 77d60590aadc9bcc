/**
 * Bulk API 2.0 ingest: create a job, upload one CSV, close it, wait for JobComplete, then read
 * its successful and failed results. Salesforce does not promise the results in upload order, so
 * each result row is matched back to the uploaded row it echoes (same cells in the same columns).
 */
import { BridgeError, RetriableError } from '../errors.js';
import { sleep } from '../retry.js';
import { parseCsv } from './bulk-export.js';
import { RawBody, type RestClient } from './rest.js';

export interface IngestJobSpec {
  object: string;
  operation: 'insert' | 'update' | 'upsert' | 'delete';
  externalIdFieldName?: string;
}

export interface RowResult {
  success: boolean;
  id: string | null;
  error: string | null;
}

function cell(v: string): string {
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** Run one ingest job over `rows` (cells in `columns` order); one result per row (null: Salesforce did not process it). */
export async function runIngestJob(
  rest: RestClient,
  spec: IngestJobSpec,
  columns: string[],
  rows: string[][],
  opts: { pollMs: number; timeoutMs: number; signal?: AbortSignal },
): Promise<Array<RowResult | null>> {
  const job = await rest.request<{ id: string }>('POST', '/jobs/ingest', { ...spec, contentType: 'CSV', lineEnding: 'LF' });
  const csv = `${[columns, ...rows].map((r) => r.map(cell).join(',')).join('\n')}\n`;
  await rest.request('PUT', `/jobs/ingest/${job.id}/batches`, new RawBody(csv, 'text/csv'));
  await rest.request('PATCH', `/jobs/ingest/${job.id}`, { state: 'UploadComplete' });
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const info = await rest.request<{ state: string; errorMessage?: string }>('GET', `/jobs/ingest/${job.id}`);
    if (info.state === 'JobComplete') break;
    if (info.state === 'Failed' || info.state === 'Aborted')
      throw new RetriableError(
        'SF_BULK',
        `Bulk ingest job ${job.id} ${info.state.toLowerCase()}: ${info.errorMessage ?? 'no reason given'}`,
      );
    if (Date.now() > deadline) throw new RetriableError('SF_BULK', `Bulk ingest job ${job.id} not complete after ${opts.timeoutMs} ms`);
    if (opts.signal?.aborted) throw new BridgeError('SF_BULK', `stopped while waiting for Bulk ingest job ${job.id}`, { retriable: true });
    await sleep(opts.pollMs, opts.signal);
  }
  // Uploaded rows by their cells; identical rows are interchangeable, so each keeps a queue.
  const byRow = new Map<string, number[]>();
  rows.forEach((r, i) => {
    const k = r.join('\u0000');
    const q = byRow.get(k);
    if (q) q.push(i);
    else byRow.set(k, [i]);
  });
  const out: Array<RowResult | null> = rows.map(() => null);
  for (const kind of ['successfulResults', 'failedResults'] as const) {
    const { text } = await rest.getText(`/jobs/ingest/${job.id}/${kind}`);
    const [head, ...body] = parseCsv(text);
    if (!head) continue;
    const at = columns.map((c) => head.indexOf(c));
    for (const r of body) {
      const i = byRow.get(at.map((j) => (j < 0 ? '' : (r[j] ?? ''))).join('\u0000'))?.shift();
      if (i === undefined) continue;
      out[i] =
        kind === 'successfulResults'
          ? { success: true, id: r[head.indexOf('sf__Id')] || null, error: null }
          : { success: false, id: r[head.indexOf('sf__Id')] || null, error: r[head.indexOf('sf__Error')] ?? 'failed' };
    }
  }
  return out;
}
