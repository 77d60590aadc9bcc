/**
 * Middleboxes that forget a connection without telling either end (NAT gateways, load
 * balancers): the Pub/Sub connection is black-holed mid-stream with a request pending, and while
 * idle under back-pressure (no request pending, nothing for the server to send). The bridge's
 * HTTP/2 pings (orgs.<name>.pubsubKeepalive, here 1 s + 1 s against an emulator that allows
 * them) find the dead connection within interval + timeout, and the stream is rebuilt from its
 * position: nothing lost. A NAT that drops idle flows never drops a pinged one.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BlackholeProxy } from '../helpers/blackhole.js';
import { emulatorOrg, makeBridge, readSink } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';
import { Receiver } from '../helpers/webhook-receiver.js';

const CHANNEL = '/data/AccountChangeEvent';
const SECRET = `whsec_${Buffer.from('middlebox-secret-0123456789').toString('base64')}`;
const KEEPALIVE = { intervalSeconds: 1, timeoutSeconds: 1 };
/** Interval + timeout, plus room for the reconnect's backoff and a slow machine. */
const BOUND_MS = (KEEPALIVE.intervalSeconds + KEEPALIVE.timeoutSeconds) * 1000 + 4000;

describe('reliability: black-holed connections', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
  });

  async function setup(idleMs = 0) {
    const t: TestEmulator = await startEmulator({ minPingIntervalMs: 200 });
    cleanup.push(() => t.stop());
    const proxy = new BlackholeProxy(Number(t.emu.info.pubsubEndpoint.split(':')[1]), idleMs);
    await proxy.start();
    cleanup.push(() => proxy.stop());
    const org = { ...emulatorOrg(t), pubsubEndpoint: `localhost:${proxy.port}`, pubsubKeepalive: KEEPALIVE };
    return { t, proxy, org };
  }

  const resubscribes = (b: ReturnType<typeof makeBridge>['bridge']) => b.status().routes[0]?.sourceStats.resubscribes ?? 0;

  it('with a request pending: found within interval + timeout, rebuilt, nothing lost', async () => {
    const { t, proxy, org } = await setup();
    const dir = tempDir();
    const { bridge } = makeBridge(
      t,
      dir,
      [{ name: 'r', source: { type: 'pubsub', org: 'emu', topic: CHANNEL, start: 'latest' }, sinks: [{ type: 'file', dir }] }],
      {
        orgs: { emu: org },
      },
      'warn',
    );
    await bridge.start();
    cleanup.push(() => bridge.stop().then(() => undefined));
    await t.subscribed(CHANNEL);
    const before = (await t.ledger(CHANNEL)).length;
    await t.admin('events/emit', { spec: 'cdc:Account', count: 50 });
    await until(() => readSink(dir).length >= 50, 15_000, 'first 50');
    expect(proxy.blackholeAll()).toBeGreaterThan(0);
    const t0 = Date.now();
    // Sent by the server into the dead connection: gone, unless the bridge resubscribes from its position.
    await t.admin('events/emit', { spec: 'cdc:Account', count: 50 });
    await until(() => resubscribes(bridge) >= 1, BOUND_MS, 'the dead connection noticed');
    const detectedMs = Date.now() - t0;
    await until(() => readSink(dir).length >= 100, 20_000, 'all 100 after the rebuild');
    const ledger = (await t.ledger(CHANNEL)).slice(before).map((e) => e.eventId);
    expect(new Set(readSink(dir).map((e) => e.eventId))).toEqual(new Set(ledger));
    expect(detectedMs).toBeLessThanOrEqual(BOUND_MS);
    expect(proxy.connections).toBeGreaterThanOrEqual(2);
  }, 60_000);

  it('idle under back-pressure (no request pending): found within interval + timeout, nothing lost', async () => {
    const { t, proxy, org } = await setup();
    const receiver = new Receiver(SECRET);
    await receiver.start();
    cleanup.push(() => receiver.stop());
    let accept = false;
    receiver.respond = () => ({ status: accept ? 200 : 503 });
    const { bridge } = makeBridge(
      t,
      tempDir(),
      [
        {
          name: 'r',
          maxInFlight: 20,
          source: { type: 'pubsub', org: 'emu', topic: CHANNEL, start: 'latest' },
          sinks: [{ type: 'webhook', url: receiver.url, secrets: [SECRET], retrySchedule: ['200ms'] }],
        },
      ],
      { orgs: { emu: org } },
      'warn',
    );
    await bridge.start();
    cleanup.push(() => bridge.stop().then(() => undefined));
    await t.subscribed(CHANNEL);
    const before = (await t.ledger(CHANNEL)).length;
    await t.admin('events/emit', { spec: 'cdc:Account', count: 60 });
    // 20 in flight, the sink refusing: no credit, so no request pending on the stream.
    await until(
      () => bridge.status().routes[0]?.inFlight === 20 && t.emu.pubsub.stats().streams[0]?.pending === 0,
      15_000,
      'back-pressure',
    );
    const was = resubscribes(bridge);
    proxy.blackholeAll();
    const t0 = Date.now();
    await until(() => resubscribes(bridge) > was, BOUND_MS, 'the dead idle connection noticed');
    const detectedMs = Date.now() - t0;
    accept = true;
    await until(() => receiver.delivered.length >= 60, 30_000, 'all 60 once the sink accepts');
    const ledger = (await t.ledger(CHANNEL)).slice(before).map((e) => e.eventId);
    expect(new Set(receiver.delivered.map((b) => b.eventId))).toEqual(new Set(ledger));
    expect(detectedMs).toBeLessThanOrEqual(BOUND_MS);
  }, 60_000);

  it('CometD black-holed in the middle of a long poll: the watchdog rebuilds the client, nothing lost', async () => {
    // The emulator hands out the middlebox's address as its instance URL, so CometD goes through it.
    const proxy = new BlackholeProxy(0);
    await proxy.start();
    cleanup.push(() => proxy.stop());
    const t = await startEmulator({ cometdConnectTimeoutMs: 1000 }, { instanceUrl: `https://127.0.0.1:${proxy.port}` });
    cleanup.push(() => t.stop());
    proxy.setTarget(Number(new URL(t.emu.info.loginUrl).port));
    const dir = tempDir();
    const channel = '/data/ContactChangeEvent';
    const { bridge } = makeBridge(
      t,
      dir,
      [
        {
          name: 'c',
          source: { type: 'cometd', org: 'emu', channel, initial: 'latest', watchdogSeconds: 3, timeoutSeconds: 5 },
          sinks: [{ type: 'file', dir }],
        },
      ],
      { orgs: { emu: { ...emulatorOrg(t), loginUrl: `https://127.0.0.1:${proxy.port}` } } },
      'warn',
    );
    await bridge.start();
    cleanup.push(() => bridge.stop().then(() => undefined));
    await t.subscribed(channel);
    const before = (await t.ledger(channel)).length;
    await t.admin('events/emit', { spec: 'cdc:Contact', count: 30 });
    await until(() => readSink(dir).length >= 30, 15_000, 'first 30');
    const rebuilds = () => Number(bridge.status().routes[0]?.sourceStats.watchdogRebuilds ?? 0);
    const was = rebuilds();
    expect(proxy.blackholeAll()).toBeGreaterThan(0);
    const t0 = Date.now();
    await t.admin('events/emit', { spec: 'cdc:Contact', count: 30 });
    await until(() => rebuilds() > was, 3000 + 6000, 'the watchdog rebuild');
    const detectedMs = Date.now() - t0;
    await until(
      () => readSink(dir).length >= 60,
      30_000,
      `all 60 after the rebuild; ${JSON.stringify(bridge.status().routes[0]?.sourceStats)}`,
    );
    // CometD's replay ids are the ledger's sequence numbers, in decimal.
    const ledger = (await t.ledger(channel)).slice(before).map((e) => String(e.replayId));
    expect(new Set(readSink(dir).map((e) => e.replayId))).toEqual(new Set(ledger));
    expect(detectedMs).toBeLessThanOrEqual(9000);
  }, 60_000);

  it('a NAT that drops flows idle for 3 s never drops the pinged Pub/Sub connection', async () => {
    const { t, proxy, org } = await setup(3000);
    const dir = tempDir();
    const { bridge } = makeBridge(
      t,
      dir,
      [{ name: 'r', source: { type: 'pubsub', org: 'emu', topic: CHANNEL, start: 'latest' }, sinks: [{ type: 'file', dir }] }],
      {
        orgs: { emu: org },
      },
      'warn',
    );
    await bridge.start();
    cleanup.push(() => bridge.stop().then(() => undefined));
    await t.subscribed(CHANNEL);
    // The scenario is time passing: quiet for three of the NAT's idle timeouts (pings every second keep the flow alive).
    await new Promise((r) => setTimeout(r, 9000));
    await t.admin('events/emit', { spec: 'cdc:Account', count: 10 });
    await until(() => readSink(dir).length >= 10, 10_000, 'events after the quiet spell');
    expect(proxy.blackholed).toBe(0);
    expect(resubscribes(bridge)).toBe(0);
  }, 60_000);
});
