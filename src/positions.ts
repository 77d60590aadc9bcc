/**
 * Positions: what the pipeline commits per subscription once every sink has acknowledged. Shared
 * by the contracts of subscribers (where to resume), replay stores (where positions live) and
 * sinks that can commit a position atomically with their writes; it imports nothing.
 */

export interface StoredPosition {
  /** Subscription key (the route name). */
  key: string;
  /** Opaque replay id, exactly as the envelope carries it. */
  replayId: string;
  /** Event time of the event at that position (ISO 8601), when known: used for retention checks. */
  eventTime: string | null;
  /** When the position was committed (ISO 8601). */
  committedAt: string;
}

export interface CommitRequest {
  replayId: string;
  eventTime: string | null;
}

/**
 * A commit as something another system writes atomically with its own writes. The pipeline asks
 * the replay store for it and hands it to the sink; neither knows the other.
 * - `kafka`: a record that goes into the producer transaction of the batch it follows (the Kafka
 *   replay store and the exactly-once Kafka sink);
 * - `sql`: a statement that runs in the database transaction of the batch (the PostgreSQL replay
 *   store and the PostgreSQL sink on the same database); it must change exactly one row, else the
 *   commit was fenced off (another instance holds the route's lease).
 */
export type CheckpointRecord =
  | {
      kind: 'kafka';
      topic: string;
      key: string;
      value: string;
      /** The position as stored once the record is committed. */
      stored: StoredPosition;
    }
  | { kind: 'sql'; text: string; values: unknown[]; stored: StoredPosition };
