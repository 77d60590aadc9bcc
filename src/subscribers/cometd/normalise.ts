/** Salesforce CometD payloads (PushTopic, generic, CDC JSON, platform event JSON) -> the shared envelope. */
import { ENVELOPE_VERSION, type Envelope } from '../../envelope.js';
import { changeKind, toChangeHeader } from '../change-header.js';

type Obj = Record<string, unknown>;

function isoOrNull(v: unknown): string | null {
  const ms = typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : Number.NaN;
  // Date throws outside ±8.64e15 ms; such a time is no time.
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : null;
}

/**
 * Over CometD the change header has no nulledFields / diffFields: a field set to null is present
 * with a null value and a field sent as a diff is `{"diff": …}`. Name them in the header like the
 * Pub/Sub API does, so both transports give the same lists (docs/envelope.md).
 */
function cometdFieldLists(payload: Obj, h: Obj): { nulled: string[]; diff: string[] } {
  const nulled: string[] = [];
  const diff: string[] = [];
  for (const [k, v] of Object.entries(payload)) {
    if (v === null) nulled.push(k);
    else if (v && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Obj;
      const keys = Object.keys(o);
      if (keys.length === 1 && keys[0] === 'diff') diff.push(k);
      else for (const ik of keys) if (o[ik] === null) nulled.push(`${k}.${ik}`);
    }
  }
  return {
    nulled: Array.isArray(h.nulledFields) ? (h.nulledFields as string[]) : nulled,
    diff: Array.isArray(h.diffFields) ? (h.diffFields as string[]) : diff,
  };
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
    const lists = cometdFieldLists(payload, h);
    const header = toChangeHeader({ ...h, nulledFields: lists.nulled, diffFields: lists.diff }, (list) => list ?? []);
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
