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
}

export interface SinkContext {
  /** The route (subscription key) this sink instance serves. */
  route: string;
  log: import('../log.js').Logger;
  /** The bridge's replay store (the exactly-once Kafka sink writes checkpoints into it). */
  replayStore?: import('../replay/types.js').ReplayStore;
}
