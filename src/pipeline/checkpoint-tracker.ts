/**
 * Which position is safe to commit. Every batch a subscriber emits (and every keepalive position)
 * becomes an entry in stream order, with the number of sinks that still owe an acknowledgement.
 * The head of the stream advances only over fully acknowledged entries, so the committable
 * position is always that of the newest event such that it and everything before it was
 * acknowledged by every sink — whatever order the acknowledgements arrive in. Replay ids are
 * opaque: positions are never compared, only ordered by arrival. Synchronous and I/O-free.
 */
import type { CommitRequest } from '../positions.js';

interface Entry {
  /** Events in the batch (0 for a keepalive position). */
  count: number;
  /** Position after this entry; null when the batch holds only markers (nothing to commit). */
  position: CommitRequest | null;
  /** Sinks that have not acknowledged this entry yet. */
  pending: number;
}

export class CheckpointTracker {
  private readonly entries = new Map<number, Entry>();
  private nextSeq = 0;
  private headSeq = 0;
  /** Events emitted and not yet acknowledged by every sink. */
  inFlight = 0;

  /** Entries not yet passed by the head (batches in flight, or acknowledged behind one that is). */
  get size(): number {
    return this.entries.size;
  }

  /** A batch of `count` events, owed by `sinks` sinks; returns its sequence number. */
  add(count: number, position: CommitRequest | null, sinks: number): number {
    const seq = this.nextSeq++;
    this.entries.set(seq, { count, position, pending: sinks });
    this.inFlight += count;
    return seq;
  }

  /**
   * One sink acknowledged entry `seq`. Returns the number of events now acknowledged by every
   * sink (0 while others still owe it, or for a repeated acknowledgement).
   */
  ack(seq: number): number {
    const entry = this.entries.get(seq);
    if (!entry || entry.pending === 0) return 0;
    entry.pending--;
    if (entry.pending > 0) return 0;
    this.inFlight -= entry.count;
    return entry.count;
  }

  /**
   * Move the head over every fully acknowledged entry. Returns the newest position passed (null
   * if none carried one) and how many events were passed, or null when the head did not move.
   */
  advance(): { position: CommitRequest | null; events: number } | null {
    let position: CommitRequest | null = null;
    let events = 0;
    let moved = false;
    while (this.headSeq < this.nextSeq) {
      const head = this.entries.get(this.headSeq);
      if (head && head.pending > 0) break;
      if (head) {
        this.entries.delete(this.headSeq);
        if (head.position) position = head.position;
        events += head.count;
        moved = true;
      }
      this.headSeq++;
    }
    return moved ? { position, events } : null;
  }
}
