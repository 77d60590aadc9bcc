/**
 * Dead letters: events a sink could not deliver and that were set aside instead of holding the
 * route (a receiver's 4xx, or a long outage on a route configured `sinkOutage.mode: dead-letter`).
 * An event is acknowledged to the pipeline only after its dead letter is durable, so it is never
 * both unacknowledged and forgotten. `sfbridge dlq list|replay|purge` works on them.
 */
import type { Envelope } from '../envelope.js';

export interface DeadLetterInput {
  route: string;
  /** The sink that failed, as named in status and logs (`webhook#0`), or `decode` for input the bridge could not decode. */
  sink: string;
  /** The envelope, or null when the event could not be decoded (then `raw` holds its bytes). */
  envelope: Envelope | null;
  /** Undecodable input, base64. */
  raw?: string;
  error: string;
  attempts: number;
  firstFailedAt: string;
  /**
   * The envelope is as the source gave it: the sink's shaping (filter, fields, transform) threw on
   * it, so `dlq replay` shapes it with the config's current settings before writing.
   */
  unshaped?: true;
}

export interface DeadLetter extends DeadLetterInput {
  id: string;
  deadLetteredAt: string;
  /** Integrity MAC over the rest of the entry (see the file store). */
  mac?: string;
  /** Set by `list` when the MAC does not match: altered or forged; `dlq replay` refuses it. */
  tampered?: boolean;
}

export interface DeadLetterFilter {
  route?: string;
  sink?: string;
  ids?: string[];
}

export interface DeadLetterStore {
  open(): Promise<void>;
  /** Resolves once every entry is durable. */
  add(entries: DeadLetterInput[]): Promise<DeadLetter[]>;
  list(filter?: DeadLetterFilter): Promise<DeadLetter[]>;
  /** Forget entries (delivered by replay, or purged); returns how many were removed. */
  remove(ids: string[]): Promise<number>;
  close(): Promise<void>;
  describe(): string;
}

export function matches(d: DeadLetter, f: DeadLetterFilter | undefined): boolean {
  if (!f) return true;
  if (f.route !== undefined && d.route !== f.route) return false;
  if (f.sink !== undefined && d.sink !== f.sink) return false;
  if (f.ids !== undefined && !f.ids.includes(d.id)) return false;
  return true;
}

/** Dead-letter inputs for envelopes one sink could not deliver. */
export function deadLettersFor(
  route: string,
  sink: string,
  events: readonly Envelope[],
  error: string,
  attempts: number,
  firstFailedAt: string,
): DeadLetterInput[] {
  return events.map((envelope) => ({ route, sink, envelope, error, attempts, firstFailedAt }));
}
