/** Turn a Pub/Sub ConsumerEvent into the shared envelope (CDC bitmaps decoded, nulls dropped). */
import { ENVELOPE_VERSION, type Envelope } from '../../envelope.js';
import { isoTime } from '../../iso-time.js';
import { changeKind, toChangeHeader } from '../change-header.js';
import { decodeBitmapFields, type ParsedSchema } from './avro.js';

export interface RawConsumerEvent {
  event: { id: string; schema_id: string; payload: Buffer };
  replay_id: Buffer;
}

function iso(ms: unknown): string | null {
  const n = typeof ms === 'string' ? Number(ms) : ms;
  // Outside Date's range (±8.64e15 ms) there is no time to give, and Date would throw.
  return typeof n === 'number' && Math.abs(n) <= 8.64e15 ? isoTime(n) : null;
}

const NONE: ReadonlySet<string> = new Set();

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
      payload: schema.payloadOf(record, header.nulledFields.length > 0 ? new Set(header.nulledFields) : NONE),
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
    payload: schema.payloadOf(record, NONE),
  };
}
