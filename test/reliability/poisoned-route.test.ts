/**
 * One poisoned route among three, in the daemon (issue 20): a webhook route whose endpoint
 * answers 410 Gone fails, the two other routes deliver every event of the ledger, liveness stays
 * 200 the whole time, /status shows the failed route with its next restart, and once the endpoint
 * is fixed the route restarts by itself and delivers every one of its events.
 */

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emulatorOrg } from '../helpers/bridge.js';
import type { TestEmulator } from '../helpers/emulator.js';
import { emulatorAndReceiver } from '../helpers/emulator-receiver.js';
import { until } from '../helpers/fakes.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { BridgeProcess, readFiles, recordTally, tally, waitFor } from './harness.js';

const SECRET = `whsec_${Buffer.from('poisoned-route-secret-012345').toString('base64')}`;

describe('reliability: one poisoned route among three', () => {
  let t: TestEmulator;
  const receiver = emulatorAndReceiver(SECRET, (e) => {
    t = e;
  });

  it('the others deliver every event, liveness stays green, the poisoned route heals after the fault is removed', async () => {
    const dir = tempDir();
    const port = await freePort();
    let gone = true;
    receiver.respond = () => (gone ? { status: 410 } : { status: 200 });
    const route = (name: string, topic: string, sinks: unknown[]) => ({
      name,
      source: { type: 'pubsub', org: 'emu', topic, initial: 'earliest' },
      sinks,
    });
    const cfg = join(dir, 'bridge.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        log: { level: 'info', format: 'json' },
        health: { host: '127.0.0.1', port },
        orgs: { emu: emulatorOrg(t) },
        replayStore: { type: 'file', path: join(dir, 'replay.json') },
        deadLetter: { type: 'file', dir: join(dir, 'dlq') },
        routeRestart: { initial: 500, max: 2000 },
        routes: [
          route('accounts', '/data/AccountChangeEvent', [{ type: 'file', dir: join(dir, 'accounts') }]),
          route('contacts', '/data/ContactChangeEvent', [{ type: 'file', dir: join(dir, 'contacts') }]),
          route('orders', '/event/Order_Event__e', [{ type: 'webhook', url: receiver.url, secrets: [SECRET] }]),
        ],
      }),
    );
    await t.admin('events/emit', { spec: 'platform:Order_Event__e', count: 300 });
    await t.admin('events/emit', { spec: 'cdc:Account', count: 2000 });
    await t.admin('events/emit', { spec: 'cdc:Contact', count: 2000 });
    const b = new BridgeProcess(cfg);
    await b.start();
    const base = `http://127.0.0.1:${port}`;
    const notLive: number[] = [];
    const probe = async () => {
      const r = await fetch(`${base}/healthz`).catch(() => null);
      if (r?.status !== 200) notLive.push(r?.status ?? 0);
    };
    const status = async () =>
      (await (await fetch(`${base}/status`)).json()) as {
        routes: Array<{ key: string; state: string; restart?: { nextRestartAt: string | null; restarts: number } }>;
      };
    const orders = async () => (await status()).routes.find((r) => r.key === 'orders');

    await until(
      () => b.stderr.includes('"route":"orders"') && /route failed; restarting it/.test(b.stderr),
      30_000,
      'the poisoned route to fail',
    );
    const accounts = await t.ledger('/data/AccountChangeEvent');
    const contacts = await t.ledger('/data/ContactChangeEvent');
    await waitFor(
      async () => {
        await probe();
        return Math.min(
          tally(accounts, readFiles(join(dir, 'accounts'))).delivered - accounts.length,
          tally(contacts, readFiles(join(dir, 'contacts'))).delivered - contacts.length,
        );
      },
      0,
      60_000,
      'the healthy routes to deliver their ledgers',
    );
    // Visible as failed, with the time of its next restart (it fails again at each attempt while the endpoint says 410).
    await waitFor(
      async () => ((await orders())?.state === 'failed' && (await orders())?.restart?.nextRestartAt ? 1 : 0),
      1,
      10_000,
      'failed in /status',
    );
    // It restarts every 0.5–2 s and fails again at once: readiness is 503 whenever it is down.
    await waitFor(async () => ((await fetch(`${base}/readyz`)).status === 503 ? 1 : 0), 1, 10_000, 'readiness 503 while it is down');

    // The endpoint is fixed: the route heals by itself and delivers its whole ledger.
    gone = false;
    const ordersLedger = await t.ledger('/event/Order_Event__e');
    const healMs = await waitFor(
      async () => {
        await probe();
        return tally(ordersLedger, receiver.delivered).delivered;
      },
      ordersLedger.length,
      60_000,
      'the healed route to deliver its ledger',
    );
    await waitFor(async () => ((await orders())?.state === 'running' ? 1 : 0), 1, 10_000, 'the healed route to run');
    expect((await orders())?.restart?.restarts).toBeGreaterThanOrEqual(1);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect(notLive).toEqual([]);

    for (const [name, ledger, got] of [
      ['healthy route (accounts)', accounts, readFiles(join(dir, 'accounts'))],
      ['healthy route (contacts)', contacts, readFiles(join(dir, 'contacts'))],
      ['poisoned route healed (orders)', ordersLedger, receiver.delivered],
    ] as const) {
      const tl = tally(ledger, got as unknown[] as never[]);
      recordTally(
        `poisoned route among three: ${name}`,
        'pubsub',
        tl,
        name.startsWith('poisoned') ? healMs : null,
        'liveness 200 throughout',
      );
      expect(tl.lost, name).toBe(0);
      expect(tl.outOfOrder, name).toBe(0);
    }
    expect((await b.kill('SIGTERM')).code).toBe(0);
  });
});
