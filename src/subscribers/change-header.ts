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
    commitTimestamp: Number(h.commitTimestamp ?? 0),
    commitNumber: h.commitNumber === undefined || h.commitNumber === null ? undefined : String(h.commitNumber),
    commitUser: String(h.commitUser ?? ''),
    changedFields: fieldNames(h.changedFields as string[] | undefined),
    nulledFields: fieldNames(h.nulledFields as string[] | undefined),
    diffFields: fieldNames(h.diffFields as string[] | undefined),
  };
}

/** GAP_OVERFLOW -> overflow, other GAP_* -> gap, everything else -> cdc. */
export function changeKind(changeType: string): EventKind {
  return changeType === 'GAP_OVERFLOW' ? 'overflow' : changeType.startsWith('GAP_') ? 'gap' : 'cdc';
}
