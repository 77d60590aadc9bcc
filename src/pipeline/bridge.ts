/**
 * Builds everything a config describes (replay store, routes with their subscribers and sinks),
 * starts it, reports status, and stops it gracefully. With `ha.enabled`, routes run only while
 * this instance holds their lease (see ha.ts); otherwise every route runs.
 */

import { ChangeSignal } from '../change-signal.js';
import type { BridgeConfig, RouteConfig } from '../config/schema.js';
import { configProblems } from '../config-file.js';
import type { DeadLetterStore } from '../deadletter/types.js';
import { asStartupError, BridgeError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { OrgServices } from '../orgs.js';
import { isLeaseStore, type Lease } from '../replay/lease.js';
import type { ReplayStore } from '../replay/types.js';
import { routeKey, sourceFacts } from '../route-facts.js';
import { applyPushTopics } from '../salesforce/pushtopics.js';
import { HaCoordinator } from './ha.js';
import { BridgeMetrics } from './metrics.js';
import { configHash, planReload, type ReloadPlan } from './reload.js';
import type { Route, RouteState } from './route.js';
import { buildRoute, closeSinks, openAndStart, type Running } from './route-builder.js';
import { type RouteStatus, standbyStatus } from './route-types.js';
import { createDeadLetterStore, createReplayStore } from './stores.js';
import { RouteSupervisor } from './supervisor.js';

export interface BridgeStatus {
  state: 'starting' | 'running' | 'stopping' | 'stopped';
  replayStore: string;
  instance?: string;
  /** The running config's hash and when it was loaded (at start or by a reload). */
  config: { hash: string; loadedAt: string };
  routes: RouteStatus[];
}

export class Bridge {
  readonly store: ReplayStore;
  readonly deadLetters: DeadLetterStore;
  readonly orgs: OrgServices;
  readonly metrics: BridgeMetrics;
  private readonly specs = new Map<string, RouteConfig>();
  private readonly running = new Map<string, Running>();
  private state: BridgeStatus['state'] = 'starting';
  private ha: HaCoordinator | null = null;
  private stopping: Promise<boolean> | null = null;
  private stopped!: () => void;
  private readonly stoppedPromise = new Promise<void>((r) => {
    this.stopped = r;
  });
  /** Failed routes: restarted, left stopped, or the daemon exits (onRouteFailure). */
  private readonly supervisor: RouteSupervisor;
  /** Notified when a route ends, fails, restarts, or the daemon must exit: whenDone() looks again. */
  private readonly changed = new ChangeSignal();

  /** The config running now: its hash and when it was loaded (/status). */
  private loaded: { hash: string; loadedAt: string };

  constructor(
    private config: BridgeConfig,
    private readonly log: Logger,
  ) {
    this.loaded = { hash: configHash(config), loadedAt: new Date().toISOString() };
    this.store = createReplayStore(config, log);
    this.deadLetters = createDeadLetterStore(config, log);
    this.orgs = new OrgServices(config.orgs, log);
    for (const rc of config.routes) this.specs.set(routeKey(rc), rc);
    this.metrics = new BridgeMetrics(() => this.status(), this.orgs, this.specs);
    this.supervisor = new RouteSupervisor(
      config.onRouteFailure,
      { initialMs: config.routeRestart.initial, maxMs: Math.max(config.routeRestart.initial, config.routeRestart.max) },
      log,
      (key) => this.restartRoute(key),
      () => this.changed.notify(),
    );
    if (!config.ha?.enabled) for (const key of this.specs.keys()) this.running.set(key, this.build(key));
  }

  /** Routes currently running in this instance. */
  get routes(): Route[] {
    return [...this.running.values()].map((r) => r.route);
  }

  private build(key: string, lease?: Lease, mayWrite?: () => boolean): Running {
    const d = { pipeline: this.config.pipeline, orgs: this.orgs, store: this.store, deadLetters: this.deadLetters, metrics: this.metrics };
    return buildRoute(key, this.specs.get(key) as RouteConfig, { ...d, log: this.log }, lease, mayWrite);
  }

  /** Open the store and sinks, then start the routes. Throws a clear error if anything can't open. */
  async start(): Promise<void> {
    const problems = configProblems(this.config);
    if (problems.length > 0) throw new BridgeError('CONFIG', problems.join('; '));
    try {
      await this.store.open();
    } catch (err) {
      throw asStartupError(`replay store (${this.store.describe()})`, err);
    }
    try {
      await this.deadLetters.open();
    } catch (err) {
      throw asStartupError(`dead-letter store (${this.deadLetters.describe()})`, err);
    }
    for (const [name, org] of Object.entries(this.config.orgs)) {
      if (org.pushTopics.length === 0) continue;
      try {
        const results = await applyPushTopics(this.orgs.rest(name), org.pushTopics, org.apiVersion);
        for (const r of results) this.log.info({ org: name, pushTopic: r.name, action: r.action, id: r.id }, 'PushTopic in place');
      } catch (err) {
        throw asStartupError(`orgs.${name}.pushTopics`, err);
      }
    }
    this.orgs.pollLimits(this.orgsInUse());
    const ha = this.config.ha;
    if (ha?.enabled) {
      // configProblems refused ha.enabled without a lease store: narrowing the type only.
      if (!isLeaseStore(this.store)) throw new Error('unreachable: the replay store holds no leases');
      this.ha = new HaCoordinator(this.store, [...this.specs.keys()], ha, this.log, {
        start: (key, lease, mayWrite) => this.startRoute(key, lease, mayWrite),
        stop: (key, drain) => this.stopRoute(key, drain),
      });
      this.state = 'running';
      await this.ha.start();
      this.log.info(
        { instance: this.ha.instanceId, routes: [...this.specs.keys()] },
        'bridge running in HA mode; routes start on this instance when it holds their lease',
      );
      return;
    }
    for (const [key, r] of this.running) {
      await openAndStart(r);
      this.watch(key, r);
    }
    this.state = 'running';
    this.log.info({ routes: [...this.running.keys()], replayStore: this.store.describe() }, 'bridge running');
  }

  /** Hand a route's failure to the supervisor, and wake whenDone() when it ends either way. */
  private watch(key: string, r: Running): void {
    this.supervisor.started(key);
    void r.route.done.then((state) => {
      if (state === 'failed' && this.state === 'running' && this.running.get(key) === r)
        this.supervisor.failed(key, r.route.status().error ?? 'unknown error');
      this.changed.notify();
    });
  }

  /** A supervised restart: fresh subscriber and sinks, from the route's last committed position (under the same lease). */
  private async restartRoute(key: string): Promise<void> {
    if (this.state !== 'running') return;
    const old = this.running.get(key);
    if (!old) return; // HA: the lease went elsewhere meanwhile
    await this.startRoute(key, old.lease, old.mayWrite);
    this.log.info({ route: key }, 'route restarted');
  }

  /** Route API: pause (no new events requested, position kept) or resume a route running here. */
  pause(key: string, on: boolean): boolean {
    const r = this.running.get(key);
    r?.route.pause(on);
    return r !== undefined;
  }

  /** Route API: restart a route now (a failed one at once; a running one drains, then starts again). */
  async restart(key: string): Promise<boolean> {
    if (this.supervisor.restartNow(key)) return true;
    const r = this.running.get(key);
    if (!r || this.state !== 'running') return false;
    await this.stopRoute(key, true);
    await this.startRoute(key, r.lease, r.mayWrite).catch((err) => this.supervisor.failed(key, errorMessage(err)));
    return true;
  }

  /**
   * Start a route (first start, a supervised restart, or an HA lease taken): fresh subscriber and
   * sinks, then watched, so a failure goes to the supervisor with or without HA.
   */
  private async startRoute(key: string, lease?: Lease, mayWrite?: () => boolean): Promise<Route> {
    const old = this.running.get(key);
    if (old) await this.closeSinks(old);
    const r = this.build(key, lease, mayWrite);
    this.running.set(key, r);
    try {
      await openAndStart(r);
    } catch (err) {
      await this.closeSinks(r);
      throw err;
    }
    this.watch(key, r);
    this.changed.notify();
    return r.route;
  }

  /** HA: the lease is gone (or handed over): stop the route here, and any restart it was waiting for. */
  private async stopRoute(key: string, drain: boolean): Promise<void> {
    this.supervisor.forget(key);
    const r = this.running.get(key);
    if (!r) return;
    await r.route.stop(drain ? this.config.pipeline.drainTimeoutMs : 0);
    await this.closeSinks(r);
    this.running.delete(key);
  }

  /**
   * Resolves when every route has ended (finite sources) or failed for good (onRouteFailure stop),
   * at the first failure with onRouteFailure exit, or when stop() was called. A route waiting for a
   * supervised restart is not done. `stayUp` (routes may be added through the route API): only
   * stop() or an exit reason ends it.
   */
  async whenDone(stayUp = false): Promise<RouteState[]> {
    if (this.ha) {
      await this.stoppedPromise;
      return this.routes.map((r) => r.status().state);
    }
    // Routes notify `changed` when they end or fail (watch), so waiting on it alone never spins.
    const settled = (s: RouteState) => s === 'ended' || s === 'stopped' || (s === 'failed' && !this.supervisor.restarting);
    for (;;) {
      const wake = this.changed.wait(60_000);
      const states = this.status().routes.map((r) => r.state);
      if (this.supervisor.exitReason !== null || this.state === 'stopping' || this.state === 'stopped') return states;
      if (!stayUp && states.every(settled)) return states;
      await Promise.race([wake, this.stoppedPromise]);
    }
  }

  /** Why the daemon must exit (onRouteFailure: exit), or null. */
  get exitReason(): string | null {
    return this.supervisor.exitReason;
  }

  status(): BridgeStatus {
    const routes = [...this.specs.keys()].map((key) => {
      const st = this.metrics.annotate(this.running.get(key)?.route.status() ?? standbyStatus(key), !!this.ha);
      const restart = this.supervisor.info(key);
      if (!restart) return st;
      // Waiting for a restart (or a restart that could not open its sinks): failed, with why.
      return restart.nextRestartAt
        ? { ...st, state: 'failed' as const, error: st.error ?? restart.lastFailure, restart }
        : { ...st, restart };
    });
    return { state: this.state, replayStore: this.store.describe(), instance: this.ha?.instanceId, config: this.loaded, routes };
  }

  /**
   * Apply a new config (already checked) without a restart: removed routes drain and stop (their
   * positions stay stored), changed ones restart alone, added ones start; untouched routes go on.
   * Under HA the route set changes on this instance and leases follow it.
   */
  async reload(next: BridgeConfig): Promise<ReloadPlan> {
    const plan = planReload(this.config, next);
    const leases = new Map(plan.changed.map((k) => [k, this.running.get(k)]));
    for (const key of [...plan.removed, ...plan.changed]) await this.stopRoute(key, true);
    this.orgs.update(next.orgs, [...plan.orgs.removed, ...plan.orgs.changed]);
    for (const key of plan.removed) this.specs.delete(key);
    for (const rc of next.routes) this.specs.set(routeKey(rc), rc);
    this.config = next;
    this.loaded = { hash: configHash(next), loadedAt: new Date().toISOString() };
    this.orgs.pollLimits(this.orgsInUse());
    this.ha?.setKeys([...this.specs.keys()]);
    for (const key of [...plan.changed, ...plan.added]) {
      const held = leases.get(key);
      // Under HA a route starts where this instance holds its lease (kept across the change).
      if (this.ha && !held?.lease) continue;
      await this.startRoute(key, held?.lease, held?.mayWrite).catch((err) => this.supervisor.failed(key, errorMessage(err)));
    }
    return plan;
  }

  /** Graceful: stop fetching, drain in-flight events, commit, close. True when fully drained. */
  stop(timeoutMs = this.config.pipeline.drainTimeoutMs): Promise<boolean> {
    this.stopping ??= this.doStop(timeoutMs);
    return this.stopping;
  }

  private async doStop(timeoutMs: number): Promise<boolean> {
    this.state = 'stopping';
    this.supervisor.close();
    this.changed.notify();
    await this.ha?.stopLoop();
    const results = await Promise.all([...this.running.values()].map((r) => r.route.stop(timeoutMs)));
    for (const r of this.running.values()) await this.closeSinks(r);
    await this.ha?.releaseAll();
    await this.store.close().catch((err) => this.log.warn({ error: errorMessage(err) }, 'replay store close failed'));
    await this.deadLetters.close().catch(() => {});
    this.orgs.close();
    this.state = 'stopped';
    this.stopped();
    return results.every(Boolean);
  }

  /** The orgs the configured routes read from. */
  private orgsInUse(): Set<string> {
    return new Set([...this.specs.values()].flatMap((rc) => sourceFacts(rc.source).org ?? []));
  }

  private closeSinks(r: Running): Promise<void> {
    return closeSinks(r, this.log);
  }
}
