/** Turn a Pub/Sub ConsumerEvent into the shared envelope (CDC bitmaps decoded, nulls dropped). */
import { ENVELOPE_VERSION, type Envelope, JsonPayload } from '../../envelope.js';
import { lineWriter, sealLine } from '../../envelope-line.js';
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

export function toEnvelope(raw: RawConsumerEvent, schema: ParsedSchema, channel: string, org: string, receivedAt: string): Envelope {
  const replayId = (Buffer.isBuffer(raw.replay_id) ? raw.replay_id : Buffer.from(raw.replay_id)).toString('base64');
  // gRPC hands us Buffers already; copy only when given another byte array.
  const bytes = Buffer.isBuffer(raw.event.payload) ? raw.event.payload : Buffer.from(raw.event.payload);
  if (!schema.transcode) return twoStep(raw, schema, bytes, replayId, channel, org, receivedAt);
  // The payload's JSON goes into the line writer first; the envelope's JSON is finished around it.
  const w = lineWriter;
  w.reset();
  const { header: h, eventUuid, createdDate } = schema.transcode(bytes, w);
  const payload = new JsonPayload();
  return sealLine(w, envelopeOf(raw, schema, h, eventUuid, createdDate, payload, replayId, channel, org, receivedAt));
}

/** A schema whose header is not its first field: avsc's record, then payloadOf (no JSON bytes kept). */
function twoStep(
  raw: RawConsumerEvent,
  schema: ParsedSchema,
  bytes: Buffer,
  replayId: string,
  channel: string,
  org: string,
  receivedAt: string,
): Envelope {
  const record = schema.type.fromBuffer(bytes) as Record<string, unknown>;
  const h = (record.ChangeEventHeader as Record<string, unknown> | undefined) ?? null;
  const payload = schema.payloadOf(record, nulledSet(schema, h?.nulledFields as string[] | undefined));
  return envelopeOf(raw, schema, h, payload.EventUuid, payload.CreatedDate, payload, replayId, channel, org, receivedAt);
}

/** The envelope, keys in the order envelope-line.ts writes them, `payload` last. */
function envelopeOf<P>(
  raw: RawConsumerEvent,
  schema: ParsedSchema,
  h: Record<string, unknown> | null,
  eventUuid: unknown,
  createdDate: unknown,
  payload: P,
  replayId: string,
  channel: string,
  org: string,
  receivedAt: string,
): Envelope & { payload: P } {
  if (h) {
    const header = toChangeHeader(h, (list) => decodeBitmapFields(schema, list));
    return {
      v: ENVELOPE_VERSION,
      org,
      channel,
      replayId,
      eventId: raw.event.id || `${channel}:${replayId}`,
      schemaId: raw.event.schema_id,
      eventTime: iso(header.commitTimestamp),
      receivedAt,
      kind: changeKind(header.changeType),
      changeHeader: header,
      payload,
    };
  }
  // Platform events: EventUuid and CreatedDate are payload fields, copied as they are.
  const uuid = typeof eventUuid === 'string' ? eventUuid : null;
  return {
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
  };
}
