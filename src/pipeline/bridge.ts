/**
 * Builds everything a config describes (replay store, routes with their subscribers and sinks),
 * starts it, reports status, and stops it gracefully.
 */
import { routeKey } from '../config/load.js';
import type { BridgeConfig } from '../config/schema.js';
import { BridgeError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { OrgServices } from '../orgs.js';
import { lookup, replayStoreTypes, sinkTypes, subscriberTypes } from '../registry.js';
import type { ReplayStore } from '../replay/types.js';
import { applyPushTopics } from '../salesforce/pushtopics.js';
import type { Sink } from '../sinks/types.js';
import { Route, type RouteState, type RouteStatus } from './route.js';

export interface BridgeStatus {
  state: 'starting' | 'running' | 'stopping' | 'stopped';
  replayStore: string;
  routes: RouteStatus[];
}

export function createReplayStore(config: BridgeConfig, log: Logger): ReplayStore {
  return lookup(replayStoreTypes, config.replayStore.type).create(config.replayStore, { route: '', log });
}

export class Bridge {
  readonly store: ReplayStore;
  readonly routes: Route[] = [];
  private readonly sinks: Sink[] = [];
  private state: BridgeStatus['state'] = 'starting';
  readonly orgs: OrgServices;

  constructor(
    private readonly config: BridgeConfig,
    private readonly log: Logger,
  ) {
    this.store = createReplayStore(config, log);
    this.orgs = new OrgServices(config.orgs, log);
    for (const rc of config.routes) {
      const key = routeKey(rc);
      const rlog = log.child({ route: key });
      const subscriber = lookup(subscriberTypes, rc.source.type).create(rc.source, { route: key, log: rlog, orgs: this.orgs });
      const sinks = rc.sinks.map((sc, i) => {
        const sink = lookup(sinkTypes, sc.type).create(sc, { route: key, log: rlog });
        this.sinks.push(sink);
        return { name: `${sc.type}#${i}`, sink };
      });
      this.routes.push(
        new Route({
          key,
          subscriber,
          sinks,
          store: this.store,
          maxInFlight: rc.maxInFlight ?? config.pipeline.maxInFlight,
          maxBatchEvents: config.pipeline.maxBatchEvents,
          commitIntervalMs: config.pipeline.commitIntervalMs,
          commitMaxEvents: config.pipeline.commitMaxEvents,
          log: rlog,
        }),
      );
    }
  }

  /** Open the store and sinks, then start every route. Throws a clear error if anything can't open. */
  async start(): Promise<void> {
    try {
      await this.store.open();
    } catch (err) {
      throw asStartupError(`replay store (${this.store.describe()})`, err);
    }
    for (const s of this.sinks) {
      try {
        await s.open();
      } catch (err) {
        throw asStartupError(`sink ${s.describe()}`, err);
      }
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
    for (const r of this.routes) await r.start();
    this.state = 'running';
    this.log.info({ routes: this.routes.map((r) => r.key), replayStore: this.store.describe() }, 'bridge running');
  }

  /** Resolves when every route has ended (finite sources) or failed, or stop() was called. */
  async whenDone(): Promise<RouteState[]> {
    return Promise.all(this.routes.map((r) => r.done));
  }

  status(): BridgeStatus {
    return { state: this.state, replayStore: this.store.describe(), routes: this.routes.map((r) => r.status()) };
  }

  /** Graceful: stop fetching, drain in-flight events, commit, close. True when fully drained. */
  stop(timeoutMs = this.config.pipeline.drainTimeoutMs): Promise<boolean> {
    this.stopping ??= this.doStop(timeoutMs);
    return this.stopping;
  }

  private stopping: Promise<boolean> | null = null;

  private async doStop(timeoutMs: number): Promise<boolean> {
    this.state = 'stopping';
    const results = await Promise.all(this.routes.map((r) => r.stop(timeoutMs)));
    for (const s of this.sinks) {
      await s.drain().catch((err) => this.log.warn({ error: errorMessage(err), sink: s.describe() }, 'sink drain failed'));
      await s.close().catch((err) => this.log.warn({ error: errorMessage(err), sink: s.describe() }, 'sink close failed'));
    }
    await this.store.close().catch((err) => this.log.warn({ error: errorMessage(err) }, 'replay store close failed'));
    this.orgs.close();
    this.state = 'stopped';
    return results.every(Boolean);
  }
}

function asStartupError(what: string, err: unknown): BridgeError {
  if (err instanceof BridgeError) return err;
  return new BridgeError('STARTUP', `${what}: ${errorMessage(err)}`);
}
