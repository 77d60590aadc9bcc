/** `sfbridge tail`: prints a route's events to stdout without touching its stored position. */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulatorOrg } from '../helpers/bridge.js';
import { runCli } from '../helpers/cli.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { tempDir } from '../helpers/tmp.js';

describe('sfbridge tail', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
    await t.admin('events/emit', { spec: 'cdc:Account', count: 20 });
  });
  afterAll(async () => t?.stop());

  function config(dir: string): string {
    const org = emulatorOrg(t);
    const path = join(dir, 'cfg.yaml');
    writeFileSync(
      path,
      JSON.stringify({
        orgs: { emu: org },
        replayStore: { type: 'file', path: join(dir, 'replay.json') },
        routes: [
          {
            name: 'accounts',
            source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent' },
            sinks: [{ type: 'file', dir: join(dir, 'out') }],
          },
        ],
      }),
    );
    return path;
  }

  it('prints JSON envelopes from the earliest retained event, stops at --limit, leaves the route untouched', async () => {
    const dir = tempDir();
    const r = await runCli(['tail', '-c', config(dir), '--from', 'earliest', '--limit', '7']);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(7);
    const envs = lines.map((l) => JSON.parse(l));
    expect(envs.every((e) => e.kind === 'cdc' && e.channel === '/data/AccountChangeEvent' && e.changeHeader.entity === 'Account')).toBe(
      true,
    );
    expect(existsSync(join(dir, 'replay.json'))).toBe(false);
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });

  it('--pretty prints one readable line per event', async () => {
    const dir = tempDir();
    const r = await runCli(['tail', '-c', config(dir), '--from', 'earliest', '--limit', '3', '--pretty']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l).toMatch(/\/data\/AccountChangeEvent {2}#\S+ {2}cdc {2}(CREATE|UPDATE|DELETE|UNDELETE) Account 001/);
  });

  it('names the routes when it cannot tell which one to tail', async () => {
    const dir = tempDir();
    const r = await runCli(['tail', '-c', config(dir), '--route', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('sfbridge: tail: no route "nope" in this config (routes: accounts)');
  });
});
