/**
 * The route API on the health listener and `sfbridge route`: list and show routes, pause (no new
 * events requested, the position kept) and resume, restart a running route; changes only from
 * loopback or with the bearer token, refused before anything happens otherwise.
 */
import { writeFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHealthServer } from '../../src/pipeline/health.js';
import { handleRouteApi } from '../../src/pipeline/route-api.js';
import { makeBridge, readSink } from '../helpers/bridge.js';
import { runCli } from '../helpers/cli.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';

const TOKEN = 'route-api-token-0123456789';

describe('route API', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  it('pauses a route (position kept, nothing new requested) and resumes it; lists, shows and restarts; sfbridge route does the same', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const a = makeBridge(
      t,
      dir,
      [
        {
          name: 'acc',
          maxInFlight: 50,
          source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent', initial: 'earliest' },
          sinks: [{ type: 'file', dir: out }],
        },
      ],
      {},
      'warn',
    );
    await a.bridge.start();
    let health: Server | null = null;
    try {
      health = await startHealthServer('127.0.0.1', 0, {
        status: () => a.bridge.status(),
        routes: { pause: (k, on) => a.bridge.pause(k, on), restart: (k) => a.bridge.restart(k) },
        token: TOKEN,
        metrics: a.bridge.metrics,
      });
      const port = (health.address() as { port: number }).port;
      const cfg = join(dir, 'cli.json');
      // The CLI reads only `health` to find the bridge; the route is there to make the file valid.
      writeFileSync(
        cfg,
        JSON.stringify({
          health: { host: '127.0.0.1', port },
          routes: [{ name: 'acc', source: { type: 'file', path: join(dir, 'unused.ndjson') }, sinks: [{ type: 'stdout' }] }],
        }),
      );
      const route = () => a.bridge.status().routes[0];
      await t.admin('events/emit', { spec: 'cdc:Account', count: 30 });
      await until(() => (route()?.eventsCommitted ?? 0) >= 30, 20_000, 'the first events');

      const paused = await runCli(['route', 'pause', 'acc', '-c', cfg]);
      expect(paused.code, paused.stderr).toBe(0);
      expect(paused.stdout).toBe('route acc: paused\n');
      expect(route()?.paused).toBe(true);
      // Paused: at most the credit already granted (50) arrives, and it is committed.
      const at = route()?.eventsReceived ?? 0;
      await t.admin('events/emit', { spec: 'cdc:Account', count: 500 });
      const settled = () => {
        const r = route();
        return !!r && r.inFlight === 0 && r.eventsReceived > at && r.eventsCommitted === r.eventsReceived;
      };
      await until(settled, 20_000, 'the granted events delivered and committed');
      const whilePaused = route()?.eventsReceived ?? 0;
      expect(whilePaused - at).toBeLessThanOrEqual(50);
      const list = await runCli(['route', 'list', '-c', cfg]);
      expect(list.stdout).toMatch(new RegExp(`^acc\\trunning \\(paused\\)\\t${whilePaused} committed\\t\\S+\\n$`));

      const resumed = await runCli(['route', 'resume', 'acc', '-c', cfg]);
      expect(resumed.stdout).toBe('route acc: resumed\n');
      await until(() => (route()?.eventsCommitted ?? 0) >= 530, 20_000, 'every event after resume');
      expect(readSink(out)).toHaveLength(530);

      const show = await fetch(`http://127.0.0.1:${port}/routes/acc`);
      expect(((await show.json()) as { key: string; paused: boolean }).paused).toBe(false);
      expect((await fetch(`http://127.0.0.1:${port}/routes/nope`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${port}/routes/acc/explode`, { method: 'POST' })).status).toBe(400);

      // Restart a running route: it drains, starts again from its position, and goes on.
      const committed = route()?.eventsCommitted ?? 0;
      const restart = await runCli(['route', 'restart', 'acc', '-c', cfg]);
      expect(restart.stdout).toBe('route acc: restarting\n');
      await until(() => route()?.state === 'running' && route()?.eventsCommitted === 0, 20_000, 'the restarted route');
      await t.admin('events/emit', { spec: 'cdc:Account', count: 5 });
      await until(() => (route()?.eventsCommitted ?? 0) >= 5, 20_000, 'events after the restart');
      expect(readSink(out)).toHaveLength(committed + 5);
    } finally {
      health?.close();
      await a.bridge.stop();
    }
  });

  it('takes changes only from loopback or with the bearer token, and checks before acting', () => {
    const calls: string[] = [];
    const api = {
      routes: () => [{ key: 'acc', state: 'running' } as never],
      pause: (k: string, on: boolean) => {
        calls.push(`${k}:${on}`);
        return true;
      },
      restart: async () => true,
    };
    const ask = (remote: string, auth?: string) => {
      const req = {
        method: 'POST',
        socket: { remoteAddress: remote },
        headers: auth ? { authorization: auth } : {},
      } as unknown as IncomingMessage;
      let status = 0;
      let body = '';
      const res = {
        writeHead(s: number) {
          status = s;
          return this;
        },
        end(b: string) {
          body = b;
        },
      } as unknown as ServerResponse;
      handleRouteApi(req, res, '/routes/acc/pause', api, TOKEN);
      return { status, body };
    };
    expect(ask('10.1.2.3')).toEqual({
      status: 401,
      body: 'route changes need a loopback client or Authorization: Bearer <health.token>\n',
    });
    expect(ask('10.1.2.3', 'Bearer wrong-token-wrong-token').status).toBe(401);
    expect(calls).toEqual([]);
    expect(ask('10.1.2.3', `Bearer ${TOKEN}`).status).toBe(200);
    expect(ask('::1').status).toBe(200);
    expect(calls).toEqual(['acc:true', 'acc:true']);
  });
});
