/** Turn a Pub/Sub ConsumerEvent into the shared envelope (CDC bitmaps decoded, nulls dropped). */
import { ENVELOPE_VERSION, type Envelope, JsonPayload } from '../../envelope.js';
import { lineWriter, sealLine } from '../../envelope-line.js';
import { isoTime } from '../../iso-time.js';
import { changeKind, toChangeHeader } from '../change-header.js';
import { decodeBitmapFields, nulledSet, type ParsedSchema } from './avro.js';
import type { Transcoded } from './json-transcode.js';

export interface RawConsumerEvent {
  event: { id: string; schema_id: string; payload: Buffer };
  replay_id: Buffer;
}

function iso(ms: unknown): string | null {
  const n = typeof ms === 'string' ? Number(ms) : ms;
  // Outside Date's range (±8.64e15 ms) there is no time to give, and Date would throw.
  return typeof n === 'number' && Math.abs(n) <= 8.64e15 ? isoTime(n) : null;
}

/** What one event's envelope is built from besides its decoded bytes. */
interface EventAt {
  raw: RawConsumerEvent;
  schema: ParsedSchema;
  replayId: string;
  channel: string;
  org: string;
  receivedAt: string;
}

export function toEnvelope(raw: RawConsumerEvent, schema: ParsedSchema, channel: string, org: string, receivedAt: string): Envelope {
  const replayId = (Buffer.isBuffer(raw.replay_id) ? raw.replay_id : Buffer.from(raw.replay_id)).toString('base64');
  const at: EventAt = { raw, schema, replayId, channel, org, receivedAt };
  // gRPC hands us Buffers already; copy only when given another byte array.
  const bytes = Buffer.isBuffer(raw.event.payload) ? raw.event.payload : Buffer.from(raw.event.payload);
  if (!schema.transcode) {
    // A schema whose header is not its first field: avsc's record, then payloadOf (no JSON bytes kept).
    const record = schema.type.fromBuffer(bytes) as Record<string, unknown>;
    const header = (record.ChangeEventHeader as Record<string, unknown> | undefined) ?? null;
    const payload = schema.payloadOf(record, nulledSet(schema, header?.nulledFields as string[] | undefined));
    return envelopeOf(at, { header, eventUuid: payload.EventUuid, createdDate: payload.CreatedDate }, payload);
  }
  // The payload's JSON goes into the line writer first; the envelope's JSON is finished around it.
  lineWriter.reset();
  const decoded = schema.transcode(bytes, lineWriter);
  return sealLine(lineWriter, envelopeOf(at, decoded, new JsonPayload()));
}

/** The envelope, keys in the order envelope-line.ts writes them, `payload` last. */
function envelopeOf<P>(at: EventAt, d: Transcoded, payload: P): Envelope & { payload: P } {
  const { raw, replayId, channel } = at;
  if (d.header) {
    const header = toChangeHeader(d.header, (list) => decodeBitmapFields(at.schema, list));
    return {
      v: ENVELOPE_VERSION,
      org: at.org,
      channel,
      replayId,
      eventId: raw.event.id || `${channel}:${replayId}`,
      schemaId: raw.event.schema_id,
      eventTime: iso(header.commitTimestamp),
      receivedAt: at.receivedAt,
      kind: changeKind(header.changeType),
      changeHeader: header,
      payload,
    };
  }
  // Platform events: EventUuid and CreatedDate are payload fields, copied as they are.
  const uuid = typeof d.eventUuid === 'string' ? d.eventUuid : null;
  return {
    v: ENVELOPE_VERSION,
    org: at.org,
    channel,
    replayId,
    eventId: uuid ?? (raw.event.id || `${channel}:${replayId}`),
    schemaId: raw.event.schema_id,
    eventTime: iso(d.createdDate),
    receivedAt: at.receivedAt,
    kind: 'platform',
    payload,
  };
}
