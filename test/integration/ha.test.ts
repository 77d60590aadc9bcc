/**
 * Two bridge processes, one config, a shared Redis or PostgreSQL replay store with HA leases:
 * kill -9 the owner mid-stream and the standby takes over within the lease TTL with nothing lost;
 * freeze an owner past its TTL and, once thawed, it writes nothing more (fencing).
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { ApiRoutes } from '../../src/pipeline/api-routes.js';
import { configSchema } from '../../src/registry.js';
import { emulatorOrg, makeBridge } from '../helpers/bridge.js';
import { startCli } from '../helpers/cli.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { service } from '../helpers/services.js';
import { tempDir } from '../helpers/tmp.js';

const redis = service('redis');
const postgres = service('postgres');
const TTL = 2000;

function lines(dir: string): any[] {
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.ndjson'));
  } catch {
    return [];
  }
  return names.flatMap((f) => {
    const text = readFileSync(join(dir, f), 'utf8');
    return text
      .slice(0, text.lastIndexOf('\n') + 1)
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  });
}

const backends: Array<[string, string | null, string | null, (ns: string) => string]> = [
  ['redis', redis.url, redis.reason, (ns) => `{ type: redis, url: "${redis.url}", namespace: ${ns}, keyPrefix: sfbridge-ha-test }`],
  [
    'postgres',
    postgres.url,
    postgres.reason,
    (ns) => `{ type: postgres, url: "${postgres.url}", namespace: ${ns}, tablePrefix: sfbridge_ha_test }`,
  ],
];

for (const [name, url, reason, storeYaml] of backends) {
  describe.skipIf(!url)(`HA on ${name} ${reason ?? ''}`, () => {
    let t: TestEmulator;
    beforeAll(async () => {
      t = await startEmulator();
    });
    afterAll(async () => t?.stop());

    function config(dir: string, channel: string): string {
      const org = emulatorOrg(t);
      const path = join(dir, 'bridge.yaml');
      writeFileSync(
        path,
        `orgs:
  emu:
    loginUrl: ${org.loginUrl}
    caCertFile: ${org.caCertFile}
    pubsubEndpoint: ${org.pubsubEndpoint}
    auth: { flow: client_credentials, clientId: ${t.emu.info.clientId}, clientSecret: ${t.emu.info.clientSecret} }
replayStore: ${storeYaml(`ns-${randomUUID()}`)}
ha: { enabled: true, leaseTtlMs: ${TTL} }
pipeline: { commitIntervalMs: 50, maxInFlight: 200, maxBatchEvents: 50 }
routes:
  - name: accounts
    source: { type: pubsub, org: emu, topic: ${channel}, initial: earliest }
    sinks: [{ type: file, dir: "\${SINK_DIR}" }]
`,
      );
      return path;
    }

    it('a standby takes over within the lease TTL after kill -9 of the owner; every event arrives', async () => {
      const dir = tempDir();
      const ch = '/data/ContactChangeEvent';
      await t.admin('throttle', { eventsPerSecond: 2000 });
      try {
        const emitted = await t.admin('events/emit', { spec: 'cdc:Contact', count: 6000 });
        const cfg = config(dir, ch);
        const outA = join(dir, 'a');
        const outB = join(dir, 'b');
        const a = startCli(['run', '-c', cfg], { env: { SINK_DIR: outA, SFBRIDGE_LOG_LEVEL: 'warn' } });
        await until(() => lines(outA).length > 500, 20_000, 'owner A delivering');
        const b = startCli(['run', '-c', cfg], { env: { SINK_DIR: outB, SFBRIDGE_LOG_LEVEL: 'warn' } });
        await new Promise((r) => setTimeout(r, 1000));
        expect(lines(outB)).toHaveLength(0); // standby while A owns the lease
        a.child.kill('SIGKILL');
        const killedAt = Date.now();
        await until(() => lines(outB).length > 0, TTL * 4, 'standby B takes over');
        const takeoverMs = Date.now() - killedAt;
        expect(takeoverMs).toBeLessThan(TTL + TTL / 3 + 1500);
        await until(() => new Set([...lines(outA), ...lines(outB)].map((e) => e.replayId)).size >= 6000, 30_000, 'all events');
        b.child.kill('SIGTERM');
        expect((await b.result).code).toBe(0);
        await a.result;
        const ledger = (await t.ledger(ch)).filter((l) => l.replayId >= emitted.firstReplayId);
        const seen = new Set([...lines(outA), ...lines(outB)].map((e) => e.replayId));
        expect(ledger.filter((l) => !seen.has(l.replayIdBase64))).toEqual([]);
        console.log(`HA ${name}: takeover after ${takeoverMs} ms; A wrote ${lines(outA).length}, B wrote ${lines(outB).length}`);
      } finally {
        await t.admin('throttle', { eventsPerSecond: 0 });
      }
    }, 90_000);

    it('an owner frozen past its TTL writes nothing after the takeover (fencing)', async () => {
      const dir = tempDir();
      const ch = '/data/CaseChangeEvent';
      await t.admin('throttle', { eventsPerSecond: 1000 });
      try {
        await t.admin('events/emit', { spec: 'cdc:Case', count: 4000 });
        const cfg = config(dir, ch);
        const outA = join(dir, 'a');
        const outB = join(dir, 'b');
        const a = startCli(['run', '-c', cfg], { env: { SINK_DIR: outA, SFBRIDGE_LOG_LEVEL: 'warn' } });
        await until(() => lines(outA).length > 300, 20_000, 'owner A delivering');
        const b = startCli(['run', '-c', cfg], { env: { SINK_DIR: outB, SFBRIDGE_LOG_LEVEL: 'warn' } });
        await new Promise((r) => setTimeout(r, 500));
        a.child.kill('SIGSTOP');
        const frozenCount = lines(outA).length;
        await until(() => lines(outB).length > 0, TTL * 4, 'B takes over');
        a.child.kill('SIGCONT');
        await new Promise((r) => setTimeout(r, TTL));
        // A write A had already handed to the OS before the freeze may still land (at most one
        // batch of maxBatchEvents); no new write starts after the takeover.
        const afterThaw = lines(outA).length;
        expect(afterThaw - frozenCount).toBeLessThanOrEqual(50);
        await until(() => new Set([...lines(outA), ...lines(outB)].map((e) => e.replayId)).size >= 4000, 30_000, 'all events');
        expect(lines(outA).length).toBe(afterThaw);
        a.child.kill('SIGTERM');
        b.child.kill('SIGTERM');
        await Promise.all([a.result, b.result]);
      } finally {
        await t.admin('throttle', { eventsPerSecond: 0 });
      }
    }, 90_000);

    // Issue 28: one route-failure path. A route that fails under its lease keeps the lease and is
    // restarted by the supervisor with routeRestart back-off, as without HA; it does not hop.
    it('a route whose sink fails permanently is restarted with back-off under its lease, next attempt in /status', async () => {
      const gone = createServer((req, res) => {
        req.resume();
        req.on('end', () => res.writeHead(410).end('gone'));
      });
      await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
      const hook = `http://127.0.0.1:${(gone.address() as AddressInfo).port}/hook`;
      const ns = `ns-${randomUUID()}`;
      const store = name === 'redis' ? { type: 'redis', url, namespace: ns } : { type: 'postgres', url, namespace: ns };
      const routes = [
        {
          name: 'orders',
          source: { type: 'pubsub', org: 'emu', topic: '/event/Order_Event__e', initial: 'earliest' },
          sinks: [{ type: 'webhook', url: hook, secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'] }],
        },
      ];
      const extra = { replayStore: store, ha: { enabled: true, leaseTtlMs: TTL }, routeRestart: { initial: '1s', max: '8s' } };
      const dirs = [tempDir(), tempDir()];
      const [a, b] = dirs.map((d) => makeBridge(t, d, routes, extra));
      try {
        await t.admin('events/emit', { spec: 'platform:Order_Event__e', count: 3 });
        await a?.bridge.start();
        await b?.bridge.start();
        const owner = () => [a, b].find((x) => x?.bridge.status().routes[0]?.state !== 'standby');
        const restartOf = () => owner()?.bridge.status().routes[0]?.restart;
        await until(() => (restartOf()?.restarts ?? 0) >= 2, 20_000, 'two supervised restarts');
        const first = owner();
        const failed = () => first?.bridge.status().routes[0];
        await until(() => failed()?.state === 'failed' && !!failed()?.restart?.nextRestartAt, 10_000, 'failed, waiting for a restart');
        const st = failed();
        expect(st?.state).toBe('failed');
        expect(st?.error).toMatch(/410 Gone/);
        expect(st?.restart?.nextRestartAt).not.toBeNull();
        // Back-off doubles (1 s, 2 s, 4 s…): the next attempt is at least 2 s out after the second restart failed.
        await until(() => Date.parse(restartOf()?.nextRestartAt ?? '') - Date.now() > 1500, 10_000, 'a doubled back-off');
        // The lease stayed with the instance that owns the failing route.
        expect(owner()).toBe(first);
        expect([a, b].filter((x) => x?.bridge.status().routes[0]?.state === 'standby')).toHaveLength(1);
      } finally {
        await Promise.all([a?.bridge.stop(0), b?.bridge.stop(0)]);
        gone.close();
      }
    }, 60_000);

    it('a reload on every instance changes the route set; leases follow it', async () => {
      const ns = `ns-${randomUUID()}`;
      const store = name === 'redis' ? { type: 'redis', url, namespace: ns } : { type: 'postgres', url, namespace: ns };
      const route = (key: string, topic: string, dir: string) => ({
        name: key,
        source: { type: 'pubsub', org: 'emu', topic, initial: 'earliest' },
        sinks: [{ type: 'file', dir: join(dir, key) }],
      });
      const out = tempDir();
      const before = [route('acc', '/data/AccountChangeEvent', out), route('con', '/data/ContactChangeEvent', out)];
      const extra = { replayStore: store, ha: { enabled: true, leaseTtlMs: TTL } };
      const [a, b] = [tempDir(), tempDir()].map((d) => makeBridge(t, d, before, extra, 'warn'));
      try {
        await a?.bridge.start();
        await b?.bridge.start();
        const running = (key: string) =>
          [a, b].filter((x) => x?.bridge.status().routes.find((r) => r.key === key && r.state === 'running')).length;
        await until(() => running('acc') === 1 && running('con') === 1, 20_000, 'each route on one instance');
        // The same new file on both: con removed, cas added.
        const after = [before[0], route('cas', '/data/CaseChangeEvent', out)];
        for (const x of [a, b]) {
          const next = configSchema.parse({ ...JSON.parse(JSON.stringify(x?.config)), routes: after });
          const plan = await x?.bridge.reload(next);
          expect(plan).toMatchObject({ added: ['cas'], removed: ['con'], changed: [] });
        }
        await until(() => running('cas') === 1, 20_000, 'the added route taken by one instance');
        expect(running('acc')).toBe(1);
        expect(running('con')).toBe(0);
        for (const x of [a, b])
          expect(
            x?.bridge
              .status()
              .routes.map((r) => r.key)
              .sort(),
          ).toEqual(['acc', 'cas']);
        await t.admin('events/emit', { spec: 'cdc:Case', count: 10 });
        await until(() => lines(join(out, 'cas')).length >= 10, 20_000, 'the added route delivers');
      } finally {
        await Promise.all([a?.bridge.stop(0), b?.bridge.stop(0)]);
      }
    }, 60_000);

    it('a route added through the route API on one instance runs on one of them; deleted, it stops on both', async () => {
      const ns = `ns-${randomUUID()}`;
      const store = name === 'redis' ? { type: 'redis', url, namespace: ns } : { type: 'postgres', url, namespace: ns };
      const out = tempDir();
      const fileRoute = {
        name: 'acc',
        source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent', initial: 'earliest' },
        sinks: [{ type: 'file', dir: join(out, 'acc') }],
      };
      const extra = { replayStore: store, ha: { enabled: true, leaseTtlMs: TTL }, health: { port: 0, routesApi: 'writable' } };
      const [a, b] = [tempDir(), tempDir()].map((d) => makeBridge(t, d, [fileRoute], extra, 'warn'));
      const api = [a, b].map((x) => x && new ApiRoutes(x.config, x.bridge, silentLogger()));
      try {
        for (const [i, x] of [a, b].entries()) {
          await x?.bridge.start();
          await api[i]?.start(TTL / 3);
        }
        const running = (key: string) =>
          [a, b].filter((x) => x?.bridge.status().routes.find((r) => r.key === key && r.state === 'running')).length;
        const known = (key: string) => [a, b].filter((x) => x?.bridge.status().routes.some((r) => r.key === key)).length;
        const cases = { source: { type: 'pubsub', org: 'emu', topic: '/data/CaseChangeEvent', initial: 'earliest' } };
        const put = await api[0]?.put('cas', { ...cases, sinks: [{ type: 'file', dir: join(out, 'cas') }] });
        expect(put).toEqual({ status: 201, message: 'route "cas" created' });
        // The other instance reads it from the store at its next look (every TTL/3 here).
        await until(() => known('cas') === 2 && running('cas') === 1, 20_000, 'the API route on both, running on one');
        expect(running('acc')).toBe(1);
        await t.admin('events/emit', { spec: 'cdc:Case', count: 10 });
        await until(() => lines(join(out, 'cas')).length >= 10, 20_000, 'the API route delivers');
        expect(await api[1]?.remove('cas')).toEqual({ status: 200, message: 'route "cas" deleted; its position stays stored' });
        await until(() => known('cas') === 0, 20_000, 'the deleted route gone from both');
        expect(running('acc')).toBe(1);
      } finally {
        for (const x of api) x?.stop();
        await Promise.all([a?.bridge.stop(0), b?.bridge.stop(0)]);
      }
    }, 60_000);
  });
}
