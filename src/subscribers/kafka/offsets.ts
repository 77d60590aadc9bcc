/**
 * A Kafka source's position: the next offset to read of every partition seen so far, as
 * `topic:partition=offset` joined by commas (topic names cannot hold ':' or ','). Each event's
 * replay id is the whole vector as of that event, so any prefix the pipeline commits is exact.
 */

export class OffsetVector {
  private readonly next = new Map<string, bigint>();

  /** Record that `offset` of a partition was emitted; returns the vector as of it. */
  advance(topic: string, partition: number, offset: bigint): string {
    this.next.set(`${topic}:${partition}`, offset + 1n);
    return format(this.next);
  }
}

function format(m: Map<string, bigint>): string {
  let s = '';
  for (const [k, v] of m) s += s ? `,${k}=${v}` : `${k}=${v}`;
  return s;
}

export interface PartitionOffset {
  topic: string;
  partition: number;
  offset: bigint;
}

/** Parse a stored vector; throws on anything else (a position from another kind of source). */
export function parseOffsets(text: string): PartitionOffset[] {
  if (text === '') return [];
  return text.split(',').map((part) => {
    const m = /^([A-Za-z0-9._-]+):(\d+)=(\d+)$/.exec(part);
    if (!m) throw new Error(`"${text}" is not a Kafka offset position (topic:partition=offset,…)`);
    return { topic: m[1] as string, partition: Number(m[2]), offset: BigInt(m[3] as string) };
  });
}
