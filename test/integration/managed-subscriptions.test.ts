/**
 * Managed subscriptions as code: `sfbridge managed apply` creates and updates the
 * ManagedEventSubscriptions an org's config declares (Tooling API), `list` shows them, a changed
 * topic is refused as Salesforce refuses it, `check` warns about errorRecoveryReplay LATEST, and a
 * route with `managedSubscription` then uses what apply created.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulatorOrg, makeBridge, readSink } from '../helpers/bridge.js';
import { runCli } from '../helpers/cli.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';

describe('managed subscriptions as code', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  let files = 0;
  function config(dir: string, managed: unknown[]): string {
    const path = join(dir, `sfbridge-${files++}.json`);
    writeFileSync(
      path,
      JSON.stringify({
        orgs: { emu: { ...emulatorOrg(t), managedSubscriptions: managed } },
        routes: [{ name: 'x', source: { type: 'file', path: join(dir, 'in.ndjson') }, sinks: [{ type: 'stdout' }] }],
      }),
    );
    return path;
  }

  it('apply creates, leaves alone, updates; list shows; a changed topic is refused; check warns about LATEST', async () => {
    const dir = tempDir();
    const sub = { name: 'Orders_Sub', topic: '/event/Order_Event__e', defaultReplay: 'EARLIEST', errorRecoveryReplay: 'EARLIEST' };
    const cfg = config(dir, [sub]);
    const created = await runCli(['managed', 'apply', '-c', cfg]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^emu: Orders_Sub created \(18x\w+\)\n$/);
    expect((await runCli(['managed', 'apply', '-c', cfg])).stdout).toMatch(/Orders_Sub unchanged/);
    const stopped = config(dir, [{ ...sub, state: 'STOP', errorRecoveryReplay: 'LATEST' }]);
    expect((await runCli(['managed', 'apply', '-c', stopped])).stdout).toMatch(/Orders_Sub updated/);
    const list = await runCli(['managed', 'list', '-c', stopped]);
    expect(list.stdout).toMatch(/Orders_Sub {2}18x\w+ {2}STOP {2}\/event\/Order_Event__e {2}default EARLIEST, error recovery LATEST/);
    const check = await runCli(['check', '-c', stopped]);
    expect(check.stdout).toMatch(/WARNING: orgs\.emu\.managedSubscriptions Orders_Sub: errorRecoveryReplay LATEST skips events/);
    const moved = await runCli(['managed', 'apply', '-c', config(dir, [{ ...sub, topic: '/data/AccountChangeEvent' }])]);
    expect(moved.code).toBe(1);
    expect(moved.stdout).toMatch(
      /Orders_Sub conflict \(18x\w+\): it exists on \/event\/Order_Event__e, the config says \/data\/AccountChangeEvent/,
    );
    // Back to RUN for the next test.
    expect((await runCli(['managed', 'apply', '-c', cfg])).stdout).toMatch(/Orders_Sub updated/);
  });

  it('a route with managedSubscription uses the subscription apply created', async () => {
    const dir = tempDir();
    const cfg = config(dir, [
      { name: 'Leads_Sub', topic: '/data/LeadChangeEvent', defaultReplay: 'EARLIEST', errorRecoveryReplay: 'EARLIEST' },
    ]);
    expect((await runCli(['managed', 'apply', '-c', cfg])).stdout).toMatch(/Leads_Sub created/);
    await t.admin('events/emit', { spec: 'cdc:Lead', count: 25 });
    const out = join(dir, 'out');
    const { bridge } = makeBridge(
      t,
      dir,
      [
        {
          name: 'leads',
          source: { type: 'pubsub', org: 'emu', topic: '/data/LeadChangeEvent', managedSubscription: 'Leads_Sub' },
          sinks: [{ type: 'file', dir: out }],
        },
      ],
      {},
      'warn',
    );
    await bridge.start();
    try {
      await until(() => readSink(out).length >= 25, 20_000, 'the retained events through the managed subscription');
      await until(() => t.emu.org.findManaged({ developerName: 'Leads_Sub' })?.committed !== null, 20_000, 'a server-side commit');
    } finally {
      await bridge.stop();
    }
  });
});
