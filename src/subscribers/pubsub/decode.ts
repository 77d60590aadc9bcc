/** Turn a Pub/Sub ConsumerEvent into the shared envelope (CDC bitmaps decoded, nulls dropped). */
import { ENVELOPE_VERSION, type Envelope } from '../../envelope.js';
import { changeKind, toChangeHeader } from '../change-header.js';
import { decodeBitmapFields, type ParsedSchema } from './avro.js';

export interface RawConsumerEvent {
  event: { id: string; schema_id: string; payload: Buffer };
  replay_id: Buffer;
}

function iso(ms: unknown): string | null {
  const n = typeof ms === 'string' ? Number(ms) : ms;
  return typeof n === 'number' && Number.isFinite(n) ? new Date(n).toISOString() : null;
}

const NONE: ReadonlySet<string> = new Set();

/** Drop null fields (CDC sends only changed values) but keep explicitly nulled ones as null. */
function compact(rec: Record<string, unknown>, nulled: ReadonlySet<string>, skip?: string): Record<string, unknown> {
  // Object.keys, not entries: no per-field pair arrays on the hot path (and not for…in: avsc
  // records carry enumerable methods on their prototype).
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(rec)) {
    if (k === skip) continue;
    const v = rec[k];
    if (v === null || v === undefined) {
      if (nulled.has(k)) out[k] = null;
      continue;
    }
    if (typeof v !== 'object') out[k] = v;
    else if (Buffer.isBuffer(v)) out[k] = v.toString('base64');
    else if (Array.isArray(v)) out[k] = v;
    else {
      const inner: Record<string, unknown> = {};
      const o = v as Record<string, unknown>;
      for (const ik of Object.keys(o)) {
        const iv = o[ik];
        if (iv !== null && iv !== undefined) inner[ik] = iv;
        else if (nulled.size > 0 && nulled.has(`${k}.${ik}`)) inner[ik] = null;
      }
      out[k] = inner;
    }
  }
  return out;
}

export function toEnvelope(raw: RawConsumerEvent, schema: ParsedSchema, channel: string, org: string, receivedAt: string): Envelope {
  const replayId = Buffer.from(raw.replay_id).toString('base64');
  // gRPC hands us Buffers already; copy only when given another byte array.
  const payload = Buffer.isBuffer(raw.event.payload) ? raw.event.payload : Buffer.from(raw.event.payload);
  const record = schema.type.fromBuffer(payload) as Record<string, unknown>;
  const h = record.ChangeEventHeader as Record<string, unknown> | undefined;
  if (h) {
    const header = toChangeHeader(h, (list) => decodeBitmapFields(schema, list));
    const kind = changeKind(header.changeType);
    return {
      v: ENVELOPE_VERSION,
      org,
      channel,
      replayId,
      eventId: raw.event.id || `${channel}:${replayId}`,
      schemaId: raw.event.schema_id,
      eventTime: iso(header.commitTimestamp),
      receivedAt,
      kind,
      changeHeader: header,
      payload: compact(record, header.nulledFields.length > 0 ? new Set(header.nulledFields) : NONE, 'ChangeEventHeader'),
    };
  }
  const uuid = typeof record.EventUuid === 'string' ? record.EventUuid : null;
  return {
    v: ENVELOPE_VERSION,
    org,
    channel,
    replayId,
    eventId: uuid ?? (raw.event.id || `${channel}:${replayId}`),
    schemaId: raw.event.schema_id,
    eventTime: iso(record.CreatedDate),
    receivedAt,
    kind: 'platform',
    payload: compact(record, NONE),
  };
}
