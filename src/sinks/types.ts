import type { Envelope } from '../envelope.js';
import type { CheckpointRecord } from '../positions.js';

/**
 * What became of one event of a write. Sinks only write and report; what follows (retry
 * schedule, Retry-After, dead-lettering, `sinkOutage`) is decided in one place for every sink:
 * src/pipeline/delivery-policy.ts.
 * - `delivered`: durably accepted.
 * - `retry`: not accepted this time (5xx, timeout, network); try again, not before `retryAfterMs`.
 * - `rejected`: the receiver refused this event for good (a webhook's 4xx): it is dead-lettered.
 * - `unavailable`: the sink can take nothing at all (an endpoint answered 410 Gone): a `block`
 *   route stops with `error`, a `dead-letter` route sets the events aside.
 */
export type EventOutcome =
  | { status: 'delivered' }
  | { status: 'retry'; error: string; retryAfterMs?: number }
  | { status: 'rejected'; error: string }
  | { status: 'unavailable'; error: string };

/**
 * A sink receives batches in stream order. `write` resolves when it knows what became of every
 * event: with nothing (all delivered) or with one outcome per event, in batch order. Throwing
 * means the same for every event: `retry` for errors that may pass (network, broker down, disk
 * full), `unavailable` for errors flagged `retriable: false`.
 * Per-key order: a sink that delivers events of one write in parallel must not deliver an event
 * after an earlier event of the same key failed in that write (report it `retry` instead); the
 * pipeline retries what is left in order before anything later.
 */
export interface Sink {
  open(): Promise<void>;
  /**
   * `checkpoint` is given only to `atomicCheckpoints` sinks: the route's commit for this batch,
   * to be written atomically with it (all or nothing).
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: all-or-nothing sinks return nothing (void) when everything was delivered.
  write(batch: readonly Envelope[], checkpoint?: CheckpointRecord): Promise<void | EventOutcome[]>;
  /**
   * The retry schedule the sink's config asks for (a webhook's `retrySchedule`, `jitter`,
   * `maxRetryAfter`); without it the pipeline's exponential backoff applies.
   */
  readonly retry?: RetrySchedule;
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

export interface RetrySchedule {
  /** Delay before retry n (1-based); past the end, `block` routes keep the last delay and `dead-letter` routes set events aside. */
  delaysMs: number[];
  /** Each delay varies by up to this fraction. */
  jitter: number;
  /** A receiver's Retry-After is honoured up to this long. */
  maxRetryAfterMs: number;
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
  /**
   * The Salesforce field names and types of an object (its sObject describe), when the route's
   * source is an org: sinks that type their output (the PostgreSQL mirror) ask here.
   */
  describeObject?: (entity: string) => Promise<Array<{ name: string; type: string }>>;
  /** The Avro schema of an event's payload type, from the route's source (sinks that register schemas). */
  payloadSchema?: import('../payload-schema.js').PayloadSchemaSource;
}
