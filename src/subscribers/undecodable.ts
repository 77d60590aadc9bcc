/**
 * The bad-payload policy of every subscriber: an event the bridge cannot decode is never dropped
 * and never stops the stream. Its raw bytes go to the dead-letter store (`sink: decode`), durably
 * before anything after it can be committed, and a stand-in envelope with the same replay id and
 * `payload.decodeError` goes down the stream in its place, so positions stay in order.
 */
import type { DeadLetterInput } from '../deadletter/types.js';
import type { Envelope, EventKind } from '../envelope.js';

export interface Undecodable {
  route: string;
  org: string;
  channel: string;
  replayId: string;
  eventId: string;
  schemaId: string | null;
  kind: EventKind;
  raw: Buffer;
  error: string;
  receivedAt: string;
}

/** The stand-in envelope and the dead letter for an event that could not be decoded. */
export function undecodable(u: Undecodable): { marker: Envelope; deadLetter: DeadLetterInput } {
  const rawBase64 = u.raw.toString('base64');
  return {
    marker: {
      v: 1,
      org: u.org,
      channel: u.channel,
      replayId: u.replayId,
      eventId: u.eventId,
      schemaId: u.schemaId,
      eventTime: null,
      receivedAt: u.receivedAt,
      kind: u.kind,
      payload: { decodeError: u.error, rawPayloadBase64: rawBase64 },
    },
    deadLetter: {
      route: u.route,
      sink: 'decode',
      envelope: null,
      raw: rawBase64,
      error: `cannot decode the payload of ${u.channel} event ${u.eventId} (replay id ${u.replayId}${u.schemaId ? `, schema ${u.schemaId}` : ''}): ${u.error}`,
      attempts: 1,
      firstFailedAt: u.receivedAt,
    },
  };
}

/** The event kind a channel's events have (for a stand-in whose payload could not be read). */
export function kindOfChannel(channel: string): EventKind {
  if (channel.startsWith('/event/')) return 'platform';
  if (channel.startsWith('/topic/')) return 'pushtopic';
  if (channel.startsWith('/u/')) return 'generic';
  return 'cdc';
}
