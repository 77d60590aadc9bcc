/**
 * One contract, every replay store, real servers: file, Redis, PostgreSQL, Kafka.
 * Under CI=true the services must exist (the global setup fails otherwise); locally missing ones skip.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileReplayStore } from '../../src/replay/file/file-store.js';
import { KafkaReplayStore } from '../../src/replay/kafka/kafka-store.js';
import { FencedError, type LeaseStore } from '../../src/replay/lease.js';
import { PostgresReplayStore } from '../../src/replay/postgres/postgres-store.js';
import { RedisReplayStore } from '../../src/replay/redis/redis-store.js';
import type { ReplayStore } from '../../src/replay/types.js';
import { service } from '../helpers/services.js';

const redis = service('redis');
const postgres = service('postgres');
const kafka = service('kafka');

type Factory = (ns: string) => ReplayStore;

const stores: Array<[string, Factory | null, string | null, (() => ReplayStore) | null]> = [
  ['file', (ns) => new FileReplayStore({ type: 'file', path: join('/tmp', `sfbridge-contract-${ns}.json`), fsync: true }), null, null],
  [
    'redis',
    redis.url ? (ns) => new RedisReplayStore({ type: 'redis', url: redis.url as string, namespace: ns, keyPrefix: 'sfbridge-test' }) : null,
    redis.reason,
    () => new RedisReplayStore({ type: 'redis', url: 'redis://127.0.0.1:1', namespace: 'x', keyPrefix: 'x' }),
  ],
  [
    'postgres',
    postgres.url
      ? (ns) => new PostgresReplayStore({ type: 'postgres', url: postgres.url as string, namespace: ns, tablePrefix: 'sfbridge_test' })
      : null,
    postgres.reason,
    () => new PostgresReplayStore({ type: 'postgres', url: 'postgres://nobody@127.0.0.1:1/none', namespace: 'x', tablePrefix: 'x' }),
  ],
  [
    'kafka',
    kafka.url
      ? (ns) =>
          new KafkaReplayStore({
            type: 'kafka',
            brokers: (kafka.url as string).split(','),
            topic: 'sfbridge-test-replay',
            namespace: ns,
            clientId: 'sfbridge-test',
            ssl: false,
          })
      : null,
    kafka.reason,
    () => new KafkaReplayStore({ type: 'kafka', brokers: ['127.0.0.1:1'], topic: 't', namespace: 'x', clientId: 'x', ssl: false }),
  ],
];

for (const [name, make, reason, unreachable] of stores) {
  describe.skipIf(!make)(`replay store contract: ${name} ${reason ?? ''}`, () => {
    const factory = make as Factory;

    it('commits, loads, lists and deletes positions with their metadata, durably across instances', async () => {
      const ns = randomUUID();
      const a = factory(ns);
      await a.open();
      expect(await a.list()).toEqual([]);
      expect(await a.load('k1')).toBeUndefined();
      const c1 = await a.commit('k1', { replayId: 'AAAAAAAPQkE=', eventTime: '2026-11-28T10:00:00.000Z' });
      expect(Number.isNaN(Date.parse(c1.committedAt))).toBe(false);
      await a.commit('k2', { replayId: '12345', eventTime: null });
      await a.commit('k1', { replayId: 'AAAAAAAPQkI=', eventTime: '2026-11-28T10:00:01.000Z' });
      await a.close();
      const b = factory(ns);
      await b.open();
      expect(await b.load('k1')).toMatchObject({ key: 'k1', replayId: 'AAAAAAAPQkI=', eventTime: '2026-11-28T10:00:01.000Z' });
      expect((await b.list()).map((p) => [p.key, p.replayId, p.eventTime])).toEqual([
        ['k1', 'AAAAAAAPQkI=', '2026-11-28T10:00:01.000Z'],
        ['k2', '12345', null],
      ]);
      expect(await b.delete('k2')).toBe(true);
      await b.close();
      const c = factory(ns);
      await c.open();
      expect((await c.list()).map((p) => p.key)).toEqual(['k1']);
      await c.close();
    });

    it('keeps every key under concurrent commits, last write per key wins, namespaces stay apart', async () => {
      const ns = randomUUID();
      const s = factory(ns);
      await s.open();
      await Promise.all(Array.from({ length: 20 }, (_, i) => s.commit(`key-${i}`, { replayId: String(i), eventTime: null })));
      for (let i = 0; i < 10; i++) await s.commit('same', { replayId: `v${i}`, eventTime: null });
      await s.close();
      const t = factory(ns);
      await t.open();
      const all = await t.list();
      expect(all).toHaveLength(21);
      expect(all.find((p) => p.key === 'same')?.replayId).toBe('v9');
      await t.close();
      const other = factory(randomUUID());
      await other.open();
      expect(await other.list()).toEqual([]);
      await other.close();
    });

    if (unreachable)
      it('refuses to start on an unreachable store with a clear error', async () => {
        const s = (unreachable as () => ReplayStore)();
        const err = await s.open().catch((e) => e);
        expect(err.code).toBe('REPLAY_STORE_UNAVAILABLE');
        expect(err.message).toContain(s.describe());
        expect(err.message).toMatch(/unreachable/);
      });

    if (name === 'redis' || name === 'postgres')
      it('hands out leases with fencing: a stale owner cannot commit', async () => {
        const ns = randomUUID();
        const s = factory(ns) as ReplayStore & LeaseStore;
        await s.open();
        const a = await s.acquire('sub', 'instance-a', 300);
        expect(a).not.toBeNull();
        expect(await s.acquire('sub', 'instance-b', 300)).toBeNull();
        expect(await s.renew(a!, 300)).toBe(true);
        await s.commit('sub', { replayId: '1', eventTime: null }, a!);
        await new Promise((r) => setTimeout(r, 450));
        const b = await s.acquire('sub', 'instance-b', 5000);
        expect(b).not.toBeNull();
        expect(b!.fencing).toBeGreaterThan(a!.fencing);
        expect(await s.renew(a!, 300)).toBe(false);
        const err = await s.commit('sub', { replayId: '2', eventTime: null }, a!).catch((e) => e);
        expect(err).toBeInstanceOf(FencedError);
        expect(err.retriable).toBe(false);
        await s.commit('sub', { replayId: '3', eventTime: null }, b!);
        expect((await s.load('sub'))?.replayId).toBe('3');
        expect(await s.heartbeat('instance-a', 5000)).toBeGreaterThanOrEqual(1);
        await s.release(b!);
        expect(await s.acquire('sub', 'instance-a', 300)).not.toBeNull();
        await s.close();
      });
  });
}
