/** Turn a Pub/Sub ConsumerEvent into the shared envelope (CDC bitmaps decoded, nulls dropped). */
import { ENVELOPE_VERSION, type Envelope, JsonPayload } from '../../envelope.js';
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

interface Decoded {
  header: Record<string, unknown> | null;
  payload: Record<string, unknown> | JsonPayload;
  eventUuid: unknown;
  createdDate: unknown;
}

/**
 * Header and payload of one event: the generated transcoder (payload as JSON text), else avsc's
 * record + payloadOf (a schema whose header is not its first field).
 */
function decodeRecord(schema: ParsedSchema, buf: Buffer): Decoded {
  if (schema.transcode) {
    const t = schema.transcode(buf);
    return { header: t.header, payload: new JsonPayload(t.json), eventUuid: t.eventUuid, createdDate: t.createdDate };
  }
  const record = schema.type.fromBuffer(buf) as Record<string, unknown>;
  const h = (record.ChangeEventHeader as Record<string, unknown> | undefined) ?? null;
  const payload = schema.payloadOf(record, nulledSet(schema, h?.nulledFields as string[] | undefined));
  return { header: h, payload, eventUuid: payload.EventUuid, createdDate: payload.CreatedDate };
}

export function toEnvelope(raw: RawConsumerEvent, schema: ParsedSchema, channel: string, org: string, receivedAt: string): Envelope {
  const replayId = (Buffer.isBuffer(raw.replay_id) ? raw.replay_id : Buffer.from(raw.replay_id)).toString('base64');
  // gRPC hands us Buffers already; copy only when given another byte array.
  const bytes = Buffer.isBuffer(raw.event.payload) ? raw.event.payload : Buffer.from(raw.event.payload);
  const { header: h, payload, eventUuid, createdDate } = decodeRecord(schema, bytes);
  if (h) {
    const header = toChangeHeader(h, (list) => decodeBitmapFields(schema, list));
    const kind = changeKind(header.changeType);
    return owned({
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
    });
  }
  // Platform events: EventUuid and CreatedDate are payload fields, copied as they are.
  const uuid = typeof eventUuid === 'string' ? eventUuid : null;
  return owned({
    v: ENVELOPE_VERSION,
    org,
    channel,
    replayId,
    eventId: uuid ?? (raw.event.id || `${channel}:${replayId}`),
    schemaId: raw.event.schema_id,
    eventTime: iso(createdDate),
    receivedAt,
    kind: 'platform',
    payload,
  });
}

/** The envelope, its JSON-text payload told that it is the last key (envelopeJson splices it). */
function owned(e: Envelope): Envelope {
  return e.payload instanceof JsonPayload ? e.payload.own(e) : e;
}
