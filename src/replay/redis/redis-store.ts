/**
 * Redis replay store: one hash per namespace (`<prefix>:replay:<namespace>`), field = subscription
 * key, value = JSON position. HSET is atomic per field. With HA leases, commits run as a Lua script
 * that checks the route's fencing token first, so a stale owner can never move a position.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { BridgeError, errorMessage, RetriableError } from '../../errors.js';
import { registerUrlSecrets } from '../../log.js';
import type { Lease, LeaseStore } from '../lease.js';
import { FencedError } from '../lease.js';
import type { CommitRequest, ReplayStore, StoredPosition } from '../types.js';

export const redisStoreConfigSchema = z.strictObject({
  type: z.literal('redis'),
  url: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .refine((u) => URL.canParse(u), 'is not a valid URL (check the host, port and any %-escapes in the password)')
    .default('redis://127.0.0.1:6379'),
  /** Separates bridges that share one Redis. */
  namespace: z.string().min(1).default('default'),
  keyPrefix: z.string().min(1).default('sfbridge'),
});
export type RedisStoreConfig = z.infer<typeof redisStoreConfigSchema>;

// KEYS[1] positions hash, KEYS[2] lease key; ARGV: field, json, fencing ('' = no lease check)
const COMMIT_LUA = `
if ARGV[3] ~= '' then
  local cur = redis.call('HGET', KEYS[2], 'fencing')
  if cur ~= ARGV[3] then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`;

// KEYS[1] lease key; ARGV: owner, ttlMs, fencing-counter key
const ACQUIRE_LUA = `
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] then return nil end
local f = redis.call('HGET', KEYS[1], 'fencing')
if not owner then f = tostring(redis.call('INCR', ARGV[3])) end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'fencing', f)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return f`;

// KEYS[1] lease key; ARGV: owner, fencing, ttlMs
const RENEW_LUA = `
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] and redis.call('HGET', KEYS[1], 'fencing') == ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0`;

const RELEASE_LUA = `
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] and redis.call('HGET', KEYS[1], 'fencing') == ARGV[2] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

export class RedisReplayStore implements ReplayStore, LeaseStore {
  private redis: Redis | null = null;
  private readonly hash: string;

  constructor(private readonly config: RedisStoreConfig) {
    this.hash = `${config.keyPrefix}:replay:${config.namespace}`;
    registerUrlSecrets(config.url);
  }

  describe(): string {
    const u = new URL(this.config.url);
    return `redis ${u.protocol}//${u.host} (namespace ${this.config.namespace})`;
  }

  private get r(): Redis {
    if (!this.redis) throw new BridgeError('REPLAY_STORE_UNAVAILABLE', 'redis store used before open()');
    return this.redis;
  }

  private leaseKey(key: string): string {
    return `${this.config.keyPrefix}:lease:${this.config.namespace}:${key}`;
  }

  async open(): Promise<void> {
    // Loaded here, not at startup: only bridges with a Redis store need the client.
    const { Redis } = await import('ioredis');
    const r = new Redis(this.config.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 2,
      enableOfflineQueue: false,
      connectTimeout: 5000,
      retryStrategy: (n) => Math.min(n * 200, 2000),
    });
    r.on('error', () => undefined); // surfaced through failing commands
    try {
      await r.connect();
      await r.ping();
    } catch (err) {
      r.disconnect();
      throw new BridgeError('REPLAY_STORE_UNAVAILABLE', `replay store ${this.describe()} is unreachable: ${errorMessage(err)}`);
    }
    this.redis = r;
  }

  async load(key: string): Promise<StoredPosition | undefined> {
    const v = await this.call(() => this.r.hget(this.hash, key));
    return v ? parse(key, v) : undefined;
  }

  async list(): Promise<StoredPosition[]> {
    const all = await this.call(() => this.r.hgetall(this.hash));
    return Object.entries(all)
      .map(([k, v]) => parse(k, v))
      .sort((a, b) => a.key.localeCompare(b.key));
  }

  async commit(key: string, position: CommitRequest, lease?: Lease): Promise<StoredPosition> {
    const stored: StoredPosition = { key, ...position, committedAt: new Date().toISOString() };
    const json = JSON.stringify({ replayId: stored.replayId, eventTime: stored.eventTime, committedAt: stored.committedAt });
    const ok = await this.call(() =>
      this.r.eval(COMMIT_LUA, 2, this.hash, this.leaseKey(key), key, json, lease ? String(lease.fencing) : ''),
    );
    if (ok !== 1) throw new FencedError(key, lease);
    return stored;
  }

  async delete(key: string): Promise<boolean> {
    return (await this.call(() => this.r.hdel(this.hash, key))) > 0;
  }

  async close(): Promise<void> {
    this.redis?.disconnect();
    this.redis = null;
  }

  // ---- leases ----

  async acquire(key: string, owner: string, ttlMs: number): Promise<Lease | null> {
    const f = await this.call(() =>
      this.r.eval(ACQUIRE_LUA, 1, this.leaseKey(key), owner, String(ttlMs), `${this.config.keyPrefix}:fencing:${this.config.namespace}`),
    );
    return f === null ? null : { key, owner, fencing: Number(f) };
  }

  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    return (
      (await this.call(() => this.r.eval(RENEW_LUA, 1, this.leaseKey(lease.key), lease.owner, String(lease.fencing), String(ttlMs)))) === 1
    );
  }

  async release(lease: Lease): Promise<void> {
    await this.call(() => this.r.eval(RELEASE_LUA, 1, this.leaseKey(lease.key), lease.owner, String(lease.fencing)));
  }

  async heartbeat(owner: string, ttlMs: number): Promise<number> {
    const key = `${this.config.keyPrefix}:instances:${this.config.namespace}`;
    const now = Date.now();
    await this.call(() => this.r.zadd(key, now, owner));
    await this.call(() => this.r.zremrangebyscore(key, 0, now - ttlMs));
    return this.call(() => this.r.zcard(key));
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new RetriableError('REPLAY_STORE_UNAVAILABLE', `replay store ${this.describe()}: ${errorMessage(err)}`, err);
    }
  }
}

function parse(key: string, v: string): StoredPosition {
  try {
    const o = JSON.parse(v) as { replayId: string; eventTime: string | null; committedAt: string };
    return { key, replayId: o.replayId, eventTime: o.eventTime ?? null, committedAt: o.committedAt };
  } catch {
    throw new BridgeError(
      'REPLAY_STORE_CORRUPT',
      `replay store: the position of "${key}" is not valid JSON; fix it with \`sfbridge replay set\``,
    );
  }
}
