/**
 * One poisoned route among three (issue 20): the others deliver every event, liveness stays
 * green, the poisoned route is visible as failed with its next restart, and it heals by itself
 * once the fault is removed (supervised restart from its last committed position).
 */

import { writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startHealthServer } from '../../src/pipeline/health.js';
import { makeBridge, readSink } from '../helpers/bridge.js';
import { runCli } from '../helpers/cli.js';
import type { TestEmulator } from '../helpers/emulator.js';
import { emulatorAndReceiver } from '../helpers/emulator-receiver.js';
import { until } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';

const SECRET = `whsec_${Buffer.from('supervision-secret-0123456789').toString('base64')}`;
const pubsub = (name: string, topic: string, sinks: unknown[], initial = 'latest') => ({
  name,
  source: { type: 'pubsub', org: 'emu', topic, initial },
  sinks,
});

describe('route supervision', () => {
  let t: TestEmulator;
  const receiver = emulatorAndReceiver(SECRET, (e) => {
    t = e;
  });

  it('a failed route does not stop the others or liveness, shows its restart, and heals once the cause is gone', async () => {
    const dir = tempDir();
    const outA = join(dir, 'a');
    const outB = join(dir, 'b');
    let gone = true;
    receiver.respond = () => (gone ? { status: 410 } : { status: 200 });
    const a = makeBridge(
      t,
      dir,
      [
        pubsub('accounts', '/data/AccountChangeEvent', [{ type: 'file', dir: outA }]),
        pubsub('contacts', '/data/ContactChangeEvent', [{ type: 'file', dir: outB }]),
        // earliest: the route fails before its first commit (a restart at `latest` would start after the events).
        pubsub('orders', '/event/Order_Event__e', [{ type: 'webhook', url: receiver.url, secrets: [SECRET] }], 'earliest'),
      ],
      { routeRestart: { initial: 300, max: 2000 } },
    );
    await a.bridge.start();
    let health: Server | null = null;
    try {
      health = await startHealthServer('127.0.0.1', 0, {
        status: () => a.bridge.status(),
        routes: { pause: (k, on) => a.bridge.pause(k, on), restart: (k) => a.bridge.restart(k) },
        metrics: a.bridge.metrics,
      });
      const addr = health.address() as { port: number };
      const get = async (path: string, method = 'GET') => {
        const r = await fetch(`http://127.0.0.1:${addr.port}${path}`, { method });
        return { status: r.status, text: await r.text() };
      };
      await t.subscribed('/event/Order_Event__e');
      await t.subscribed('/data/AccountChangeEvent');
      await t.subscribed('/data/ContactChangeEvent');
      await t.admin('events/emit', { spec: 'platform:Order_Event__e', count: 3 });
      const orders = () => a.bridge.status().routes.find((r) => r.key === 'orders');
      // Failed, and its restart scheduled (the supervisor hears of the failure just after the route's state changes).
      await until(() => orders()?.state === 'failed' && !!orders()?.restart?.nextRestartAt, 15_000, 'the poisoned route to fail');
      expect(orders()?.restart?.lastFailure).toMatch(/410/);
      // The healthy routes deliver every event meanwhile; liveness stays 200, readiness names the failed route.
      await t.admin('events/emit', { spec: 'cdc:Account', count: 200 });
      await t.admin('events/emit', { spec: 'cdc:Contact', count: 200 });
      await until(() => readSink(outA).length >= 200 && readSink(outB).length >= 200, 20_000, 'the healthy routes');
      expect((await get('/healthz')).status).toBe(200);
      // The route restarts every 0.3–2 s and fails again at once: readiness is 503 whenever it is
      // down, naming it as failed (between a restart and its stream opening it is "not subscribed").
      let ready = await get('/readyz');
      const named = () => ready.status === 503 && /orders: failed/.test(ready.text);
      for (const start = Date.now(); !named() && Date.now() - start < 10_000; ready = await get('/readyz'))
        await new Promise((r) => setTimeout(r, 20));
      expect(ready.status).toBe(503);
      expect(ready.text).toMatch(/orders: failed/);
      expect((await get('/routes/nope/restart', 'POST')).status).toBe(404);
      // The receiver is fixed: the route heals by itself and delivers what it had not.
      gone = false;
      await until(() => receiver.delivered.length >= 3, 20_000, 'the healed route to deliver');
      await until(() => orders()?.state === 'running', 10_000, 'the healed route to run');
      expect(orders()?.restart?.restarts).toBeGreaterThanOrEqual(1);
      expect((await get('/readyz')).status).toBe(200);
      expect(readSink(outA)).toHaveLength(200);
      expect(readSink(outB)).toHaveLength(200);
    } finally {
      health?.close();
      await a.bridge.stop();
    }
  });

  it('sfbridge route restart NAME restarts a failed route now instead of at its next scheduled attempt', async () => {
    const dir = tempDir();
    let gone = true;
    receiver.respond = () => (gone ? { status: 410 } : { status: 200 });
    const before = receiver.delivered.length;
    const a = makeBridge(
      t,
      dir,
      [pubsub('later', '/event/Order_Event__e', [{ type: 'webhook', url: receiver.url, secrets: [SECRET] }], 'earliest')],
      {
        routeRestart: { initial: '10m', max: '1h' },
      },
    );
    await a.bridge.start();
    const health = await startHealthServer('127.0.0.1', 0, {
      status: () => a.bridge.status(),
      routes: { pause: (k, on) => a.bridge.pause(k, on), restart: (k) => a.bridge.restart(k) },
      metrics: a.bridge.metrics,
    });
    try {
      const port = (health.address() as { port: number }).port;
      const cfg = join(dir, 'cli.json');
      writeFileSync(
        cfg,
        JSON.stringify({
          health: { host: '127.0.0.1', port },
          routes: [{ name: 'x', source: { type: 'file', path: join(dir, 'in.ndjson') }, sinks: [{ type: 'file', dir: join(dir, 'x') }] }],
        }),
      );
      await t.admin('events/emit', { spec: 'platform:Order_Event__e', count: 2 });
      const later = () => a.bridge.status().routes[0];
      await until(() => later()?.state === 'failed' && !!later()?.restart?.nextRestartAt, 15_000, 'the route to fail');
      expect(Date.parse(later()?.restart?.nextRestartAt ?? '') - Date.now()).toBeGreaterThan(60_000);
      const unknown = await runCli(['route', 'restart', 'nope', '-c', cfg]);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/route nope: no route named nope/);
      gone = false;
      const r = await runCli(['route', 'restart', 'later', '-c', cfg]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/route later: restarting/);
      await until(() => later()?.state === 'running' && receiver.delivered.length >= before + 2, 20_000, 'the restarted route to deliver');
      expect(later()?.restart?.restarts).toBe(1);
    } finally {
      health.close();
      await a.bridge.stop();
    }
  });
});
