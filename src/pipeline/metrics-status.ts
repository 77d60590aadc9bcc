/**
 * The metrics read from the bridge's status (and the orgs' limits) when Prometheus scrapes:
 * counters and gauges with no cost on the event path, always in step with /status.
 */
import client from 'prom-client';
import type { LimitsSnapshot } from '../salesforce/limits-poller.js';
import { VERSION } from '../version.js';
import type { RouteStatus } from './route-types.js';
import type { SinkStatus } from './sink-writer.js';

/** What the bridge's orgs tell metrics (orgs.ts). */
export interface OrgFacts {
  limits(): LimitsSnapshot[];
  /** Salesforce's clock minus ours for an org (ms). */
  clockOffsetMs(org: string): number;
}

type Row = [Record<string, string>, number];
type Rows = () => Row[];
type Labels = (key: string) => Record<string, string>;
const R = ['org', 'channel', 'route'];
const S = [...R, 'sink'];

/** Counters and gauges whose values come from the status snapshot of the scrape. */
export function defineStatusMetrics(registry: client.Registry, snap: () => { routes: RouteStatus[] }, labels: Labels): void {
  const route =
    (f: (r: RouteStatus) => number | null | undefined): Rows =>
    () =>
      snap().routes.flatMap((r) => {
        const v = f(r);
        return typeof v === 'number' && Number.isFinite(v) ? [[labels(r.key), v] as Row] : [];
      });
  const sink =
    (f: (k: SinkStatus) => number | null | undefined): Rows =>
    () =>
      snap().routes.flatMap((r) =>
        r.sinks.flatMap((k) => {
          const v = f(k);
          return typeof v === 'number' && Number.isFinite(v) ? [[{ ...labels(r.key), sink: k.name }, v] as Row] : [];
        }),
      );
  for (const d of counters(route, sink)) counterFrom(registry, d);
  for (const d of gauges(route, sink)) gaugeFrom(registry, d);
  new client.Gauge({
    name: 'sfbridge_info',
    help: 'Always 1; the version label says which sfbridge runs.',
    labelNames: ['version'],
    registers: [registry],
  }).set({ version: VERSION }, 1);
}

/** A counter whose values are the rows of each scrape (a route restart resets them, as counters may). */
function counterFrom(registry: client.Registry, [name, help, labelNames, rows]: Def): void {
  new client.Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [l, v] of rows()) this.inc(l, v);
    },
  });
}

/** A gauge whose values are the rows of each scrape. */
function gaugeFrom(registry: client.Registry, [name, help, labelNames, rows]: Def): void {
  new client.Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [l, v] of rows()) this.set(l, v);
    },
  });
}

type RouteRows = (f: (r: RouteStatus) => number | null | undefined) => Rows;
type SinkRows = (f: (k: SinkStatus) => number | null | undefined) => Rows;
type Def = [string, string, string[], Rows];

function counters(route: RouteRows, sink: SinkRows): Def[] {
  const stat = (name: string) => route((r) => r.sourceStats[name]);
  return [
    ['sfbridge_events_received_total', 'Events received from the source.', R, route((r) => r.eventsReceived)],
    ['sfbridge_events_acked_total', 'Events acknowledged by every sink.', R, route((r) => r.eventsAcked)],
    ['sfbridge_events_committed_total', 'Events whose replay position is committed.', R, route((r) => r.eventsCommitted)],
    ['sfbridge_resubscribes_total', 'Pub/Sub streams opened again after an error or a silent stream.', R, stat('resubscribes')],
    ['sfbridge_rehandshakes_total', 'CometD handshakes after the first (session lost).', R, stat('rehandshakes')],
    ['sfbridge_token_refreshes_total', 'Access tokens fetched again after expiry or a 401.', R, stat('authRefreshes')],
    ['sfbridge_replay_gaps_total', 'Replay positions Salesforce could not honour (replay-gap markers sent).', R, stat('replayGaps')],
    ['sfbridge_schema_fetches_total', 'Avro schemas fetched with GetSchema.', R, stat('schemaFetches')],
    ['sfbridge_decode_errors_total', 'Events that could not be decoded (dead-lettered raw).', R, stat('decodeErrors')],
    ['sfbridge_route_restarts_total', 'Supervised restarts of a failed route.', R, route((r) => r.restart?.restarts)],
    ['sfbridge_sink_events_delivered_total', 'Events a sink delivered.', S, sink((k) => k.eventsWritten)],
    ['sfbridge_sink_events_failed_total', 'Events a sink write did not deliver (each attempt).', S, sink((k) => k.eventsFailed)],
    ['sfbridge_sink_events_dead_lettered_total', 'Events set aside in the dead-letter store.', S, sink((k) => k.eventsDeadLettered)],
    [
      'sfbridge_sink_events_filtered_total',
      "Events the sink's filters left out (acknowledged without a write).",
      S,
      sink((k) => k.eventsFiltered),
    ],
    ['sfbridge_sink_events_unshaped_total', 'Events a shaping expression of the sink threw on.', S, sink((k) => k.eventsUnshaped)],
    [
      'sfbridge_enrichment_calls_total',
      'Composite API calls made to enrich events (gaps: enrich, fullRecord).',
      R,
      route((r) => sum(r.sourceStats.compositeCalls, r.sourceStats.fullRecordCalls)),
    ],
    ['sfbridge_sink_retries_total', 'Sink writes retried.', S, sink((k) => k.retries)],
    ['sfbridge_sink_bytes_written_total', 'Bytes a sink wrote (sinks that count them).', S, sink((k) => num(k.stats?.bytesWritten))],
  ];
}

function gauges(route: RouteRows, sink: SinkRows): Def[] {
  const stat = (name: string) => route((r) => r.sourceStats[name]);
  return [
    ['sfbridge_route_up', '1 while the route runs in this instance.', R, route((r) => (r.state === 'running' ? 1 : 0))],
    ['sfbridge_route_subscribed', '1 while the route holds a working subscription.', R, stat('subscribed')],
    ['sfbridge_events_in_flight', 'Events received but not yet acknowledged by every sink.', R, route((r) => r.inFlight)],
    [
      'sfbridge_route_seeking_seconds',
      'How long Salesforce has been seeking the replay id of a CometD route: alive, nothing delivered yet (0: not seeking).',
      R,
      stat('seekingSeconds'),
    ],
    ['sfbridge_credits_outstanding', 'Events requested from Salesforce and not yet received.', R, stat('outstanding')],
    ['sfbridge_commit_failures', 'Consecutive replay commit failures (0: the store answers).', R, route((r) => r.commitFailures)],
    ['sfbridge_lag_seconds', 'Lag of the newest event received (kept while idle).', R, route((r) => r.lagSeconds)],
    ['sfbridge_position_age_seconds', 'Age of the committed replay position.', R, route((r) => r.positionAgeSeconds)],
    [
      'sfbridge_retention_headroom_seconds',
      'Retention window minus the age of the committed position: time left before a stuck route loses events.',
      R,
      route((r) => r.headroomSeconds),
    ],
    [
      'sfbridge_ha_lease_owned',
      '1 while this instance holds the route lease (HA).',
      R,
      route((r) => (r.leaseOwned === undefined ? null : Number(r.leaseOwned))),
    ],
    ['sfbridge_sink_failing', '1 while a sink is failing and being retried.', S, sink((k) => (k.failing ? 1 : 0))],
    ['sfbridge_sink_events_awaiting_retry', 'Events waiting for their next retry (the retry queue).', S, sink((k) => k.awaitingRetry)],
    ['sfbridge_sink_queued_batches', 'Batches waiting for the sink.', S, sink((k) => k.queuedBatches)],
  ];
}

/** The org limits from the last /limits polls, as max and remaining gauges. */
export function defineLimitMetrics(registry: client.Registry, orgs: OrgFacts): void {
  const limitRows = (pick: 'max' | 'remaining'): Row[] =>
    orgs.limits().flatMap((s) => Object.entries(s.values).map(([limit, v]) => [{ org: s.org, limit }, v[pick]] as Row));
  for (const pick of ['max', 'remaining'] as const)
    gaugeFrom(registry, [
      `sfbridge_salesforce_limit_${pick}`,
      `The org's ${pick === 'max' ? 'allowance' : 'remaining allowance'} per limit, from /limits (orgs.<name>.limits.poll).`,
      ['org', 'limit'],
      () => limitRows(pick),
    ]);
  new client.Gauge({
    name: 'sfbridge_salesforce_limits_poll_ok',
    help: '1 when the last /limits poll of the org succeeded.',
    labelNames: ['org'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of orgs.limits()) if (s.polledAt || s.error) this.set({ org: s.org }, s.error ? 0 : 1);
    },
  });
}

function num(v: unknown): number | null {
  return typeof v === 'number' ? v : null;
}

/** The sum of the counters that are present, or undefined when none is (no series then). */
function sum(...vs: Array<number | undefined>): number | undefined {
  const present = vs.filter((v): v is number => typeof v === 'number');
  return present.length > 0 ? present.reduce((a, b) => a + b, 0) : undefined;
}
