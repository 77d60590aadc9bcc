/** Replay stores keep, per subscription key, the position of the last event every sink acknowledged. */

import type { CheckpointRecord, CommitRequest, StoredPosition } from '../positions.js';
import type { Lease } from './lease.js';

export type { CheckpointRecord, CommitRequest, StoredPosition } from '../positions.js';

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
  /**
   * Stores whose commit is one record a sink can write in its own transaction (Kafka): the record
   * for `position`. The pipeline passes it to an `atomicCheckpoints` sink with the batch.
   */
  checkpointRecord?(key: string, position: CommitRequest, lease?: Lease): CheckpointRecord;
  /** A checkpoint record was committed by a sink's transaction: remember it as the current position. */
  remember?(stored: StoredPosition): void;
}
