/**
 * Config changes without a restart: Bridge.reload starts added routes, drains and stops removed
 * ones (positions kept), restarts changed ones alone and leaves the rest running; `sfbridge run`
 * reloads on SIGHUP and, with --watch-config, when the file changes, and ignores a file that
 * check refuses (the running config stays).
 */
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/registry.js';
import { emulatorOrg, makeBridge, readSink } from '../helpers/bridge.js';
import { startCli } from '../helpers/cli.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until, untilAsync } from '../helpers/fakes.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';

describe('config reload', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  const pubsub = (name: string, topic: string, dir: string) => ({
    name,
    source: { type: 'pubsub', org: 'emu', topic, initial: 'earliest' },
    sinks: [{ type: 'file', dir }],
  });

  it('starts added routes, stops removed ones (positions kept), restarts changed ones; the others never pause', async () => {
    const dir = tempDir();
    await t.admin('events/emit', { spec: 'cdc:Account', count: 20 });
    await t.admin('events/emit', { spec: 'cdc:Contact', count: 20 });
    await t.admin('events/emit', { spec: 'cdc:Lead', count: 20 });
    const routes = [
      pubsub('keep', '/data/AccountChangeEvent', join(dir, 'keep')),
      pubsub('drop', '/data/ContactChangeEvent', join(dir, 'drop')),
      pubsub('change', '/data/LeadChangeEvent', join(dir, 'lead-a')),
    ];
    const { bridge, config } = makeBridge(t, dir, routes, {}, 'warn');
    await bridge.start();
    try {
      await until(() => bridge.status().routes.every((r) => r.eventsCommitted >= 20), 30_000, 'every route committed');
      const keep = bridge.routes.find((r) => r.key === 'keep');
      const before = bridge.status().config;
      const next = configSchema.parse({
        ...JSON.parse(JSON.stringify(config)),
        routes: [
          routes[0],
          { ...routes[2], sinks: [{ type: 'file', dir: join(dir, 'lead-b') }] },
          pubsub('add', '/data/CaseChangeEvent', join(dir, 'add')),
        ],
      });
      await t.admin('events/emit', { spec: 'cdc:Case', count: 10 });
      const plan = await bridge.reload(next);
      expect(plan).toMatchObject({ added: ['add'], removed: ['drop'], changed: ['change'], needRestart: [] });
      // The untouched route is the same running Route: never stopped, never paused.
      expect(bridge.routes.find((r) => r.key === 'keep')).toBe(keep);
      expect(keep?.status().state).toBe('running');
      expect(
        bridge
          .status()
          .routes.map((r) => r.key)
          .sort(),
      ).toEqual(['add', 'change', 'keep']);
      expect((await bridge.store.load('drop'))?.replayId).toBeTruthy();
      expect(bridge.status().config.hash).not.toBe(before.hash);
      await until(() => readSink(join(dir, 'add')).length >= 10, 30_000, 'the added route delivers');
      // The changed route resumed from its position into its new sink: only new events there.
      await t.admin('events/emit', { spec: 'cdc:Lead', count: 5 });
      await t.admin('events/emit', { spec: 'cdc:Account', count: 5 });
      await until(() => readSink(join(dir, 'lead-b')).length >= 5, 30_000, 'the changed route delivers to its new sink');
      expect(readSink(join(dir, 'lead-b'))).toHaveLength(5);
      await until(() => readSink(join(dir, 'keep')).length >= 25, 30_000, 'the untouched route goes on');
      expect(readSink(join(dir, 'drop'))).toHaveLength(20);
    } finally {
      await bridge.stop();
    }
  });

  it('20 routes, SIGHUP adds 5, removes 3, changes 1: the untouched ones never stop, their sinks see no gap and no duplicate', async () => {
    const dir = tempDir();
    const port = await freePort();
    const file = join(dir, 'sfbridge.yaml');
    const r = (i: number, sub = 'a') => pubsub(`r${i}`, '/data/ContactChangeEvent', join(dir, `r${i}-${sub}`));
    const base = {
      orgs: { emu: emulatorOrg(t) },
      replayStore: { type: 'file', path: join(dir, 'replay.json') },
      health: { host: '127.0.0.1', port },
      pipeline: { commitIntervalMs: 50 },
    };
    const first = Array.from({ length: 20 }, (_, i) => r(i));
    writeFileSync(file, JSON.stringify({ ...base, routes: first }));
    const before = (await t.ledger('/data/ContactChangeEvent')).length;
    await t.admin('events/emit', { spec: 'cdc:Contact', count: 300 });
    const { child, result } = startCli(['run', '-c', file]);
    const status = async () => (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as any;
    const committed = async (n: number) =>
      ((await status().catch(() => null))?.routes ?? []).filter((x: any) => x.eventsCommitted >= n).length;
    try {
      await untilAsync(async () => (await committed(before + 300)) === 20, 60_000, 'every route caught up');
      // r0-r2 removed, r3 changed (a new sink), r20-r24 added; r4-r19 untouched.
      const second = [r(3, 'b'), ...first.slice(4), ...[20, 21, 22, 23, 24].map((i) => r(i))];
      writeFileSync(file, JSON.stringify({ ...base, routes: second }));
      const loaded = (await status()).config.hash;
      const emitting = t.admin('events/emit', { spec: 'cdc:Contact', count: 300 });
      child.kill('SIGHUP');
      await emitting;
      // Once the new config runs, 100 more: the changed route takes them into its new sink.
      await untilAsync(async () => (await status()).config.hash !== loaded, 30_000, 'the reload applied');
      await t.admin('events/emit', { spec: 'cdc:Contact', count: 100 });
      const total = before + 700;
      await untilAsync(async () => (await committed(total)) >= 21, 60_000, 'the untouched and added routes caught up');
      // The changed route restarted from its position into its new sink: between the two sinks, every event.
      const r3 = () => new Set([...readSink(join(dir, 'r3-a')), ...readSink(join(dir, 'r3-b'))].map((e) => e.replayId)).size;
      await until(() => r3() >= total, 60_000, 'the changed route caught up in its new sink');
      const st = await status();
      expect(st.routes.map((x: any) => x.key).sort()).toEqual(second.map((x) => x.name).sort());
      // Untouched routes were never restarted: their counters run on from before the reload.
      for (let i = 4; i < 20; i++) expect(st.routes.find((x: any) => x.key === `r${i}`).eventsReceived).toBe(total);
    } finally {
      child.kill('SIGTERM');
    }
    expect((await result).code).toBe(0);
    const ledger = (await t.ledger('/data/ContactChangeEvent')).map((l: any) => String(l.replayId));
    for (let i = 4; i < 20; i++) {
      const ids = readSink(join(dir, `r${i}-a`)).map((e) => e.replayId);
      expect(ids.length, `r${i}`).toBe(ledger.length);
      expect(new Set(ids).size, `r${i} duplicates`).toBe(ids.length);
    }
    // The removed routes' positions stay stored; the changed one went on in its new sink.
    expect(readSink(join(dir, 'r3-b')).length).toBeGreaterThan(0);
  });

  it('--watch-config follows a Kubernetes ConfigMap update (the ..data symlink swapped, the file never written)', async () => {
    const dir = tempDir();
    const port = await freePort();
    const mount = join(dir, 'config');
    mkdirSync(mount);
    const base = {
      orgs: { emu: emulatorOrg(t) },
      replayStore: { type: 'file', path: join(dir, 'replay.json') },
      health: { host: '127.0.0.1', port },
      routes: [pubsub('one', '/data/AccountChangeEvent', join(dir, 'one'))],
    };
    // The kubelet's layout: bridge.yaml -> ..data/bridge.yaml, ..data -> a timestamped directory.
    const version = (name: string, config: unknown) => {
      mkdirSync(join(mount, name));
      writeFileSync(join(mount, name, 'bridge.yaml'), JSON.stringify(config));
      symlinkSync(name, join(mount, '..data_tmp'));
      renameSync(join(mount, '..data_tmp'), join(mount, '..data'));
    };
    version('..v1', base);
    symlinkSync('..data/bridge.yaml', join(mount, 'bridge.yaml'));
    const { child, result } = startCli(['run', '-c', join(mount, 'bridge.yaml'), '--watch-config']);
    const status = async () => (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as any;
    try {
      await untilAsync(async () => (await status().catch(() => null))?.state === 'running', 30_000, 'running');
      version('..v2', { ...base, routes: [...base.routes, pubsub('two', '/data/CaseChangeEvent', join(dir, 'two'))] });
      await untilAsync(async () => (await status()).routes.some((r: any) => r.key === 'two'), 20_000, 'route two after the swap');
    } finally {
      child.kill('SIGTERM');
    }
    expect((await result).code).toBe(0);
  });

  it('sfbridge run reloads on a file change (--watch-config) and on SIGHUP, and ignores a file check refuses', async () => {
    const dir = tempDir();
    const port = await freePort();
    const file = join(dir, 'sfbridge.yaml');
    const base = {
      orgs: { emu: emulatorOrg(t) },
      replayStore: { type: 'file', path: join(dir, 'replay.json') },
      health: { host: '127.0.0.1', port },
      routes: [pubsub('one', '/data/AccountChangeEvent', join(dir, 'one'))],
    };
    writeFileSync(file, JSON.stringify(base));
    const { child, result } = startCli(['run', '-c', file, '--watch-config']);
    let log = '';
    child.stderr?.on('data', (c) => {
      log += c;
    });
    const status = async () => (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as any;
    try {
      await untilAsync(async () => (await status().catch(() => null))?.state === 'running', 30_000, 'running');
      const first = (await status()).config;
      writeFileSync(file, JSON.stringify({ ...base, routes: [...base.routes, pubsub('two', '/data/CaseChangeEvent', join(dir, 'two'))] }));
      await untilAsync(async () => (await status()).routes.some((r: any) => r.key === 'two' && r.state === 'running'), 30_000, 'route two');
      const second = (await status()).config;
      expect(second.hash).not.toBe(first.hash);
      // A file check refuses (a route without sinks): logged, ignored, the running config stays.
      writeFileSync(file, JSON.stringify({ ...base, routes: [{ name: 'bad', source: base.routes[0]?.source, sinks: [] }] }));
      child.kill('SIGHUP');
      await until(() => (log.match(/config reload refused/g) ?? []).length >= 1, 10_000, 'the refusal logged');
      const after = await status();
      expect(after.config).toEqual(second);
      expect(after.routes.map((r: any) => r.key).sort()).toEqual(['one', 'two']);
    } finally {
      child.kill('SIGTERM');
    }
    const r = await result;
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/config reloaded.*"added":\["two"\]|"added":\["two"\].*config reloaded/);
    expect(r.stderr).toMatch(/config reload refused/);
  });
});
