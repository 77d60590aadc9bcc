/**
 * The one event envelope every subscriber produces and every sink receives.
 * Its JSON form is documented in docs/envelope.md and docs/envelope.schema.json:
 * downstream consumers code against it, so change it only by adding optional fields.
 */

export const ENVELOPE_VERSION = 1;

export const EVENT_KINDS = ['pushtopic', 'cdc', 'platform', 'generic', 'gap', 'overflow', 'replay-gap', 'snapshot'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** CDC ChangeEventHeader with the bitmap fields already decoded to field names. */
export interface ChangeHeader {
  entity: string;
  recordIds: string[];
  changeType: string;
  changeOrigin: string;
  transactionKey: string;
  sequenceNumber: number;
  /** Epoch milliseconds, as Salesforce sends it. */
  commitTimestamp: number;
  /** A Salesforce long; a string because it can exceed 2^53. */
  commitNumber?: string;
  commitUser: string;
  changedFields: string[];
  nulledFields: string[];
  diffFields: string[];
}

export interface Envelope {
  /** Envelope format version. */
  v: number;
  /** 18-character Salesforce org id, or the configured org name when the id is unknown. */
  org: string;
  /** Channel / topic name, e.g. `/data/AccountChangeEvent`, `/topic/NewCases`. */
  channel: string;
  /**
   * Opaque replay position. CometD: the numeric replay id in decimal. Pub/Sub API: the replay id
   * bytes in standard base64 (the proto3 JSON mapping of `bytes`). Never compare or do arithmetic.
   */
  replayId: string;
  /** Stable event identity: EventUuid where Salesforce provides it, else derived (see docs). */
  eventId: string;
  /** Avro schema id (Pub/Sub) or CometD `schema`; null for PushTopic and generic events. */
  schemaId: string | null;
  /** When Salesforce says the event happened (ISO 8601), null when unknown. */
  eventTime: string | null;
  /** When the bridge received it (ISO 8601). */
  receivedAt: string;
  kind: EventKind;
  /** Present for cdc, gap and overflow events. */
  changeHeader?: ChangeHeader;
  /** The event's fields (CDC: the entity fields; platform: event fields; generic: the string). */
  payload: unknown;
  /** `gap` events of a route with `gaps: enrich`: the records' current state was fetched (payload). */
  enriched?: true;
  /** When the enriched fields were fetched (ISO). */
  enrichedAt?: string;
  /** Why a gap event could not be enriched (it goes on without fields). */
  enrichError?: string;
  /** `snapshot` envelopes of a backfill: the record was deleted (exported from the recycle bin). */
  deleted?: true;
  /** Events read from a Kafka source: where the record came from, its key and headers (UTF-8). */
  kafka?: { topic: string; partition: number; offset: string; key: string | null; headers: Record<string, string> };
}

/**
 * A payload that arrives as JSON text, together with the JSON bytes of the whole envelope it was
 * built into (Pub/Sub events: Avro is transcoded straight to JSON, envelope-line.ts). Sinks write
 * those bytes as they are; the payload is parsed only if some code reads its value.
 * `JSON.stringify` of an envelope holding one still gives the same JSON (`toJSON`), only slower.
 */
// Until bind(): one shared empty buffer, not one per event.
const NO_LINE = Buffer.alloc(0);

export class JsonPayload {
  private parsed: unknown;
  private isParsed = false;
  #owner: Envelope | undefined;
  #line: Buffer = NO_LINE;
  #from = 0;

  /**
   * `line` is the JSON of `e`, the envelope this payload is the last key of, with the payload's
   * text from `from` to the closing brace. Envelopes are not changed in place, so the bytes stay
   * true for `e`; a copy (`{ ...e, more }`) is another object and is stringified afresh.
   */
  bind(e: Envelope, line: Buffer, from: number): Envelope {
    this.#owner = e;
    this.#line = line;
    this.#from = from;
    return e;
  }

  /** The JSON bytes of `e` when this payload was built into `e`, else undefined. */
  lineOf(e: Envelope): Buffer | undefined {
    return this.#owner === e ? this.#line : undefined;
  }

  /** The payload's JSON text. */
  get json(): string {
    return this.#line.toString('utf8', this.#from, this.#line.length - 1);
  }

  get value(): unknown {
    if (!this.isParsed) {
      this.parsed = JSON.parse(this.json);
      this.isParsed = true;
    }
    return this.parsed;
  }

  toJSON(): unknown {
    return this.value;
  }
}

/** The payload as a value, whichever form it is held in. */
export function payloadValue(e: Envelope): unknown {
  return e.payload instanceof JsonPayload ? e.payload.value : e.payload;
}

/** The payload as JSON text. */
export function payloadJson(e: Envelope): string {
  return e.payload instanceof JsonPayload ? e.payload.json : JSON.stringify(e.payload);
}

/** The envelope as JSON text (what sinks write), equal to `JSON.stringify(e)`. */
export function envelopeJson(e: Envelope): string {
  const line = e.payload instanceof JsonPayload ? e.payload.lineOf(e) : undefined;
  return line ? line.toString('utf8') : JSON.stringify(e);
}

/** The envelope as UTF-8 JSON bytes: the bytes written when it was decoded, when there are some. */
export function envelopeBytes(e: Envelope): Buffer {
  const line = e.payload instanceof JsonPayload ? e.payload.lineOf(e) : undefined;
  return line ?? Buffer.from(JSON.stringify(e), 'utf8');
}

/**
 * Marker kinds: envelopes the bridge itself adds to a stream to say something about it (today a
 * `replay-gap`). A marker has no position in the stream (its `replayId` is empty), so it is never
 * committed as a replay position.
 */
// A snapshot record comes from an export, not from the stream: it has no stream position either.
export const MARKER_KINDS: ReadonlySet<EventKind> = new Set<EventKind>(['replay-gap', 'snapshot']);

/**
 * The kind a filter sees (config `filter.kinds`): the envelope's, or `undecodable` for the stand-in
 * of an event that could not be decoded (its payload holds `decodeError`, subscribers/undecodable.ts).
 */
export function filterKind(e: Envelope): EventKind | 'undecodable' {
  const p = e.payload;
  if (p !== null && typeof p === 'object' && !(p instanceof JsonPayload) && 'decodeError' in p) return 'undecodable';
  return e.kind;
}

/** True when the envelope is a real event with a replay position (not a marker). */
export function hasPosition(e: Envelope): boolean {
  return !MARKER_KINDS.has(e.kind);
}

/** The position after a batch: that of its last real event (markers carry none), or null. */
export function lastPosition(events: readonly Envelope[]): { replayId: string; eventTime: string | null } | null {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i] as Envelope;
    if (hasPosition(e)) return { replayId: e.replayId, eventTime: e.eventTime };
  }
  return null;
}

/** A marker sent to sinks when a replay position could not be honoured (see replay policy). */
export function replayGapEnvelope(args: {
  org: string;
  channel: string;
  replayId: string;
  storedReplayId: string | null;
  storedEventTime: string | null;
  policy: string;
  reason: string;
  /** policy backfill: the export delivered before the stream (since null: every record), or null when none ran. */
  backfilled?: { since: string | null; records: number } | null;
  /** policy backfill on a channel that cannot be exported: why. */
  backfillImpossible?: string;
}): Envelope {
  const now = new Date().toISOString();
  return {
    v: ENVELOPE_VERSION,
    org: args.org,
    channel: args.channel,
    replayId: args.replayId,
    eventId: `replay-gap:${args.channel}:${now}`,
    schemaId: null,
    eventTime: now,
    receivedAt: now,
    kind: 'replay-gap',
    payload: {
      storedReplayId: args.storedReplayId,
      storedEventTime: args.storedEventTime,
      policy: args.policy,
      reason: args.reason,
      ...(args.backfilled !== undefined ? { backfilled: args.backfilled } : {}),
      ...(args.backfillImpossible ? { backfillImpossible: args.backfillImpossible } : {}),
    },
  };
}

/**
 * A record exported from Salesforce (initial snapshot, backfill, `sfbridge backfill`) as a
 * `snapshot` envelope: no stream position, the record id in a SNAPSHOT change header (so sinks key
 * it like the record's change events), the record's last change time as `eventTime`.
 */
export function snapshotEnvelope(
  row: Record<string, unknown>,
  a: { entity: string; org: string; channel: string; exportId: string; exportedAt: number; receivedAt: string },
): Envelope {
  const id = String(row.Id ?? '');
  return {
    v: ENVELOPE_VERSION,
    org: a.org,
    channel: a.channel,
    replayId: '',
    eventId: `snapshot:${a.entity}:${id}:${a.exportId}`,
    schemaId: null,
    eventTime: recordTime(row.SystemModstamp ?? row.LastModifiedDate) ?? new Date(a.exportedAt).toISOString(),
    receivedAt: a.receivedAt,
    kind: 'snapshot',
    changeHeader: {
      entity: a.entity,
      recordIds: [id],
      changeType: 'SNAPSHOT',
      changeOrigin: '',
      transactionKey: '',
      sequenceNumber: 0,
      commitTimestamp: a.exportedAt,
      commitUser: '',
      changedFields: [],
      nulledFields: [],
      diffFields: [],
    },
    ...(row.IsDeleted === true ? { deleted: true as const } : {}),
    payload: row,
  };
}

/** A record's modification time as ISO (Bulk CSV gives ISO text; epoch ms is accepted too). */
function recordTime(v: unknown): string | null {
  if (typeof v !== 'string' && typeof v !== 'number') return null;
  const ms = typeof v === 'number' || /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : null;
}
