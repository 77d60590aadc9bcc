/** The contract of a route: what it is built from and what it reports (route.ts implements it). */

import type { DeadLetterStore } from '../deadletter/types.js';
import type { Envelope } from '../envelope.js';
import type { Logger } from '../log.js';
import type { StoredPosition } from '../positions.js';
import type { Lease } from '../replay/lease.js';
import type { ReplayStore } from '../replay/types.js';
import type { Shape } from '../shaping/shape.js';
import type { OutagePolicy, Sink } from '../sinks/types.js';
import type { Subscriber } from '../subscribers/types.js';
import type { SinkStatus } from './sink-writer.js';

export interface RouteOptions {
  key: string;
  subscriber: Subscriber;
  sinks: Array<{ name: string; sink: Sink; concurrency?: number; shape?: Shape | null }>;
  store: ReplayStore;
  /** HA: the lease this route runs under; commits carry it so a stale owner is fenced off. */
  lease?: Lease;
  /** HA: false once this instance may no longer deliver (lease not renewed in time). */
  mayWrite?: () => boolean;
  /** Where a dead-letter route sets aside what a sink could not take in time. */
  deadLetters?: DeadLetterStore;
  outage?: OutagePolicy;
  maxInFlight: number;
  maxBatchEvents: number;
  commitIntervalMs: number;
  commitMaxEvents: number;
  log: Logger;
  /** Timings for metrics (metrics.ts); absent in tests that do not look. */
  observer?: RouteObserver;
}

/** What the route reports as it works, for histograms that a status snapshot cannot give. */
export interface RouteObserver {
  /** A batch arrived from the subscriber. */
  received(events: readonly Envelope[]): void;
  /** `events` more events are committed (oldest first): end-to-end latency. */
  committed(events: number): void;
  /** A replay-store commit took `seconds`; `ok` false when it failed. */
  commitWrite(seconds: number, ok: boolean): void;
  /** One sink write of `events` took `seconds`. */
  sinkWrite(sink: string, seconds: number): void;
}

export type RouteState = 'idle' | 'running' | 'draining' | 'stopped' | 'ended' | 'failed' | 'standby';

export interface RouteStatus {
  key: string;
  state: RouteState;
  source: string;
  sourceStats: Record<string, number>;
  eventsReceived: number;
  eventsAcked: number;
  eventsCommitted: number;
  inFlight: number;
  maxInFlight: number;
  maxInFlightSeen: number;
  creditViolations: number;
  committed: StoredPosition | null;
  commitFailures: number;
  error: string | null;
  /** Paused through the route API (no new events requested; the position stays). */
  paused?: boolean;
  sinks: SinkStatus[];
  /** Timing facts metrics.ts adds for /status: how far behind and how close to the retention cliff. */
  org?: string | null;
  channel?: string | null;
  /** Now minus the commit time of the newest event received (kept while idle). */
  lagSeconds?: number | null;
  /** Age of the committed position (Salesforce's clock minus its event time). */
  positionAgeSeconds?: number | null;
  /** Retention minus that age: how long the route can stay stuck before events are lost. */
  headroomSeconds?: number | null;
  /** HA: whether this instance holds the route's lease (absent without HA). */
  leaseOwned?: boolean;
  /** Supervised restarts of a failed route (onRouteFailure: restart). */
  restart?: { restarts: number; nextRestartAt: string | null; lastFailure: string | null };
}

/** Status of a route this instance does not run (HA standby). */
export function standbyStatus(key: string): RouteStatus {
  return {
    key,
    state: 'standby',
    source: '',
    sourceStats: {},
    eventsReceived: 0,
    eventsAcked: 0,
    eventsCommitted: 0,
    inFlight: 0,
    maxInFlight: 0,
    maxInFlightSeen: 0,
    creditViolations: 0,
    committed: null,
    commitFailures: 0,
    error: null,
    sinks: [],
  };
}
