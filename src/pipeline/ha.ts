/**
 * High availability over a shared Redis or PostgreSQL replay store: each subscription is owned by
 * one instance at a time through a lease with a fencing token. `leaseTtlMs` is the promise: a
 * killed owner's routes run elsewhere within it. So the lease as stored lasts 2/3 of it, the rest
 * being for the others to notice (they look every lease/6) and start the routes (in parallel).
 * The owner renews every lease/3; it stops a route itself once it could not renew for 2/3 of the
 * lease (so it has stopped delivering before a standby can take the expired lease), and the store
 * rejects commits carrying an old fencing token. Instances spread the subscriptions: each aims at
 * ceil(routes / live instances).
 */

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Lease, LeaseStore } from '../replay/lease.js';

export interface HaConfig {
  enabled: boolean;
  instanceId?: string;
  leaseTtlMs: number;
}

interface Owned {
  lease: Lease;
  lastRenewOk: number;
}

/**
 * How the coordinator starts and stops routes. It handles leases only: a route that fails under
 * its lease keeps the lease, and the bridge's supervisor restarts it (onRouteFailure, routeRestart
 * back-off) as it does without HA.
 */
export interface RouteControl {
  start(key: string, lease: Lease, mayWrite: () => boolean): Promise<unknown>;
  stop(key: string, drain: boolean): Promise<void>;
}

/** Routes started at once when leases are taken (a takeover of hundreds should not start them one by one). */
const START_CONCURRENCY = 16;
/** Lease renewals in flight at once (the stores' connection pools queue the rest). */
const RENEW_CONCURRENCY = 32;

export class HaCoordinator {
  readonly instanceId: string;
  private readonly owned = new Map<string, Owned>();
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private stopped = false;
  /** How long a lease (and a heartbeat) lasts in the store: 2/3 of leaseTtlMs (see above). */
  private readonly leaseMs: number;
  private ticks = 0;
  /** Routes being started under leases just taken (one batch after another). */
  private starting: Promise<void> = Promise.resolve();
  private readonly pending = new Set<string>();
  /** Routes being handed back to other instances (still owned until drained). */
  private readonly leaving = new Set<string>();

  constructor(
    private readonly store: LeaseStore,
    private keys: string[],
    config: HaConfig,
    private readonly log: Logger,
    private readonly control: RouteControl,
  ) {
    this.instanceId = config.instanceId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.leaseMs = Math.floor((config.leaseTtlMs * 2) / 3);
  }

  async start(): Promise<void> {
    await this.tick();
    await this.starting;
    // Every lease/6: heartbeat and take up free leases; every second tick (lease/3) also renew.
    this.timer = setInterval(
      () => {
        this.ticking ??= this.tick().finally(() => {
          this.ticking = null;
        });
      },
      Math.max(25, Math.floor(this.leaseMs / 6)),
    );
  }

  /**
   * A reloaded route set: routes gone from it are stopped here (drained) and their leases given
   * back; new ones are taken up by the next tick, a fair share per instance as usual.
   */
  setKeys(keys: string[]): void {
    this.keys = keys;
    for (const key of [...this.owned.keys()])
      if (!keys.includes(key)) {
        this.log.info({ route: key, instance: this.instanceId }, 'route removed by a reload; releasing its lease');
        void this.drop(key, true, true);
      }
  }

  async stopLoop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
    await this.starting;
  }

  async releaseAll(): Promise<void> {
    for (const o of this.owned.values()) await this.store.release(o.lease).catch(() => undefined);
    this.owned.clear();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const ttl = this.leaseMs;
    const now = Date.now();
    // 1. Keep (or give up) what we own: many renewals at once (one after another, a thousand
    // leases took longer than a lease on a busy machine, and expired while waiting their turn).
    const renewing = this.ticks++ % 2 === 0 ? [...this.owned] : [];
    for (let i = 0; i < renewing.length; i += RENEW_CONCURRENCY)
      await Promise.all(renewing.slice(i, i + RENEW_CONCURRENCY).map(([key, o]) => this.renew(key, o, now)));
    if (this.stopped) return;
    // 2. Take a fair share of the rest. An instance is live while its heartbeat (every tick) is
    // younger than one lease: a killed one stops counting about when its leases expire, so the
    // others' shares grow in time to take its routes (with 2 leases its routes waited a lease more).
    let live = 1;
    try {
      live = Math.max(1, await this.store.heartbeat(this.instanceId, ttl));
    } catch (err) {
      this.log.warn({ error: errorMessage(err) }, 'HA heartbeat failed');
      return;
    }
    const target = Math.ceil(this.keys.length / live);
    const taken: Array<{ key: string; lease: Lease }> = [];
    for (const key of this.order()) {
      if (this.owned.size - this.leaving.size + taken.length >= target || this.stopped) break;
      if (this.owned.has(key)) continue;
      const lease = await this.store.acquire(key, this.instanceId, ttl).catch(() => null);
      if (lease) taken.push({ key, lease });
    }
    // Owned from now (renewed by the next ticks); started beside the ticks, so a takeover of many
    // routes never holds up renewals.
    for (const { key, lease } of taken) this.owned.set(key, { lease, lastRenewOk: Date.now() });
    this.starting = this.starting.then(async () => {
      for (let i = 0; i < taken.length; i += START_CONCURRENCY)
        await Promise.all(taken.slice(i, i + START_CONCURRENCY).map(({ key, lease }) => this.startOwned(key, lease)));
    });
    // 3. Hand back extras when more instances joined (graceful: drain, commit, release), beside
    // the ticks too: draining hundreds one by one inside a tick let the other leases expire.
    // Routes still starting are handed back on a later tick, once they run.
    const extra = this.owned.size - this.leaving.size - target;
    if (extra <= 0 || this.stopped) return;
    const give = [...this.owned.keys()]
      .reverse()
      .filter((k) => !this.pending.has(k) && !this.leaving.has(k))
      .slice(0, extra);
    for (const key of give) this.leaving.add(key);
    this.log.info({ routes: give.length, instance: this.instanceId, target }, 'rebalancing: handing routes to other instances');
    this.starting = this.starting.then(async () => {
      for (let i = 0; i < give.length; i += START_CONCURRENCY)
        await Promise.all(give.slice(i, i + START_CONCURRENCY).map((key) => this.drop(key, true, true)));
    });
  }

  private async renew(key: string, o: Owned, now: number): Promise<void> {
    const ok = await this.store.renew(o.lease, this.leaseMs).catch((err) => {
      this.log.warn({ route: key, error: errorMessage(err) }, 'lease renewal failed');
      return null;
    });
    if (ok) o.lastRenewOk = Date.now();
    else if (ok === false || now - o.lastRenewOk >= (this.leaseMs * 2) / 3) {
      this.log.error(
        { route: key, instance: this.instanceId, fencing: o.lease.fencing },
        'lost the lease: stopping the route now (another instance may take over)',
      );
      if (this.owned.get(key) !== o) return;
      // One being handed back is stopping already: only stop counting it as ours.
      if (this.leaving.has(key)) this.owned.delete(key);
      else await this.drop(key, false, false);
    }
  }

  /** Start a route under a lease just taken (unless lost or handed back meanwhile); released if it cannot start. */
  private async startOwned(key: string, lease: Lease): Promise<void> {
    if (this.stopped || this.owned.get(key)?.lease !== lease) return;
    const acquiredAt = Date.now();
    const mayWrite = () => {
      const o = this.owned.get(key);
      const last = o && o.lease.fencing === lease.fencing ? o.lastRenewOk : acquiredAt;
      return Date.now() - last < (this.leaseMs * 2) / 3;
    };
    try {
      this.pending.add(key);
      await this.control.start(key, lease, mayWrite);
      this.log.info(
        { route: key, instance: this.instanceId, fencing: lease.fencing },
        'acquired the lease; route started on this instance',
      );
      // The lease was lost while the route started (a renewal refused): stop it again.
      if (this.owned.get(key)?.lease !== lease) await this.control.stop(key, false);
    } catch (err) {
      if (this.owned.get(key)?.lease === lease) this.owned.delete(key);
      this.log.error({ route: key, error: errorMessage(err) }, 'could not start the route; releasing its lease');
      await this.store.release(lease).catch(() => undefined);
    } finally {
      this.pending.delete(key);
    }
  }

  private async drop(key: string, drain: boolean, release: boolean): Promise<void> {
    const o = this.owned.get(key);
    if (!o) return;
    // A route handed back stays owned (renewed) while it drains, so no one else starts it meanwhile.
    if (!release) this.owned.delete(key);
    await this.control.stop(key, drain);
    if (this.owned.get(key) === o) this.owned.delete(key);
    this.leaving.delete(key);
    if (release) await this.store.release(o.lease).catch(() => undefined);
  }

  /** A per-instance order of keys, so instances reach for different routes first. */
  private order(): string[] {
    const h = (s: string) => [...s].reduce((a, c) => (a * 31 + c.charCodeAt(0)) >>> 0, 7);
    return [...this.keys].sort((a, b) => h(this.instanceId + a) - h(this.instanceId + b));
  }
}
