/**
 * Bulk API 2.0 ingest jobs: create (POST /jobs/ingest), upload CSV (PUT …/batches), close
 * (PATCH state UploadComplete), poll (GET), then `successfulResults` / `failedResults` as CSV with
 * the `sf__Id` / `sf__Created` / `sf__Error` columns before the uploaded ones. Salesforce does not
 * promise the results in upload order; the emulator lists failures first to keep clients honest.
 * Records are written as the REST writes are, and their change events carry
 * `com/salesforce/api/bulkapi/<version>;client=<name>` when the job was created with Sforce-Call-Options.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { parseCsvText, toCsv } from './csv.js';
import { type EmulatedOrg, OrgError } from './org.js';
import { changeOriginOf, runCollection, type WriteResult } from './record-writes.js';
import { sendJson } from './respond.js';

const OPERATIONS = ['insert', 'update', 'upsert', 'delete'] as const;
type Operation = (typeof OPERATIONS)[number];

interface IngestJob {
  id: string;
  object: string;
  operation: Operation;
  externalIdFieldName: string | null;
  state: 'Open' | 'UploadComplete' | 'JobComplete' | 'Aborted' | 'Failed';
  csv: string[];
  origin: string;
  createdDate: string;
  results: Array<{ row: Record<string, string>; result: WriteResult }>;
  columns: string[];
}

const COLLECTION_OP = { insert: 'create', update: 'update', upsert: 'upsert', delete: 'delete' } as const;

export class BulkIngest {
  private readonly jobs = new Map<string, IngestJob>();
  /** Ingest jobs created (tests count calls). */
  created = 0;

  constructor(private readonly org: EmulatedOrg) {}

  private info(j: IngestJob, version: string) {
    const failed = j.results.filter((r) => !r.result.success).length;
    return {
      id: j.id,
      operation: j.operation,
      object: j.object,
      externalIdFieldName: j.externalIdFieldName ?? undefined,
      createdById: this.org.userId,
      createdDate: j.createdDate,
      systemModstamp: j.createdDate,
      state: j.state,
      concurrencyMode: 'Parallel',
      contentType: 'CSV',
      apiVersion: Number(version),
      jobType: 'V2Ingest',
      lineEnding: 'LF',
      columnDelimiter: 'COMMA',
      numberRecordsProcessed: j.results.length,
      numberRecordsFailed: failed,
    };
  }

  async handle(
    method: string,
    rest: string,
    body: string,
    res: ServerResponse,
    version: string,
    callOptions: string | string[] | undefined,
  ): Promise<void> {
    let m: RegExpExecArray | null;
    if (rest === '/jobs/ingest' && method === 'POST') {
      const req = JSON.parse(body || '{}') as { object?: string; operation?: string; externalIdFieldName?: string };
      if (!OPERATIONS.includes(req.operation as Operation))
        throw new OrgError(400, 'INVALIDJOB', `InvalidJob : Invalid operation: ${req.operation}`);
      this.org.object(req.object ?? '');
      if (req.operation === 'upsert' && !req.externalIdFieldName)
        throw new OrgError(
          400,
          'INVALIDJOB',
          'InvalidJob : External ID was blank for Account. An External ID must be specified for upsert.',
        );
      const job: IngestJob = {
        id: `750${randomUUID().replace(/-/g, '').slice(0, 15)}`,
        object: req.object as string,
        operation: req.operation as Operation,
        externalIdFieldName: req.externalIdFieldName ?? null,
        state: 'Open',
        csv: [],
        origin: changeOriginOf('bulkapi', version, callOptions),
        createdDate: new Date(this.org.clock.now()).toISOString(),
        results: [],
        columns: [],
      };
      this.jobs.set(job.id, job);
      this.created++;
      this.org.usage.bulkJobs++;
      return sendJson(res, 200, this.info(job, version));
    }
    if ((m = /^\/jobs\/ingest\/(\w+)\/batches$/.exec(rest)) && method === 'PUT') {
      const job = this.job(m[1]);
      if (job.state !== 'Open') throw new OrgError(409, 'INVALIDJOBSTATE', `Job ${job.id} is not open for data upload`);
      job.csv.push(body);
      res.writeHead(201).end();
      return;
    }
    if ((m = /^\/jobs\/ingest\/(\w+)$/.exec(rest))) {
      const job = this.job(m[1]);
      if (method === 'PATCH') {
        const state = (JSON.parse(body || '{}') as { state?: string }).state;
        if (state === 'UploadComplete') {
          job.state = 'UploadComplete';
          this.process(job);
          return sendJson(res, 200, { ...this.info(job, version), state: 'UploadComplete' });
        }
        if (state === 'Aborted') {
          job.state = 'Aborted';
          return sendJson(res, 200, this.info(job, version));
        }
        throw new OrgError(400, 'INVALIDJOBSTATE', `cannot change a job to ${state}`);
      }
      if (method === 'DELETE') {
        this.jobs.delete(job.id);
        res.writeHead(204).end();
        return;
      }
      return sendJson(res, 200, this.info(job, version));
    }
    if ((m = /^\/jobs\/ingest\/(\w+)\/(successfulResults|failedResults|unprocessedrecords)$/.exec(rest)) && method === 'GET') {
      const job = this.job(m[1]);
      const ok = m[2] === 'successfulResults';
      const rows = m[2] === 'unprocessedrecords' ? [] : job.results.filter((r) => r.result.success === ok);
      const head = ok ? ['sf__Id', 'sf__Created'] : ['sf__Id', 'sf__Error'];
      const lines = rows.map((r) => [
        r.result.id ?? '',
        ok ? String(r.result.created ?? job.operation === 'insert') : r.result.errors.map((e) => `${e.statusCode}:${e.message}`).join(';'),
        ...job.columns.map((c) => r.row[c] ?? ''),
      ]);
      res.writeHead(200, { 'content-type': 'text/csv' });
      res.end(toCsv([[...head, ...job.columns], ...lines]));
      return;
    }
    throw new OrgError(404, 'NOT_FOUND', 'The requested resource does not exist');
  }

  private job(id: string | undefined): IngestJob {
    const job = this.jobs.get(id ?? '');
    if (!job) throw new OrgError(404, 'NOT_FOUND', 'The requested resource does not exist');
    return job;
  }

  /** Write every uploaded row, 200 at a time through the same path as REST writes. */
  private process(job: IngestJob): void {
    const rows: Array<Record<string, string>> = [];
    for (const text of job.csv) {
      const [head, ...body] = parseCsvText(text);
      if (!head) continue;
      if (job.columns.length === 0) job.columns = head;
      for (const cells of body) rows.push(Object.fromEntries(head.map((h, i) => [h, cells[i] ?? ''])));
    }
    const types = new Map(this.org.object(job.object).fields.map((f) => [f.name.toLowerCase(), f.type]));
    for (let i = 0; i < rows.length; i += 200) {
      const chunk = rows.slice(i, i + 200);
      const records = chunk.map((r) => {
        const rec: Record<string, unknown> = { attributes: { type: job.object } };
        // Bulk CSV: an empty cell leaves a field alone, #N/A sets it to null.
        for (const [k, v] of Object.entries(r))
          if (v !== '') rec[k === 'Id' ? 'id' : k] = v === '#N/A' ? null : typed(v, types.get(k.toLowerCase()));
        return rec;
      });
      const results = runCollection(this.org, {
        op: COLLECTION_OP[job.operation],
        records,
        allOrNone: false,
        object: job.object,
        externalIdField: job.externalIdFieldName ?? undefined,
        origin: job.origin,
      });
      chunk.forEach((row, k) => {
        job.results.push({ row, result: results[k] as WriteResult });
      });
    }
    // Failures first: clients must not rely on upload order.
    job.results.sort((a, b) => Number(a.result.success) - Number(b.result.success));
    job.state = 'JobComplete';
  }
}

/** A CSV cell as the field's type (the emulator stores typed values, as the REST writes send them). */
function typed(v: string, type: string | undefined): unknown {
  if (type === 'int' || type === 'long' || type === 'double') return Number.isFinite(Number(v)) ? Number(v) : v;
  if (type === 'boolean') return v.toLowerCase() === 'true';
  if (type === 'datetime') return Number.isFinite(Date.parse(v)) ? Date.parse(v) : v;
  return v;
}
