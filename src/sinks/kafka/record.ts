/**
 * One envelope as one Kafka record, already in bytes: key, JSON value and headers are Buffers the
 * producer sends as they are (no serializer pass), and the size used for batching is their length
 * (no second UTF-8 scan). Header names and the values that repeat across events (channel, kind,
 * schema id, change type, CloudEvents source/type) are encoded once and reused: on a busy route
 * that is most of a record's small allocations.
 */
import { type Envelope, envelopeBytes } from '../../envelope.js';
import { cloudEventHeaders } from '../cloudevents.js';
import { type KeyMode, recordKey } from '../record-key.js';

export interface OutgoingMessage {
  topic: string;
  key?: Buffer;
  value: Buffer;
  headers: Map<Buffer, Buffer>;
}

/** Headers whose values are the same for many events: their bytes are shared. */
const REPEATING = new Set(['channel', 'kind', 'schema-id', 'change-type', 'ce_specversion', 'ce_source', 'ce_type', 'content-type']);
const SHARED_MAX = 4096;
const shared = new Map<string, Buffer>();

/** The bytes of a string that recurs; a bounded table, so odd inputs cannot grow it without end. */
function sharedBytes(s: string): Buffer {
  let b = shared.get(s);
  if (!b) {
    b = Buffer.from(s, 'utf8');
    if (shared.size < SHARED_MAX) shared.set(s, b);
  }
  return b;
}

function headerMap(e: Envelope, cloudEvents: boolean): Map<Buffer, Buffer> {
  const h = new Map<Buffer, Buffer>();
  h.set(sharedBytes('replay-id'), Buffer.from(e.replayId, 'utf8'));
  h.set(sharedBytes('channel'), sharedBytes(e.channel));
  h.set(sharedBytes('event-id'), Buffer.from(e.eventId, 'utf8'));
  h.set(sharedBytes('kind'), sharedBytes(e.kind));
  if (cloudEvents)
    for (const [k, v] of Object.entries(cloudEventHeaders(e)))
      h.set(sharedBytes(k), REPEATING.has(k) ? sharedBytes(v) : Buffer.from(v, 'utf8'));
  if (e.schemaId) h.set(sharedBytes('schema-id'), sharedBytes(e.schemaId));
  if (e.changeHeader) h.set(sharedBytes('change-type'), sharedBytes(e.changeHeader.changeType));
  return h;
}

/** `encoded`: value (and key) bytes a registry format made; else the JSON envelope and a text key. */
export function toRecord(
  e: Envelope,
  topic: string,
  mode: KeyMode,
  cloudEvents: boolean,
  encoded?: { value: Buffer; key?: Buffer },
): OutgoingMessage {
  const text = recordKey(mode, e);
  const key = encoded?.key ?? (text !== null && text !== undefined ? Buffer.from(text, 'utf8') : undefined);
  // The envelope's JSON bytes as decoded (no copy); the producer only reads them.
  const value = encoded?.value ?? envelopeBytes(e);
  const headers = headerMap(e, cloudEvents);
  return key ? { topic, key, value, headers } : { topic, value, headers };
}
