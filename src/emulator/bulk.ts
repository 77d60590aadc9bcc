/** Bulk API 2.0 query jobs (create, poll, CSV results with locator paging): used for backfill past retention. */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { BulkIngest } from './bulk-ingest.js';
import { type EmulatedOrg, OrgError } from './org.js';
import { sendJson } from './respond.js';

interface Job {
  id: string;
  query: string;
  rows: Array<Record<string, unknown>>;
  fields: string[];
  createdDate: string;
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  // Bulk API 2.0 CSV writes dateTimes in UTC with Z (the REST form ends in +0000).
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v).replace(/^(\d{4}-\d{2}-\d{2}T[\d:.]+)\+0000$/, '$1Z');
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export class BulkJobs {
  private readonly jobs = new Map<string, Job>();
  readonly ingest: BulkIngest;
  constructor(private readonly org: EmulatedOrg) {
    this.ingest = new BulkIngest(org);
  }

  private info(j: Job, version: string) {
    return {
      id: j.id,
      operation: 'query',
      object: /FROM\s+(\w+)/i.exec(j.query)?.[1] ?? '',
      createdById: this.org.userId,
      createdDate: j.createdDate,
      systemModstamp: j.createdDate,
      state: 'JobComplete',
      concurrencyMode: 'Parallel',
      contentType: 'CSV',
      apiVersion: Number(version),
      lineEnding: 'LF',
      columnDelimiter: 'COMMA',
      numberRecordsProcessed: j.rows.length,
    };
  }

  async handle(method: string, rest: string, url: URL, body: string, res: ServerResponse, version: string): Promise<void> {
    let m: RegExpExecArray | null;
    if (rest === '/jobs/query' && method === 'POST') {
      const req = JSON.parse(body || '{}') as { operation?: string; query?: string };
      if (req.operation !== 'query' && req.operation !== 'queryAll')
        throw new OrgError(400, 'INVALIDJOB', 'operation must be query or queryAll');
      if (!req.query) throw new OrgError(400, 'INVALIDJOB', 'query is required');
      const rows = this.org.query(req.query, req.operation === 'queryAll');
      this.org.usage.bulkJobs++;
      const fields =
        /^\s*SELECT\s+(.+?)\s+FROM/is
          .exec(req.query)?.[1]
          ?.split(',')
          .map((s) => s.trim()) ?? [];
      const job: Job = {
        id: `750${randomUUID().replace(/-/g, '').slice(0, 15)}`,
        query: req.query,
        rows,
        fields,
        createdDate: new Date().toISOString(),
      };
      this.jobs.set(job.id, job);
      return sendJson(res, 200, { ...this.info(job, version), state: 'UploadComplete' });
    }
    if ((m = /^\/jobs\/query\/(\w+)$/.exec(rest))) {
      const job = this.jobs.get(m[1] as string);
      if (!job) throw new OrgError(404, 'NOT_FOUND', 'The requested resource does not exist');
      if (method === 'DELETE') {
        this.jobs.delete(job.id);
        res.writeHead(204).end();
        return;
      }
      return sendJson(res, 200, this.info(job, version));
    }
    if ((m = /^\/jobs\/query\/(\w+)\/results$/.exec(rest)) && method === 'GET') {
      const job = this.jobs.get(m[1] as string);
      if (!job) throw new OrgError(404, 'NOT_FOUND', 'The requested resource does not exist');
      const start = Number(url.searchParams.get('locator') ?? 0) || 0;
      const max = Number(url.searchParams.get('maxRecords') ?? 50000) || 50000;
      const slice = job.rows.slice(start, start + max);
      const next = start + max < job.rows.length ? String(start + max) : 'null';
      const lines = [job.fields.join(','), ...slice.map((r) => job.fields.map((f) => csvCell(r[f])).join(','))];
      const text = `${lines.join('\n')}\n`;
      res.writeHead(200, { 'content-type': 'text/csv', 'sforce-locator': next, 'sforce-numberofrecords': String(slice.length) });
      res.end(text);
      return;
    }
    throw new OrgError(404, 'NOT_FOUND', 'The requested resource does not exist');
  }
}
