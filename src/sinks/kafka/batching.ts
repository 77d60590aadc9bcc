/**
 * Size-safe produce requests. A broker refuses a record batch larger than the topic's
 * `max.message.bytes` (1 MiB by default) with MESSAGE_TOO_LARGE; one produce request carries one
 * batch per partition. Packing each request so that *all* its records together stay under the
 * smallest limit of its topics keeps every partition's batch under it too, whatever the
 * partitioner does, with no need to know partitions here. Sizes are the uncompressed record
 * sizes plus a per-record overhead, so compression only adds room. A record that alone exceeds
 * its topic's limit can never be produced: it is reported, not sent.
 */
import type { OutgoingMessage } from './record.js';

/** Record framing (length, attributes, deltas, varints) and per-header costs, generously rounded up. */
const RECORD_OVERHEAD = 64;
const HEADER_OVERHEAD = 8;
/** Record batch header (61 bytes) and request framing, with margin. */
export const BATCH_OVERHEAD = 1024;

export interface Outgoing {
  /** Index of the event in the sink's batch. */
  index: number;
  topic: string;
  message: OutgoingMessage;
  bytes: number;
}

export function recordBytes(m: OutgoingMessage): number {
  let n = RECORD_OVERHEAD + (m.key?.length ?? 0) + m.value.length;
  for (const [k, v] of m.headers) n += HEADER_OVERHEAD + k.length + v.length;
  return n;
}

/**
 * Split records, in order, into requests of at most `maxCount` records whose bytes stay within
 * `limitOf(topic)` minus the batch overhead. Callers remove records that alone exceed their limit
 * first (see `tooLarge`).
 */
export function pack(records: readonly Outgoing[], limitOf: (topic: string) => number, maxCount = 10_000): Outgoing[][] {
  const chunks: Outgoing[][] = [];
  let cur: Outgoing[] = [];
  let bytes = 0;
  let limit = Number.POSITIVE_INFINITY;
  for (const r of records) {
    const nextLimit = Math.min(limit, limitOf(r.topic) - BATCH_OVERHEAD);
    if (cur.length > 0 && (bytes + r.bytes > nextLimit || cur.length >= maxCount)) {
      chunks.push(cur);
      cur = [];
      bytes = 0;
      limit = Number.POSITIVE_INFINITY;
    }
    cur.push(r);
    bytes += r.bytes;
    limit = Math.min(limit, limitOf(r.topic) - BATCH_OVERHEAD);
  }
  if (cur.length > 0) chunks.push(cur);
  return chunks;
}

/** True when a record cannot fit a batch of its topic even alone. */
export function tooLarge(r: Outgoing, limitOf: (topic: string) => number): boolean {
  return r.bytes > limitOf(r.topic) - BATCH_OVERHEAD;
}
