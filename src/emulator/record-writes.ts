/**
 * Writes through sObject Collections (REST Composite): create (POST), update (PATCH), upsert by an
 * external id field (PATCH /composite/sobjects/<Object>/<Field>) and delete (DELETE ?ids=), at most
 * 200 records a call, one result per record in request order. With `allOrNone` a failing record
 * rolls back the call (here: nothing is applied and every other record reports ALL_OR_NONE_OPERATION_ROLLED_BACK).
 * The change events the writes cause carry `changeOrigin` from the caller's `Sforce-Call-Options`
 * (`com/salesforce/api/rest/<version>;client=<name>`), as Salesforce documents for its APIs.
 */
import type { EmulatedOrg } from './org.js';
import { OrgError } from './org-error.js';

export const MAX_COLLECTION = 200;

export interface WriteResult {
  id: string | null;
  success: boolean;
  errors: Array<{ statusCode: string; message: string; fields: string[] }>;
  created?: boolean;
}

/** `com/salesforce/api/<api>/<version>` plus `;client=<name>` when the caller set one. */
export function changeOriginOf(api: string, version: string, callOptions: string | string[] | undefined): string {
  const header = Array.isArray(callOptions) ? callOptions.join(',') : (callOptions ?? '');
  const client = /(?:^|[,;\s])client=([^,;\s]+)/.exec(header)?.[1];
  return `com/salesforce/api/${api}/${version}${client ? `;client=${client}` : ''}`;
}

type Op = 'create' | 'update' | 'upsert' | 'delete';

export interface CollectionRequest {
  op: Op;
  records: Array<Record<string, unknown>>;
  allOrNone: boolean;
  /** upsert: the object and its external id field (from the path). */
  object?: string;
  externalIdField?: string;
  origin: string;
}

function failure(err: unknown): WriteResult {
  const e = err instanceof OrgError ? err : new OrgError(500, 'UNKNOWN_EXCEPTION', (err as Error).message);
  return { id: null, success: false, errors: [{ statusCode: e.errorCode, message: e.message, fields: e.fields }] };
}

/** Validate one record without applying it (allOrNone runs this first, so nothing half-applies). */
function check(org: EmulatedOrg, req: CollectionRequest, rec: Record<string, unknown>): void {
  const type = typeOf(req, rec);
  if (req.op === 'delete') {
    const id = String(rec.id ?? '');
    if (!org.records.has(id)) throw new OrgError(404, 'ENTITY_IS_DELETED', 'entity is deleted');
    return;
  }
  const obj = org.object(type);
  if (req.op === 'update' && !org.records.get(String(rec.id ?? rec.Id ?? ''))) {
    throw new OrgError(404, 'MALFORMED_ID', `invalid cross reference id: ${String(rec.id ?? rec.Id ?? '')}`, ['Id']);
  }
  if (req.op === 'upsert' && (rec[req.externalIdField ?? ''] ?? null) === null) {
    throw new OrgError(400, 'MISSING_ARGUMENT', `${req.externalIdField} not specified`, [req.externalIdField ?? '']);
  }
  org.checkFields(obj, fieldsOf(rec));
}

function typeOf(req: CollectionRequest, rec: Record<string, unknown>): string {
  const t = (rec.attributes as { type?: string } | undefined)?.type ?? req.object;
  if (!t && req.op !== 'delete')
    throw new OrgError(400, 'INVALID_TYPE', 'Each record must name its type in attributes.type', ['attributes']);
  return t ?? '';
}

function fieldsOf(rec: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) if (k !== 'attributes' && k !== 'id' && k !== 'Id') out[k] = v;
  return out;
}

function apply(org: EmulatedOrg, req: CollectionRequest, rec: Record<string, unknown>, index: Map<string, string> | null): WriteResult {
  const type = typeOf(req, rec);
  switch (req.op) {
    case 'create': {
      const made = org.createRecord(type, fieldsOf(rec), req.origin);
      return { id: made.Id, success: true, errors: [] };
    }
    case 'update': {
      const id = String(rec.id ?? rec.Id);
      org.updateRecord(type, id, fieldsOf(rec), req.origin);
      return { id, success: true, errors: [] };
    }
    case 'delete': {
      const id = String(rec.id);
      const existing = org.records.get(id);
      org.deleteRecord(existing?.type ?? '', id, req.origin);
      return { id, success: true, errors: [] };
    }
    case 'upsert': {
      const field = req.externalIdField as string;
      const key = String(rec[field]);
      const id = index?.get(key);
      if (id) {
        org.updateRecord(type, id, fieldsOf(rec), req.origin);
        return { id, success: true, errors: [], created: false };
      }
      const made = org.createRecord(type, fieldsOf(rec), req.origin);
      index?.set(key, made.Id);
      return { id: made.Id, success: true, errors: [], created: true };
    }
  }
}

/** Run one sObject Collections call: one result per record, in order. */
export function runCollection(org: EmulatedOrg, req: CollectionRequest): WriteResult[] {
  if (req.records.length > MAX_COLLECTION) {
    throw new OrgError(400, 'EXCEEDED_ID_LIMIT', `record limit reached. cannot submit more than ${MAX_COLLECTION} records into this call`);
  }
  if (req.allOrNone) {
    const errors = req.records.map((r) => {
      try {
        check(org, req, r);
        return null;
      } catch (err) {
        return failure(err);
      }
    });
    if (errors.some((e) => e !== null)) {
      return errors.map(
        (e) =>
          e ?? {
            id: null,
            success: false,
            errors: [
              {
                statusCode: 'ALL_OR_NONE_OPERATION_ROLLED_BACK',
                message: 'Record rolled back because not all records were valid and the request was using AllOrNone header',
                fields: [],
              },
            ],
          },
      );
    }
  }
  // Upserts match on the external id field: one index per call, not one scan per record.
  const index = req.op === 'upsert' ? org.indexBy(req.object as string, req.externalIdField as string) : null;
  return req.records.map((r) => {
    try {
      check(org, req, r);
      return apply(org, req, r, index);
    } catch (err) {
      return failure(err);
    }
  });
}
