import type { Envelope } from '../envelope.js';

/**
 * A sink receives batches in stream order. `write` resolves only when the whole batch is durably
 * accepted (fsync'd, acknowledged by Kafka, delivered or dead-lettered); it rejects otherwise, and
 * the pipeline retries the same batch (errors flagged `retriable: false` stop the route).
 */
export interface Sink {
  open(): Promise<void>;
  write(batch: readonly Envelope[]): Promise<void>;
  /** Finish whatever is buffered; called before close on graceful shutdown. */
  drain(): Promise<void>;
  close(): Promise<void>;
  describe(): string;
  /** True when the sink writes the route's replay checkpoint itself (Kafka exactly-once). */
  readonly commitsPositions?: boolean;
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
  /** The bridge's replay store (the exactly-once Kafka sink writes checkpoints into it). */
  replayStore?: import('../replay/types.js').ReplayStore;
  /** The sink's name in status, logs and dead letters (`webhook#0`). */
  sinkName?: string;
  /** Where undeliverable events go (every bridge has one; file by default). */
  deadLetters?: import('../deadletter/types.js').DeadLetterStore;
  outage?: OutagePolicy;
}
