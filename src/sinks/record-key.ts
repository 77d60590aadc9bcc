import type { Envelope } from '../envelope.js';

/** How a sink picks the key that orders events (Kafka record key, webhook delivery lane). */
export type KeyMode = 'auto' | 'recordId' | 'eventId' | 'replayId' | 'none';

/** auto/recordId: the first CDC record id (one record's changes stay in order), else the event id. */
export function recordKey(mode: KeyMode, e: Envelope): string | null {
  switch (mode) {
    case 'none':
      return null;
    case 'replayId':
      return e.replayId;
    case 'eventId':
      return e.eventId;
    case 'recordId':
    case 'auto':
      return e.changeHeader?.recordIds[0] ?? e.eventId;
  }
}
