/** Turn a Pub/Sub ConsumerEvent into the shared envelope (CDC bitmaps decoded, nulls dropped). */
import { ENVELOPE_VERSION, type Envelope } from '../../envelope.js';
import { isoTime } from '../../iso-time.js';
import { changeKind, toChangeHeader } from '../change-header.js';
import { decodeBitmapFields, nulledSet, type ParsedSchema } from './avro.js';

export interface RawConsumerEvent {
  event: { id: string; schema_id: string; payload: Buffer };
  replay_id: Buffer;
}

function iso(ms: unknown): string | null {
  const n = typeof ms === 'string' ? Number(ms) : ms;
  // Outside Date's range (±8.64e15 ms) there is no time to give, and Date would throw.
  return typeof n === 'number' && Math.abs(n) <= 8.64e15 ? isoTime(n) : null;
}

/** Header and payload of one event: the generated one-pass decoder, else avsc's record + payloadOf. */
function decodeRecord(schema: ParsedSchema, buf: Buffer): { header: Record<string, unknown> | null; payload: Record<string, unknown> } {
  if (schema.direct) return schema.direct(buf);
  const record = schema.type.fromBuffer(buf) as Record<string, unknown>;
  const h = (record.ChangeEventHeader as Record<string, unknown> | undefined) ?? null;
  return { header: h, payload: schema.payloadOf(record, nulledSet(schema, h?.nulledFields as string[] | undefined)) };
}

export function toEnvelope(raw: RawConsumerEvent, schema: ParsedSchema, channel: string, org: string, receivedAt: string): Envelope {
  const replayId = Buffer.from(raw.replay_id).toString('base64');
  // gRPC hands us Buffers already; copy only when given another byte array.
  const bytes = Buffer.isBuffer(raw.event.payload) ? raw.event.payload : Buffer.from(raw.event.payload);
  const { header: h, payload } = decodeRecord(schema, bytes);
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
      payload,
    };
  }
  // Platform events: EventUuid and CreatedDate are payload fields, copied as they are.
  const uuid = typeof payload.EventUuid === 'string' ? payload.EventUuid : null;
  return {
    v: ENVELOPE_VERSION,
    org,
    channel,
    replayId,
    eventId: uuid ?? (raw.event.id || `${channel}:${replayId}`),
    schemaId: raw.event.schema_id,
    eventTime: iso(payload.CreatedDate),
    receivedAt,
    kind: 'platform',
    payload,
  };
}
