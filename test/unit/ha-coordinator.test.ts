/**
 * HA leases (src/pipeline/ha.ts) with an in-memory lease store on a controlled clock: fair share,
 * takeover within the TTL, an owner that stops before a standby can take over, and a stale
 * fencing token refused. The Redis and PostgreSQL stores are held to the same contract by
 * test/integration/replay-stores.test.ts and ha.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { HaCoordinator } from '../../src/pipeline/ha.js';
import type { Lease, LeaseStore } from '../../src/replay/lease.js';

const TTL = 3000;

/** Leases as the shared stores keep them: one owner per key until it expires, a fencing token that only grows. */
class MemoryLeases implements LeaseStore {
  private readonly leases = new Map<string, Lease & { expiresAt: number }>();
  private readonly fencing = new Map<string, number>();
  private readonly alive = new Map<string, number>();
  /** Owners whose calls fail (their store connection is down). */
  readonly unreachable = new Set<string>();

  private reach(owner: string): void {
    if (this.unreachable.has(owner)) throw new Error('store unreachable');
  }

  async acquire(key: string, owner: string, ttlMs: number): Promise<Lease | null> {
    this.reach(owner);
    const held = this.leases.get(key);
    if (held && held.expiresAt > Date.now()) return null;
    const fencing = (this.fencing.get(key) ?? 0) + 1;
    this.fencing.set(key, fencing);
    const lease = { key, owner, fencing };
    this.leases.set(key, { ...lease, expiresAt: Date.now() + ttlMs });
    return lease;
  }

  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    this.reach(lease.owner);
    const held = this.leases.get(lease.key);
    if (!held || held.fencing !== lease.fencing) return false;
    held.expiresAt = Date.now() + ttlMs;
    return true;
  }

  async release(lease: Lease): Promise<void> {
    this.reach(lease.owner);
    if (this.leases.get(lease.key)?.fencing === lease.fencing) this.leases.delete(lease.key);
  }

  async heartbeat(owner: string, ttlMs: number): Promise<number> {
    this.reach(owner);
    this.alive.set(owner, Date.now() + ttlMs);
    return [...this.alive.values()].filter((t) => t > Date.now()).length;
  }
}

function coordinator(store: MemoryLeases, id: string, keys: string[]) {
  const running = new Map<string, number>();
  const events: Array<{ at: number; what: 'start' | 'stop'; key: string; fencing?: number }> = [];
  const ha = new HaCoordinator(store, keys, { enabled: true, instanceId: id, leaseTtlMs: TTL }, silentLogger(), {
    start: async (key, lease) => {
      running.set(key, lease.fencing);
      events.push({ at: Date.now(), what: 'start', key, fencing: lease.fencing });
    },
    stop: async (key) => {
      running.delete(key);
      events.push({ at: Date.now(), what: 'stop', key });
    },
  });
  return { ha, running, events };
}

describe('HA coordinator', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-12-05T12:00:00Z'));
  });
  afterEach(() => vi.useRealTimers());

  it('shares the routes fairly: a second instance gets half, handed over gracefully', async () => {
    const store = new MemoryLeases();
    const keys = ['a', 'b', 'c', 'd'];
    const one = coordinator(store, 'one', keys);
    await one.ha.start();
    expect([...one.running.keys()].sort()).toEqual(keys);
    const two = coordinator(store, 'two', keys);
    await two.ha.start();
    await vi.advanceTimersByTimeAsync(3 * TTL);
    expect(one.running.size).toBe(2);
    expect(two.running.size).toBe(2);
    expect([...one.running.keys(), ...two.running.keys()].sort()).toEqual(keys);
    await one.ha.stopLoop();
    await two.ha.stopLoop();
  });

  it('a standby takes over after the TTL with a higher fencing token; the old token is refused', async () => {
    const store = new MemoryLeases();
    const one = coordinator(store, 'one', ['a']);
    await one.ha.start();
    const oldFencing = one.running.get('a') as number;
    const two = coordinator(store, 'two', ['a']);
    await two.ha.start();
    expect(two.running.size).toBe(0); // held by one
    // One crashes: it stops renewing (its timers stop) without releasing.
    await one.ha.stopLoop();
    const crashed = Date.now();
    // leaseTtlMs is the promise: the route runs on the standby within it.
    await vi.advanceTimersByTimeAsync(TTL);
    expect(two.running.get('a')).toBe(oldFencing + 1);
    const taken = two.events.find((e) => e.what === 'start')?.at as number;
    expect(taken - crashed).toBeLessThanOrEqual(TTL);
    expect(await store.renew({ key: 'a', owner: 'one', fencing: oldFencing }, TTL)).toBe(false);
    await two.ha.stopLoop();
  });

  it('an owner that cannot renew stops its route before a standby can take the lease', async () => {
    const store = new MemoryLeases();
    const one = coordinator(store, 'one', ['a']);
    await one.ha.start();
    const two = coordinator(store, 'two', ['a']);
    await two.ha.start();
    const cut = Date.now();
    store.unreachable.add('one'); // one's store connection is cut: no renewals
    await vi.advanceTimersByTimeAsync(2 * TTL);
    const stopped = one.events.find((e) => e.what === 'stop')?.at as number;
    const taken = two.events.find((e) => e.what === 'start')?.at as number;
    // The lease lasts 2/3 of the TTL; the owner stops at the first renewal past 2/3 of that, and
    // the standby takes over once the lease has expired, within the TTL.
    const lease = (TTL * 2) / 3;
    expect(stopped - cut).toBeLessThan(lease);
    expect(taken).toBeGreaterThan(stopped);
    expect(taken - cut).toBeGreaterThanOrEqual(lease);
    expect(taken - cut).toBeLessThanOrEqual(TTL);
    await one.ha.stopLoop();
    await two.ha.stopLoop();
  });
});
