/**
 * The writable route API (`health.routesApi: writable`): PUT /routes/<name> adds and replaces a
 * route, DELETE removes it; API routes are kept in the replay store, so a restart of `sfbridge run`
 * starts them again; bad requests change nothing and get one clear error; a request that is not
 * authorised is refused before its body is read. Through the real CLI and the emulator.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleRouteApi } from '../../src/pipeline/route-api.js';
import { emulatorOrg, readSink } from '../helpers/bridge.js';
import { runCli, startCli } from '../helpers/cli.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until, untilAsync } from '../helpers/fakes.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';

const TOKEN = 'route-api-write-token-0123';

describe('route API: PUT and DELETE', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  it('adds, replaces and deletes routes; a restart keeps API routes; bad requests change nothing', async () => {
    const dir = tempDir();
    const port = await freePort();
    const cfg = join(dir, 'bridge.json');
    const config = (routesApi: string) => ({
      orgs: { emu: emulatorOrg(t) },
      replayStore: { type: 'file', path: join(dir, 'replay.json') },
      deadLetter: { type: 'file', dir: join(dir, 'dead-letters') },
      pipeline: { commitIntervalMs: 50 },
      health: { host: '127.0.0.1', port, token: TOKEN, routesApi },
      routes: [
        {
          name: 'from-file',
          source: { type: 'pubsub', org: 'emu', topic: '/data/ContactChangeEvent', initial: 'earliest' },
          sinks: [{ type: 'file', dir: join(dir, 'contacts') }],
        },
      ],
    });
    writeFileSync(cfg, JSON.stringify(config('writable')));
    const base = `http://127.0.0.1:${port}/routes`;
    const put = (name: string, body: string) =>
      fetch(`${base}/${name}`, { method: 'PUT', body, headers: { 'content-type': 'application/json' } }).then(async (r) => ({
        status: r.status,
        text: await r.text(),
      }));
    const list = async () => (await (await fetch(base)).json()) as Array<{ key: string; origin: string; state: string }>;
    const start = async () => {
      const b = startCli(['run', '-c', cfg]);
      await untilAsync(async () => (await fetch(`${base}`).catch(() => null))?.ok === true, 20_000, 'the health listener');
      return b;
    };
    const accounts = join(dir, 'accounts');
    const route = {
      source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent', initial: 'earliest' },
      sinks: [{ type: 'file', dir: accounts }],
    };

    let b = await start();
    try {
      // Added: it runs and delivers.
      expect(await put('accounts', JSON.stringify(route))).toEqual({ status: 201, text: 'route "accounts" created\n' });
      await t.admin('events/emit', { spec: 'cdc:Account', count: 20 });
      await until(() => readSink(accounts).length >= 20, 30_000, 'the API route delivers');
      expect((await list()).map((r) => [r.key, r.origin]).sort()).toEqual([
        ['accounts', 'route-api'],
        ['from-file', 'config'],
      ]);

      // Refused, each with one clear line, and nothing changes.
      const before = JSON.stringify((await list()).map((r) => r.key));
      expect(await put('from-file', JSON.stringify(route))).toEqual({
        status: 409,
        text: 'route "from-file" is defined in the config file; change it there\n',
      });
      const notJson = await put('x', '{"source": ');
      expect(notJson.status).toBe(400);
      expect(notJson.text).toMatch(/^the body is not JSON \(.*\); send the route as a JSON object\n$/);
      const badSink = await put('x', JSON.stringify({ ...route, sinks: [{ type: 'carrier-pigeon' }] }));
      expect(badSink.status).toBe(400);
      expect(badSink.text).toMatch(/^route "x": sinks\[0\]\.type: .*carrier-pigeon/);
      const badOrg = await put('x', JSON.stringify({ ...route, source: { ...route.source, org: 'nope' } }));
      expect(badOrg).toEqual({ status: 400, text: 'route "x".source.org: unknown org "nope"; defined orgs: emu\n' });
      const fileRef = await put('x', JSON.stringify({ ...route, sinks: [{ type: 'file', dir: '${file:/etc/hostname}' }] }));
      expect(fileRef.status).toBe(400);
      expect(fileRef.text).toContain('${file:…} is not taken from the route API');
      const huge = await put('x', JSON.stringify({ ...route, description: 'x'.repeat(1024 * 1024) }));
      expect(huge).toEqual({ status: 413, text: 'a route is at most 1048576 bytes\n' });
      expect(JSON.stringify((await list()).map((r) => r.key))).toBe(before);

      // Replaced through the CLI, from a YAML file: the route moves to its new sink.
      const moved = join(dir, 'accounts-2');
      const routeFile = join(dir, 'route.yaml');
      writeFileSync(
        routeFile,
        `source: { type: pubsub, org: emu, topic: /data/AccountChangeEvent, initial: earliest }\nsinks:\n  - { type: file, dir: ${moved} }\n`,
      );
      const replaced = await runCli(['route', 'put', 'accounts', '--route', routeFile, '-c', cfg]);
      expect(replaced.code, replaced.stderr).toBe(0);
      expect(replaced.stdout).toBe('route "accounts" replaced\n');
      await t.admin('events/emit', { spec: 'cdc:Account', count: 5 });
      await until(() => readSink(moved).length >= 5, 30_000, 'the replaced route delivers into its new sink');
    } finally {
      b.child.kill('SIGTERM');
      await b.result;
    }

    // With no bridge running, `sfbridge status` reads the store: the API route is listed.
    const offline = await runCli(['status', '-c', cfg]);
    expect(offline.stdout).toMatch(/^accounts\s+not running/m);
    expect(offline.stdout).toMatch(/^from-file\s+not running/m);

    // A restart keeps the API route: it resumes from its position (no event twice).
    const beforeRestart = readSink(accounts).length + readSink(join(dir, 'accounts-2')).length;
    expect(beforeRestart).toBe(25);
    b = await start();
    try {
      await untilAsync(
        async () => (await list()).some((r) => r.key === 'accounts' && r.state === 'running'),
        20_000,
        'the API route again',
      );
      await t.admin('events/emit', { spec: 'cdc:Account', count: 7 });
      await until(() => readSink(join(dir, 'accounts-2')).length >= 12, 30_000, 'events after the restart');
      const ids = [...readSink(accounts), ...readSink(join(dir, 'accounts-2'))].map((e) => e.replayId);
      expect(new Set(ids).size).toBe(32);

      // Deleted: it drains and stops; its position stays stored.
      const deleted = await runCli(['route', 'delete', 'accounts', '-c', cfg]);
      expect(deleted.stdout).toBe('route "accounts" deleted; its position stays stored\n');
      expect((await list()).map((r) => r.key)).toEqual(['from-file']);
      expect((await fetch(`${base}/accounts`, { method: 'DELETE' })).status).toBe(404);
      expect((await fetch(`${base}/from-file`, { method: 'DELETE' })).status).toBe(409);
      const stored = JSON.parse(readFileSync(join(dir, 'replay.json'), 'utf8'));
      expect(JSON.stringify(stored)).toContain('"accounts"');
    } finally {
      b.child.kill('SIGTERM');
      await b.result;
    }

    // A file without routes: the daemon serves the API (it does not exit with nothing to run).
    writeFileSync(cfg, JSON.stringify({ ...config('writable'), routes: [] }));
    b = await start();
    try {
      expect(await list()).toEqual([]);
      const leads = join(dir, 'leads');
      const lead = { source: { type: 'pubsub', org: 'emu', topic: '/data/LeadChangeEvent', initial: 'earliest' } };
      expect((await put('leads', JSON.stringify({ ...lead, sinks: [{ type: 'file', dir: leads }] }))).status).toBe(201);
      await t.admin('events/emit', { spec: 'cdc:Lead', count: 3 });
      await until(() => readSink(leads).length >= 3, 30_000, 'the only route, made through the API');
      expect((await fetch(`${base}/leads`, { method: 'DELETE' })).status).toBe(200);
      expect(await list()).toEqual([]);
      expect(b.child.exitCode).toBeNull();
    } finally {
      b.child.kill('SIGTERM');
      await b.result;
    }

    // Gone after a restart too; and read-only (the default) refuses writes.
    writeFileSync(cfg, JSON.stringify(config('read-only')));
    b = await start();
    try {
      expect((await list()).map((r) => r.key)).toEqual(['from-file']);
      const ro = await put('accounts', JSON.stringify(route));
      expect(ro).toEqual({
        status: 405,
        text: 'the route API is read-only here; set health.routesApi: writable to add and remove routes through it\n',
      });
    } finally {
      b.child.kill('SIGTERM');
      await b.result;
    }
  });

  it('refuses a PUT that is not authorised before reading its body', () => {
    let read = false;
    const req = {
      method: 'PUT',
      socket: { remoteAddress: '10.1.2.3' },
      headers: { authorization: 'Bearer wrong-token-wrong-token' },
      on() {
        read = true;
        return this;
      },
      resume() {
        read = true;
      },
    } as unknown as IncomingMessage;
    let status = 0;
    const res = {
      writeHead(s: number) {
        status = s;
        return this;
      },
      end() {},
    } as unknown as ServerResponse;
    const put = () => {
      throw new Error('must not be called');
    };
    const api = {
      routes: () => [],
      pause: () => true,
      restart: async () => true,
      write: { put, remove: put, names: () => new Set<string>() },
    };
    handleRouteApi(req, res, '/routes/accounts', api, TOKEN);
    expect(status).toBe(401);
    expect(read).toBe(false);
  });
});
