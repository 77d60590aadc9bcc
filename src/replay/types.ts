/** Replay stores keep, per subscription key, the position of the last event every sink acknowledged. */

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

export interface ReplayStore {
  /** Connect / read state. Throws a clear error when the store is unreachable or corrupt. */
  open(): Promise<void>;
  load(key: string): Promise<StoredPosition | undefined>;
  /**
   * Atomically replace the position of `key`; resolves once durable. With a lease (HA mode), the
   * store rejects the commit (FencedError) unless that lease is still the current one.
   */
  commit(key: string, position: CommitRequest, lease?: import('./lease.js').Lease): Promise<StoredPosition>;
  list(): Promise<StoredPosition[]>;
  /** Forget `key`; true when something was removed. */
  delete(key: string): Promise<boolean>;
  close(): Promise<void>;
  /** Human description for `sfbridge check` (never includes credentials). */
  describe(): string;
}
