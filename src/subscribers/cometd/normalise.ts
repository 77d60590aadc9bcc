/** Salesforce CometD payloads (PushTopic, generic, CDC JSON, platform event JSON) -> the shared envelope. */
import { ENVELOPE_VERSION, type Envelope } from '../../envelope.js';
import { changeKind, toChangeHeader } from '../change-header.js';

type Obj = Record<string, unknown>;

function isoOrNull(v: unknown): string | null {
  if (typeof v === 'number') return new Date(v).toISOString();
  if (typeof v === 'string' && !Number.isNaN(Date.parse(v))) return new Date(v).toISOString();
  return null;
}

export function normaliseCometd(channel: string, data: Obj, org: string, receivedAt: string): Envelope {
  const event = (data.event ?? {}) as Obj;
  const replayId = String(event.replayId ?? '');
  const base = { v: ENVELOPE_VERSION, org, channel, replayId, receivedAt };
  if (channel.startsWith('/topic/')) {
    return {
      ...base,
      eventId: `${channel}:${replayId}`,
      schemaId: null,
      eventTime: isoOrNull(event.createdDate),
      kind: 'pushtopic',
      payload: { type: event.type ?? null, sobject: data.sobject ?? null },
    };
  }
  if (channel.startsWith('/u/')) {
    return {
      ...base,
      eventId: `${channel}:${replayId}`,
      schemaId: null,
      eventTime: isoOrNull(event.createdDate),
      kind: 'generic',
      payload: data.payload ?? null,
    };
  }
  if (data.payload === null || typeof data.payload !== 'object' || Array.isArray(data.payload)) {
    throw new Error(`the event payload is not a JSON object (got ${Array.isArray(data.payload) ? 'a list' : typeof data.payload})`);
  }
  const payload = { ...(data.payload as Obj) };
  const schemaId = typeof data.schema === 'string' ? data.schema : null;
  const h = payload.ChangeEventHeader as Obj | undefined;
  if (h) {
    delete payload.ChangeEventHeader;
    const header = toChangeHeader(h, (list) => list ?? []);
    for (const n of header.nulledFields) if (!n.includes('.') && !(n in payload)) payload[n] = null;
    const kind = changeKind(header.changeType);
    return {
      ...base,
      eventId: `${channel}:${replayId}`,
      schemaId,
      eventTime: isoOrNull(header.commitTimestamp),
      kind,
      changeHeader: header,
      payload,
    };
  }
  const uuid = typeof event.EventUuid === 'string' ? event.EventUuid : typeof payload.EventUuid === 'string' ? payload.EventUuid : null;
  return {
    ...base,
    eventId: uuid ?? `${channel}:${replayId}`,
    schemaId,
    eventTime: isoOrNull(payload.CreatedDate),
    kind: 'platform',
    payload,
  };
}
