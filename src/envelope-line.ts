/**
 * The JSON bytes of a decoded envelope, written once when the event is decoded and then used by
 * every sink as they are (file lines, Kafka record values, webhook bodies).
 *
 * Why: stringifying each envelope in every sink, then encoding the text to UTF-8, allocated
 * several kilobytes of short-lived strings per event — most of the bridge's garbage collection.
 * Here the payload is transcoded from Avro into a reused buffer (json-transcode.ts), the rest of
 * the envelope is written after it from the envelope's own values, and one Buffer of exactly the
 * envelope's JSON is cut from the two. The text equals `JSON.stringify(envelope)` byte for byte
 * (test/unit/pubsub-payload.test.ts): same keys, same order (decode.ts builds the envelope in
 * this order), `commitNumber` left out when undefined as JSON.stringify does.
 */
import type { Envelope, JsonPayload } from './envelope.js';
import { JsonWriter } from './json-writer.js';

const key = (k: string, first = false) => Buffer.from(`${first ? '{' : ','}${JSON.stringify(k)}:`);
const K = {
  v: key('v', true),
  org: key('org'),
  channel: key('channel'),
  replayId: key('replayId'),
  eventId: key('eventId'),
  schemaId: key('schemaId'),
  eventTime: key('eventTime'),
  receivedAt: key('receivedAt'),
  kind: key('kind'),
  changeHeader: key('changeHeader'),
  payload: key('payload'),
  entity: key('entity', true),
  recordIds: key('recordIds'),
  changeType: key('changeType'),
  changeOrigin: key('changeOrigin'),
  transactionKey: key('transactionKey'),
  sequenceNumber: key('sequenceNumber'),
  commitTimestamp: key('commitTimestamp'),
  commitNumber: key('commitNumber'),
  commitUser: key('commitUser'),
  changedFields: key('changedFields'),
  nulledFields: key('nulledFields'),
  diffFields: key('diffFields'),
};

/** The writer decoders write payloads into; one event at a time (decoding is synchronous). */
export const lineWriter = new JsonWriter();

function nullableString(w: JsonWriter, s: string | null): void {
  if (s === null) w.nul();
  else w.jstr(s);
}

/** Everything of `e` before its payload's text: `{"v":1,…,"payload":`. */
function writeHead(w: JsonWriter, e: Envelope): void {
  w.bytes(K.v);
  w.num(e.v);
  w.bytes(K.org);
  w.jstr(e.org);
  w.bytes(K.channel);
  w.jstr(e.channel);
  w.bytes(K.replayId);
  w.jstr(e.replayId);
  w.bytes(K.eventId);
  w.jstr(e.eventId);
  w.bytes(K.schemaId);
  nullableString(w, e.schemaId);
  w.bytes(K.eventTime);
  nullableString(w, e.eventTime);
  w.bytes(K.receivedAt);
  w.jstr(e.receivedAt);
  w.bytes(K.kind);
  w.jstr(e.kind);
  const h = e.changeHeader;
  if (h) {
    w.bytes(K.changeHeader);
    w.bytes(K.entity);
    w.jstr(h.entity);
    w.bytes(K.recordIds);
    w.jstrs(h.recordIds);
    w.bytes(K.changeType);
    w.jstr(h.changeType);
    w.bytes(K.changeOrigin);
    w.jstr(h.changeOrigin);
    w.bytes(K.transactionKey);
    w.jstr(h.transactionKey);
    w.bytes(K.sequenceNumber);
    w.num(h.sequenceNumber);
    w.bytes(K.commitTimestamp);
    w.num(h.commitTimestamp);
    if (h.commitNumber !== undefined) {
      w.bytes(K.commitNumber);
      w.jstr(h.commitNumber);
    }
    w.bytes(K.commitUser);
    w.jstr(h.commitUser);
    w.bytes(K.changedFields);
    w.jstrs(h.changedFields);
    w.bytes(K.nulledFields);
    w.jstrs(h.nulledFields);
    w.bytes(K.diffFields);
    w.jstrs(h.diffFields);
    w.byte(0x7d);
  }
  w.bytes(K.payload);
}

/**
 * Finish an envelope whose payload object was just written at the start of `w` (from 0 to
 * `w.pos`): write the rest of the envelope after it, cut head + payload + `}` into one Buffer and
 * bind it to the envelope's payload.
 */
export function sealLine(w: JsonWriter, e: Envelope & { payload: JsonPayload }): Envelope {
  const payloadEnd = w.pos;
  writeHead(w, e);
  const headLen = w.pos - payloadEnd;
  const line = Buffer.allocUnsafe(headLen + payloadEnd + 1);
  w.buf.copy(line, 0, payloadEnd, w.pos);
  w.buf.copy(line, headLen, 0, payloadEnd);
  line[line.length - 1] = 0x7d;
  return e.payload.bind(e, line, headLen);
}
