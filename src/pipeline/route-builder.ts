/**
 * One route's parts from its config: the subscriber (with its stages), the sinks (each with its
 * shaping), and the Route that joins them. Used by the bridge for first starts, supervised
 * restarts, HA lease take-overs and config reloads alike.
 */
import type { BridgeConfig, RouteConfig, ShapingConfig } from '../config/schema.js';
import type { DeadLetterStore } from '../deadletter/types.js';
import { asStartupError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { OrgServices } from '../orgs.js';
import { lookup, sinkTypes, subscriberTypes } from '../registry.js';
import type { Lease } from '../replay/lease.js';
import type { ReplayStore } from '../replay/types.js';
import { inFlightLimit, sourceFacts } from '../route-facts.js';
import { sinkShape } from '../shaping/shape.js';
import type { Sink } from '../sinks/types.js';
import { withStages } from '../stages/index.js';
import type { BridgeMetrics } from './metrics.js';
import { Route } from './route.js';

export interface Running {
  route: Route;
  sinks: Sink[];
  /** HA: the lease the route runs under (a supervised restart keeps it). */
  lease?: Lease;
  mayWrite?: () => boolean;
}

export interface BuildDeps {
  pipeline: BridgeConfig['pipeline'];
  orgs: OrgServices;
  store: ReplayStore;
  deadLetters: DeadLetterStore;
  metrics: BridgeMetrics;
  log: Logger;
}

export function buildRoute(key: string, rc: RouteConfig, d: BuildDeps, lease?: Lease, mayWrite?: () => boolean): Running {
  const rlog = d.log.child({ route: key });
  const source = lookup(subscriberTypes, rc.source.type).create(rc.source, { route: key, log: rlog, orgs: d.orgs });
  const subscriber = withStages(source, rc, d.orgs, rlog);
  const outage = { mode: rc.sinkOutage.mode, afterMs: rc.sinkOutage.after };
  const describeObject = d.orgs.describer(sourceFacts(rc.source).org);
  const sinks = rc.sinks.map((sc, i) => {
    const name = `${sc.type}#${i}`;
    const ctx = { route: key, log: rlog, sinkName: name, orgs: d.orgs, describeObject, payloadSchema: source.payloadSchema };
    // Every sink schema carries the shaping keys (registry.ts), whatever its type.
    return { name, sink: lookup(sinkTypes, sc.type).create(sc, ctx), shape: sinkShape(rc, sc as ShapingConfig, i) };
  });
  const route = new Route({
    key,
    subscriber,
    sinks,
    store: d.store,
    lease,
    mayWrite,
    deadLetters: d.deadLetters,
    outage,
    maxInFlight: inFlightLimit(rc, d.pipeline),
    maxBatchEvents: d.pipeline.maxBatchEvents,
    commitIntervalMs: d.pipeline.commitIntervalMs,
    commitMaxEvents: d.pipeline.commitMaxEvents,
    log: rlog,
    observer: d.metrics.observer(key),
  });
  return { route, sinks: sinks.map((s) => s.sink), lease, mayWrite };
}

/** Open a route's sinks, then start it; a sink that cannot open names itself. */
export async function openAndStart(r: Running): Promise<void> {
  for (const s of r.sinks) {
    try {
      await s.open();
    } catch (err) {
      throw asStartupError(`sink ${s.describe()}`, err);
    }
  }
  await r.route.start();
}

/** Drain and close a route's sinks; a failure is logged, never thrown (the route is going anyway). */
export async function closeSinks(r: Running, log: Logger): Promise<void> {
  for (const s of r.sinks) {
    await s.drain().catch((err) => log.warn({ error: errorMessage(err), sink: s.describe() }, 'sink drain failed'));
    await s.close().catch((err) => log.warn({ error: errorMessage(err), sink: s.describe() }, 'sink close failed'));
  }
}
