import type { Envelope } from '../envelope.js';
import type { CheckpointRecord } from '../positions.js';

/**
 * A sink receives batches in stream order. `write` resolves only when the whole batch is durably
 * accepted (fsync'd, acknowledged by Kafka, delivered or dead-lettered); it rejects otherwise, and
 * the pipeline retries the same batch (errors flagged `retriable: false` stop the route).
 */
export interface Sink {
  open(): Promise<void>;
  /**
   * `checkpoint` is given only to `atomicCheckpoints` sinks: the route's commit for this batch,
   * to be written atomically with it (all or nothing).
   */
  write(batch: readonly Envelope[], checkpoint?: CheckpointRecord): Promise<void>;
  /** Finish whatever is buffered; called before close on graceful shutdown. */
  drain(): Promise<void>;
  close(): Promise<void>;
  describe(): string;
  /**
   * Capability: the sink can write the route's checkpoint in the same transaction as a batch
   * (Kafka exactly-once). The pipeline then commits through the sink instead of the store.
   */
  readonly atomicCheckpoints?: boolean;
  /** Counters for /status (delivered, retries, dead-lettered…). */
  stats?(): Record<string, number | string | boolean>;
}

/** What a route does when a sink stays down (config `routes[].sinkOutage`). */
export interface OutagePolicy {
  /** block: hold the replay commit and keep retrying (Salesforce retention is the buffer); dead-letter: set events aside. */
  mode: 'block' | 'dead-letter';
  /** dead-letter mode: how long a write may keep failing before its events are dead-lettered. */
  afterMs: number;
}

export interface SinkContext {
  /** The route (subscription key) this sink instance serves. */
  route: string;
  log: import('../log.js').Logger;
  /** The sink's name in status, logs and dead letters (`webhook#0`). */
  sinkName?: string;
  /** Where undeliverable events go (every bridge has one; file by default). */
  deadLetters?: import('../deadletter/types.js').DeadLetterStore;
  outage?: OutagePolicy;
}
