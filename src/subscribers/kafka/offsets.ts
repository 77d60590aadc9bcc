/**
 * A Kafka source's position: the next offset to read of every partition seen so far, as
 * `topic:partition=offset` joined by commas (topic names cannot hold ':' or ','). Each event's
 * replay id is the whole vector as of that event, so any prefix the pipeline commits is exact.
 */

export class OffsetVector {
  private readonly next = new Map<string, bigint>();
  /** The text around the last partition advanced: runs of one partition (a fetch) only rewrite its own entry. */
  private last: { topic: string; partition: number; before: string; after: string } | null = null;

  /** Record that `offset` of a partition was emitted; returns the vector as of it. */
  advance(topic: string, partition: number, offset: bigint): string {
    const l = this.last;
    if (l && l.topic === topic && l.partition === partition) {
      this.next.set(`${topic}:${partition}`, offset + 1n);
      return `${l.before}${topic}:${partition}=${offset + 1n}${l.after}`;
    }
    const key = `${topic}:${partition}`;
    this.next.set(key, offset + 1n);
    const parts: string[] = [];
    let at = 0;
    for (const [k, v] of this.next) {
      if (k === key) at = parts.length;
      parts.push(`${k}=${v}`);
    }
    const before = parts.slice(0, at).join(',');
    const after = parts.slice(at + 1).join(',');
    this.last = { topic, partition, before: before ? `${before},` : '', after: after ? `,${after}` : '' };
    return parts.join(',');
  }
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
