/** Salesforce's ChangeEventHeader -> the envelope's changeHeader, for every transport. */
import type { ChangeHeader, EventKind } from '../envelope.js';

/**
 * `fieldNames` turns a header list (changedFields, nulledFields, diffFields) into field names:
 * the Pub/Sub API sends bitmaps that need the event's schema, CometD sends names already.
 */
export function toChangeHeader(h: Record<string, unknown>, fieldNames: (list: string[] | undefined) => string[]): ChangeHeader {
  return {
    entity: String(h.entityName ?? ''),
    recordIds: (h.recordIds as string[]) ?? [],
    changeType: String(h.changeType ?? ''),
    changeOrigin: String(h.changeOrigin ?? ''),
    transactionKey: String(h.transactionKey ?? ''),
    sequenceNumber: Number(h.sequenceNumber ?? 0),
    commitTimestamp: epochMs(h.commitTimestamp),
    commitNumber: h.commitNumber === undefined || h.commitNumber === null ? undefined : String(h.commitNumber),
    commitUser: String(h.commitUser ?? ''),
    changedFields: fieldNames(h.changedFields as string[] | undefined),
    nulledFields: fieldNames(h.nulledFields as string[] | undefined),
    diffFields: fieldNames(h.diffFields as string[] | undefined),
  };
}

/** Epoch ms from a number, a numeric string or an ISO date (CometD may send any). */
function epochMs(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return /^-?\d+$/.test(v) ? Number(v) : Date.parse(v) || 0;
  return 0;
}

/** GAP_OVERFLOW -> overflow, other GAP_* -> gap, everything else -> cdc. */
export function changeKind(changeType: string): EventKind {
  return changeType === 'GAP_OVERFLOW' ? 'overflow' : changeType.startsWith('GAP_') ? 'gap' : 'cdc';
}
