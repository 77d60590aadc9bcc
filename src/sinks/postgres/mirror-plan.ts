/**
 * Mirror mode's plan for one batch: each event becomes row changes (upsert some columns, delete,
 * mark stale), folded per row in stream order into one net change per row, so a batch costs a
 * few set-based statements however many events it holds. Every row change carries the version of
 * the change it reflects (commit timestamp, commit number, sequence number; a snapshot row its
 * SystemModstamp): statements apply it only over an older or equal version, so a change that
 * arrives again (redelivery after a crash) never overwrites a newer one.
 */
import { type Envelope, payloadValue } from '../../envelope.js';
import { flatFieldName, flatten } from './columns.js';

export interface Version {
  ts: number;
  cn: string;
  seq: number;
}

/** What one event asks of one row. */
export type RowChange = { op: 'upsert'; fields: Map<string, unknown>; full: boolean; stale: boolean } | { op: 'delete' } | { op: 'stale' };

/** An event's row changes by record id, or why it cannot go into a mirror, or nothing to do (with a note). */
export type EventPlan = { entity: string; version: Version; rows: Map<string, RowChange> } | { reject: string } | { skip: string };

export function versionOf(e: Envelope): Version {
  const h = e.changeHeader;
  if (e.kind === 'snapshot' || !h) return { ts: Date.parse(e.eventTime ?? '') || 0, cn: '0', seq: 0 };
  return { ts: h.commitTimestamp, cn: h.commitNumber ?? '0', seq: h.sequenceNumber ?? 0 };
}

export function planEvent(e: Envelope): EventPlan {
  const h = e.changeHeader;
  if (e.kind === 'replay-gap') return { skip: 'a replay gap: changes may be missing from the mirror (see the marker)' };
  if (e.kind === 'overflow') return { skip: 'GAP_OVERFLOW: the changed rows are unknown here (overflow: recover re-exports them)' };
  if (!h || !['cdc', 'gap', 'snapshot'].includes(e.kind))
    return { reject: `mirror mode takes change events and exported records, not ${e.kind} events (use mode: events for those)` };
  const rows = new Map<string, RowChange>();
  const payload = payloadValue(e) as Record<string, unknown> | null;
  if (payload && typeof payload === 'object' && 'decodeError' in payload)
    return { reject: 'an undecodable event (its raw bytes are dead-lettered by the source)' };
  const full = (fields: Map<string, unknown>, stale = false): RowChange => ({ op: 'upsert', fields, full: true, stale });
  if (e.kind === 'snapshot') {
    rows.set(h.recordIds[0] ?? '', e.deleted ? { op: 'delete' } : full(flatten(payload).fields));
  } else if (e.kind === 'gap') {
    if (!e.enriched) for (const id of h.recordIds) rows.set(id, { op: 'stale' });
    else {
      const list =
        h.recordIds.length === 1
          ? [{ Id: h.recordIds[0], ...(payload ?? {}) }]
          : ((payload?.records as Array<Record<string, unknown>>) ?? []);
      for (const r of list) rows.set(String(r.Id), r.deleted === true ? { op: 'delete' } : full(flatten(r).fields));
    }
  } else {
    const type = h.changeType;
    if (type === 'DELETE') for (const id of h.recordIds) rows.set(id, { op: 'delete' });
    else {
      const flat = flatten(payload);
      if (type === 'UPDATE' && !e.enriched) for (const n of h.nulledFields) flat.fields.set(flatFieldName(n), null);
      const change: RowChange = {
        op: 'upsert',
        fields: flat.fields,
        // CREATE and UNDELETE carry the whole record; so does an UPDATE fetched with fullRecord.
        full: type === 'CREATE' || type === 'UNDELETE' || e.enriched === true,
        // A CometD diff (long text) gives no new value here: the row is marked stale.
        stale: flat.diffs.length > 0,
      };
      for (const id of h.recordIds) rows.set(id, change);
    }
  }
  rows.delete('');
  return { entity: h.entity, version: versionOf(e), rows };
}

/** The net change of one row over a batch. */
export interface NetRow {
  id: string;
  version: Version;
  /** delete: the row goes (or is flagged deleted); upsert: columns set (after a delete when `reset`). */
  op: 'upsert' | 'delete' | 'stale';
  reset: boolean;
  fields: Map<string, unknown>;
  full: boolean;
  stale: boolean;
}

/** Fold a row change into the row's net change so far (stream order: `next` is the later one). */
export function fold(prev: NetRow | undefined, id: string, version: Version, next: RowChange): NetRow {
  if (next.op === 'delete') return { id, version, op: 'delete', reset: false, fields: new Map(), full: false, stale: false };
  if (next.op === 'stale') {
    if (!prev) return { id, version, op: 'stale', reset: false, fields: new Map(), full: false, stale: true };
    return prev.op === 'delete' ? prev : { ...prev, stale: true };
  }
  // The first change of a row lends its fields map (made for this row by the caller); a merge copies.
  if (!prev || prev.op === 'stale')
    return {
      id,
      version,
      op: 'upsert',
      reset: false,
      fields: next.fields,
      full: next.full,
      stale: next.stale || (!next.full && prev?.op === 'stale'),
    };
  if (prev.op === 'delete') return { id, version, op: 'upsert', reset: true, fields: next.fields, full: next.full, stale: next.stale };
  const fields = new Map(prev.fields);
  for (const [k, v] of next.fields) fields.set(k, v);
  return {
    id,
    version,
    op: 'upsert',
    reset: prev.reset,
    fields,
    full: prev.full || next.full,
    stale: next.full ? next.stale : prev.stale || next.stale,
  };
}
