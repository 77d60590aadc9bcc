import type { Envelope } from '../envelope.js';
import type { Logger } from '../log.js';
import type { StoredPosition } from '../positions.js';

/**
 * What the pipeline gives a subscriber. The subscriber may emit at most as many events as it has
 * been granted through `request(n)` (credits); the pipeline returns credit as sinks acknowledge.
 */
export interface SubscriberContext {
  /** Route / subscription key. */
  key: string;
  /** Last committed position, if any: resume after it. */
  from: StoredPosition | undefined;
  /** Hand a batch (stream order) to the pipeline. */
  emit(events: Envelope[]): void;
  /**
   * The stream has advanced to `replayId` without events (e.g. a Pub/Sub keepalive): commit it once
   * everything emitted before it is acknowledged, so a quiet channel stays inside retention.
   */
  checkpoint(replayId: string, eventTime: string | null): void;
  /** The source is finished (finite sources only): the route drains and completes. */
  end(): void;
  /**
   * Keep input the subscriber could not decode (raw bytes) in the dead-letter store; resolves once
   * durable. The subscriber still emits a marker envelope in its place, so positions stay in order.
   */
  deadLetter?(entries: import('../deadletter/types.js').DeadLetterInput[]): Promise<void>;
  /**
   * Set when the route's first start delivered an export of the object (`initial: snapshot`):
   * epoch ms when the export began. The stream must deliver every change from then on.
   */
  snapshotTakenAt?: number;
  /**
   * Offered by the route's export stage when the channel is one object's change events and the
   * policy is `onInvalidReplay: backfill`: export the records changed since `since` (every record
   * when null) as `snapshot` envelopes, spending the `credit` the subscriber hands over (and any
   * the pipeline grants meanwhile). The subscriber holds its stream until it resolves, with what
   * was exported and the credit left, which goes back to the subscriber.
   */
  backfill?(req: { since: string | null; credit: number }): Promise<{ since: string | null; records: number; credit: number }>;
  /** Unrecoverable: the route stops without committing past what sinks acknowledged. */
  fail(err: Error): void;
  log: Logger;
}

/**
 * What a source says about itself, from its own config (registry `facts`): nothing outside its
 * folder reads its config. The pipeline, metrics, `check` and the source stages use these.
 */
export interface SourceFacts {
  /** The subscription key of a route that has no `name`. */
  key: string;
  /** The Salesforce org it reads (`orgs.<name>`), or null. */
  org: string | null;
  /** The channel or topic its events carry, or null. */
  channel: string | null;
  /** How long Salesforce keeps the channel's events (ms); null for sources without retention. */
  retentionMs: number | null;
  /** The in-flight window when neither the route nor the pipeline sets one. */
  maxInFlight: number;
  /** What the source must hold alone within one config, and why (two claims of one thing clash). */
  exclusive: Array<{ claim: string; why: string }>;
  /** Source stages the source asks for: an initial snapshot, a backfill when its position is refused. */
  snapshot: boolean;
  backfill: boolean;
}

export interface Subscriber {
  start(ctx: SubscriberContext): Promise<void>;
  /** Grant `n` more events of credit. */
  request(n: number): void;
  /** Stop fetching; no emit after this resolves. */
  stop(): Promise<void>;
  describe(): string;
  /** Counters for status and metrics (resubscribes, replay gaps, …). */
  stats?(): Record<string, number>;
  /** The route committed this position (server-side commits, e.g. managed subscriptions). */
  onCommitted?(position: StoredPosition): void;
  /**
   * The Avro schema of an event's payload type, as Salesforce describes it (src/payload-schema.ts),
   * for sinks that register schemas; markers and stand-ins get their channel's. Null: none.
   */
  payloadSchema?: import('../payload-schema.js').PayloadSchemaSource;
  /**
   * The route made its last commit (after `stop`, or when the source ended or failed): finish what
   * `onCommitted` started on the server (a Kafka source's group offsets), then let go of it.
   */
  close?(): Promise<void>;
}
