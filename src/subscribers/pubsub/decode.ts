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

/** Drop null fields (CDC sends only changed values) but keep explicitly nulled ones as null. */
function compact(rec: Record<string, unknown>, nulled: Set<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) {
    if (v === null || v === undefined) {
      if (nulled.has(k)) out[k] = null;
      continue;
    }
    if (typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v)) {
      const inner: Record<string, unknown> = {};
      for (const [ik, iv] of Object.entries(v as Record<string, unknown>)) {
        if (iv !== null && iv !== undefined) inner[ik] = iv;
        else if (nulled.has(`${k}.${ik}`)) inner[ik] = null;
      }
      out[k] = inner;
    } else if (Buffer.isBuffer(v)) out[k] = v.toString('base64');
    else out[k] = v;
  }
  return out;
}

export function toEnvelope(raw: RawConsumerEvent, schema: ParsedSchema, channel: string, org: string, receivedAt: string): Envelope {
  const replayId = Buffer.from(raw.replay_id).toString('base64');
  const record = schema.type.fromBuffer(Buffer.from(raw.event.payload)) as Record<string, unknown>;
  const h = record.ChangeEventHeader as Record<string, unknown> | undefined;
  if (h) {
    const header = toChangeHeader(h, (list) => decodeBitmapFields(schema, list));
    const { ChangeEventHeader: _h, ...fields } = record;
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
      payload: compact(fields, new Set(header.nulledFields)),
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
    payload: compact(record, new Set()),
  };
}
