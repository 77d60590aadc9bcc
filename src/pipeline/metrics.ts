/**
 * Prometheus metrics (prom-client). Three kinds:
 * - the process and event-loop defaults of prom-client;
 * - counters and gauges read from the bridge's status when scraped, so /metrics and /status
 *   never disagree and the hot path pays nothing for them;
 * - histograms only a running route can feed (RouteObserver): lag behind Salesforce, end-to-end
 *   latency, sink write and replay-commit durations.
 * Labels: org, channel, route, sink (and limit for the org's Salesforce limits).
 * The metric list is documented in README "Operating sfbridge"; deploy/ alerts and dashboard use it.
 */
import client from 'prom-client';
import type { RouteConfig } from '../config/schema.js';
import { type Envelope, hasPosition } from '../envelope.js';
import { scrubString } from '../log.js';
import { sourceFacts } from '../route-facts.js';
import { defineLimitMetrics, defineStatusMetrics, type OrgFacts } from './metrics-status.js';
import type { RouteObserver, RouteStatus } from './route-types.js';

interface RouteFacts {
  org: string;
  channel: string;
  /** How long Salesforce keeps the channel's events; null for sources without retention (files, exports). */
  retentionMs: number | null;
}

/** Org, channel and retention window of a route, as its source describes itself. */
function routeFacts(rc: RouteConfig): RouteFacts {
  const f = sourceFacts(rc.source);
  return { org: f.org ?? '', channel: f.channel ?? '', retentionMs: f.retentionMs };
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const LAG_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14_400, 86_400, 259_200];

export class BridgeMetrics {
  readonly registry = new client.Registry();
  private readonly facts = new Map<string, RouteFacts>();
  private readonly labelCache = new Map<string, Record<string, string>>();
  /** Latest lag per route (seconds), kept while the route is idle. */
  private readonly lastLag = new Map<string, number>();
  /** The status read once per scrape, shared by every collector of that scrape. */
  private snap: { routes: RouteStatus[] } = { routes: [] };
  private readonly lag: client.Histogram;
  private readonly e2e: client.Histogram;
  private readonly sinkWrite: client.Histogram;
  private readonly commit: client.Histogram;
  private readonly commitFailed: client.Counter;

  constructor(
    private readonly status: () => { routes: RouteStatus[] },
    private readonly orgs: OrgFacts,
    routes: Iterable<[string, RouteConfig]>,
  ) {
    for (const [key, rc] of routes) this.facts.set(key, routeFacts(rc));
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry });
    const R = ['org', 'channel', 'route'];
    this.lag = new client.Histogram({
      name: 'sfbridge_event_lag_seconds',
      help: 'Receipt time minus the Salesforce commit time of each event (CDC commitTimestamp, platform event CreatedDate).',
      labelNames: R,
      buckets: LAG_BUCKETS,
      registers,
    });
    this.e2e = new client.Histogram({
      name: 'sfbridge_end_to_end_latency_seconds',
      help: 'From receipt of a batch to the commit of its replay position (every sink acknowledged).',
      labelNames: R,
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.sinkWrite = new client.Histogram({
      name: 'sfbridge_sink_write_duration_seconds',
      help: 'Duration of one sink write (a Kafka produce, a webhook delivery, a file group commit).',
      labelNames: [...R, 'sink'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.commit = new client.Histogram({
      name: 'sfbridge_commit_duration_seconds',
      help: 'Duration of one replay-store commit.',
      labelNames: R,
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.commitFailed = new client.Counter({
      name: 'sfbridge_commit_failures_total',
      help: 'Replay-store commits that failed.',
      labelNames: R,
      registers,
    });
    const labels = (key: string) => this.labels(key);
    defineStatusMetrics(this.registry, () => this.snap, labels);
    defineLimitMetrics(this.registry, orgs);
  }

  /** The Prometheus text exposition. */
  async render(): Promise<string> {
    this.snap = this.status();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** A fresh observer for one run of a route (its end-to-end queue must not outlive the run). */
  observer(key: string): RouteObserver {
    const l = this.labels(key);
    const lag = this.lag.labels(l);
    const e2e = this.e2e.labels(l);
    const commit = this.commit.labels(l);
    const commitFailed = this.commitFailed.labels(l);
    /** Batches not yet committed: [events left, receipt time ms], oldest first. */
    const pending: Array<[number, number]> = [];
    return {
      received: (events: readonly Envelope[]) => {
        const now = Date.now();
        pending.push([events.length, now]);
        let last = Number.NaN;
        for (const e of events) {
          if (!hasPosition(e)) continue;
          const t = e.changeHeader?.commitTimestamp ?? (e.eventTime ? Date.parse(e.eventTime) : Number.NaN);
          if (!Number.isFinite(t)) continue;
          last = Math.max(0, (now - t) / 1000);
          lag.observe(last);
        }
        if (!Number.isNaN(last)) this.lastLag.set(key, last);
      },
      committed: (events: number) => {
        const now = Date.now();
        let n = events;
        while (n > 0 && pending.length > 0) {
          const head = pending[0] as [number, number];
          const take = Math.min(n, head[0]);
          head[0] -= take;
          n -= take;
          if (head[0] === 0) {
            e2e.observe((now - head[1]) / 1000);
            pending.shift();
          }
        }
      },
      commitWrite: (seconds: number, ok: boolean) => {
        commit.observe(seconds);
        if (!ok) commitFailed.inc();
      },
      sinkWrite: (sink: string, seconds: number) => this.sinkWrite.observe({ ...l, sink }, seconds),
    };
  }

  /** A route's status with org, channel, lag, position age and retention headroom filled in. */
  annotate(st: RouteStatus, ha: boolean): RouteStatus {
    const f = this.facts.get(st.key);
    const at = st.committed ? Date.parse(st.committed.eventTime ?? st.committed.committedAt) : Number.NaN;
    // Retention runs on Salesforce's clock: ours plus the offset the last /limits poll measured.
    // Never negative: the offset is known to about a second, and a position is not from the future.
    const age = f && Number.isFinite(at) ? Math.max(0, Date.now() + this.orgs.clockOffsetMs(f.org) - at) / 1000 : null;
    const lag = this.lastLag.get(st.key);
    return {
      ...st,
      org: f?.org || null,
      channel: f?.channel || null,
      lagSeconds: lag === undefined ? null : round(lag),
      positionAgeSeconds: age === null ? null : round(age),
      headroomSeconds: age === null || !f?.retentionMs ? null : round(f.retentionMs / 1000 - age),
      ...(ha ? { leaseOwned: st.state !== 'standby' } : {}),
    };
  }

  /** A route's labels, once per route. /metrics is public like /status: values pass the secret scrubber. */
  private labels(key: string): Record<string, string> {
    let l = this.labelCache.get(key);
    if (!l) {
      const f = this.facts.get(key);
      l = { org: scrubString(f?.org ?? ''), channel: scrubString(f?.channel ?? ''), route: scrubString(key) };
      this.labelCache.set(key, l);
    }
    return l;
  }
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
