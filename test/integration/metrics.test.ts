/**
 * Issue 19: /metrics while events flow through the emulator (counters, lag and latency
 * histograms move; lag grows while the emulator throttles delivery and falls after; the org's
 * limits move as events are delivered), retention headroom falling as Salesforce's clock runs on
 * while a failing sink holds a route, /readyz following the streams, and an HA standby that is
 * ready without owning.
 */
import type { Server } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Bridge } from '../../src/pipeline/bridge.js';
import { startHealthServer } from '../../src/pipeline/health.js';
import { emulatorOrg, makeBridge } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { emulatorAndReceiver } from '../helpers/emulator-receiver.js';
import { until } from '../helpers/fakes.js';
import { familyNames, parseExposition, sampleValue } from '../helpers/prometheus.js';
import { service } from '../helpers/services.js';
import { tempDir } from '../helpers/tmp.js';

/** Like until(), for conditions that scrape over HTTP (every 50 ms). */
async function eventually(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const SECRET = `whsec_${Buffer.from('metrics-secret-0123456789abcdef').toString('base64')}`;
const CDC = '/data/AccountChangeEvent';
const postgres = service('postgres');

async function serve(bridge: Bridge) {
  const server: Server = await startHealthServer('127.0.0.1', 0, { status: () => bridge.status(), metrics: bridge.metrics });
  const port = (server.address() as { port: number }).port;
  const get = async (path: string) => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: r.status, text: await r.text() };
  };
  const scrape = async () => {
    const { text } = await get('/metrics');
    return { text, samples: parseExposition(text) };
  };
  return { server, get, scrape };
}

describe('metrics, lag, headroom and readiness', () => {
  let t: TestEmulator;
  const receiver = emulatorAndReceiver(SECRET, (e) => {
    t = e;
  });

  it('counters, lag and latency histograms and limits move as events flow; lag grows under throttling and falls after', async () => {
    const dir = tempDir();
    const { bridge } = makeBridge(
      t,
      dir,
      [{ name: 'accounts', source: { type: 'pubsub', org: 'emu', topic: CDC }, sinks: [{ type: 'file', dir: join(dir, 'out') }] }],
      {
        orgs: { emu: { ...emulatorOrg(t), limits: { poll: 200 } } },
      },
    );
    await bridge.start();
    const h = await serve(bridge);
    try {
      await t.subscribed(CDC);
      const first = await h.scrape();
      const names = familyNames(first.text);
      for (const n of [
        'process_cpu_seconds_total',
        'nodejs_eventloop_lag_p99_seconds',
        'sfbridge_events_received_total',
        'sfbridge_event_lag_seconds',
        'sfbridge_retention_headroom_seconds',
      ])
        expect(names, n).toContain(n);
      const where = { route: 'accounts', org: 'emu', channel: CDC };
      const limitBefore = sampleValue(first.samples, 'sfbridge_salesforce_limit_remaining', {
        org: 'emu',
        limit: 'DailyDeliveredPlatformEvents',
      });

      await t.admin('events/emit', { spec: 'cdc:Account', count: 200 });
      await until(() => bridge.status().routes[0]?.eventsCommitted === 200, 20_000, '200 events committed');
      let m = (await h.scrape()).samples;
      expect(sampleValue(m, 'sfbridge_events_received_total', where)).toBe(200);
      expect(sampleValue(m, 'sfbridge_events_committed_total', where)).toBe(200);
      expect(sampleValue(m, 'sfbridge_sink_events_delivered_total', { ...where, sink: 'file#0' })).toBe(200);
      // 200 envelopes of ~1 KB each, one line each.
      expect(sampleValue(m, 'sfbridge_sink_bytes_written_total', { ...where, sink: 'file#0' })).toBeGreaterThan(200 * 500);
      expect(sampleValue(m, 'sfbridge_event_lag_seconds_count', where)).toBe(200);
      expect(sampleValue(m, 'sfbridge_end_to_end_latency_seconds_count', where)).toBeGreaterThan(0);
      expect(sampleValue(m, 'sfbridge_sink_write_duration_seconds_count', { ...where, sink: 'file#0' })).toBeGreaterThan(0);
      expect(sampleValue(m, 'sfbridge_commit_duration_seconds_count', where)).toBeGreaterThan(0);
      expect(sampleValue(m, 'sfbridge_route_subscribed', where)).toBe(1);
      const headroom = sampleValue(m, 'sfbridge_retention_headroom_seconds', where) as number;
      expect(headroom).toBeGreaterThan(72 * 3600 - 120);
      expect(headroom).toBeLessThanOrEqual(72 * 3600 + 2);

      // The org's delivery allowance moves as the emulator delivers (limits polled every 200 ms).
      await eventually(
        async () => {
          const now = sampleValue((await h.scrape()).samples, 'sfbridge_salesforce_limit_remaining', {
            org: 'emu',
            limit: 'DailyDeliveredPlatformEvents',
          });
          return now !== null && limitBefore !== null && now <= limitBefore - 200;
        },
        10_000,
        'DailyDeliveredPlatformEvents to fall by 200',
      );

      // Throttled delivery: the newest event received is older and older.
      await t.admin('throttle', { eventsPerSecond: 40 });
      await t.admin('events/emit', { spec: 'cdc:Account', count: 240 });
      await eventually(
        async () => (sampleValue((await h.scrape()).samples, 'sfbridge_lag_seconds', where) ?? 0) > 2,
        20_000,
        'lag over 2 s',
      );
      await t.admin('throttle', { eventsPerSecond: 0 });
      await until(() => bridge.status().routes[0]?.eventsCommitted === 440, 20_000, 'the backlog committed');
      await t.admin('events/emit', { spec: 'cdc:Account', count: 5 });
      await eventually(
        async () => {
          m = (await h.scrape()).samples;
          return (
            sampleValue(m, 'sfbridge_events_committed_total', where) === 445 && (sampleValue(m, 'sfbridge_lag_seconds', where) ?? 99) < 1
          );
        },
        20_000,
        'lag back under 1 s',
      );
      const status = JSON.parse((await h.get('/status')).text);
      expect(status.routes[0]).toMatchObject({ org: 'emu', channel: CDC });
      expect(status.routes[0].lagSeconds).toBeLessThan(1);
      expect(status.routes[0].positionAgeSeconds).toBeGreaterThanOrEqual(0);
    } finally {
      h.server.close();
      await bridge.stop();
    }
  });

  it('retention headroom falls as Salesforce time passes while a failing sink holds the route', async () => {
    // Its own emulator: the clock only moves forward, and other tests should not see the jump.
    const own = await startEmulator();
    const t = own;
    const dir = tempDir();
    receiver.respond = () => ({ status: 200 });
    const { bridge } = makeBridge(
      t,
      dir,
      [
        {
          name: 'held',
          source: { type: 'pubsub', org: 'emu', topic: '/event/Order_Event__e' },
          sinks: [{ type: 'webhook', url: receiver.url, secrets: [SECRET] }],
        },
      ],
      { orgs: { emu: { ...emulatorOrg(t), limits: { poll: 200 } } } },
    );
    await bridge.start();
    const h = await serve(bridge);
    try {
      await t.subscribed('/event/Order_Event__e');
      await t.admin('events/emit', { spec: 'platform:Order_Event__e', count: 5 });
      await until(() => bridge.status().routes[0]?.eventsCommitted === 5, 20_000, 'first events committed');
      receiver.respond = () => ({ status: 503 });
      await t.admin('events/emit', { spec: 'platform:Order_Event__e', count: 5 });
      await until(() => bridge.status().routes[0]?.sinks[0]?.failing === true, 20_000, 'the sink failing');
      const before = bridge.status().routes[0]?.headroomSeconds as number;
      expect(before).toBeGreaterThan(72 * 3600 - 120);
      await t.admin('clock', { advanceMs: 10 * 3600_000 });
      // The next /limits poll reads the emulator's Date header: Salesforce's clock jumped 10 h.
      await until(() => (bridge.status().routes[0]?.headroomSeconds as number) < before - 10 * 3600 + 60, 10_000, 'headroom down by 10 h');
      const m = (await h.scrape()).samples;
      const where = { route: 'held', org: 'emu', channel: '/event/Order_Event__e' };
      expect(sampleValue(m, 'sfbridge_retention_headroom_seconds', where)).toBeLessThan(62 * 3600 + 60);
      expect(sampleValue(m, 'sfbridge_position_age_seconds', where)).toBeGreaterThan(10 * 3600 - 60);
      expect(sampleValue(m, 'sfbridge_sink_failing', { ...where, sink: 'webhook#0' })).toBe(1);
      expect(sampleValue(m, 'sfbridge_sink_events_failed_total', { ...where, sink: 'webhook#0' })).toBeGreaterThan(0);
    } finally {
      receiver.respond = () => ({ status: 200 });
      h.server.close();
      await bridge.stop();
      await own.stop();
    }
  });

  it('/readyz turns unready when every stream drops and ready again after recovery', async () => {
    const dir = tempDir();
    const { bridge } = makeBridge(t, dir, [
      { name: 'ready', source: { type: 'pubsub', org: 'emu', topic: CDC }, sinks: [{ type: 'file', dir: join(dir, 'out') }] },
    ]);
    await bridge.start();
    const h = await serve(bridge);
    try {
      await t.subscribed(CDC);
      await t.admin('events/emit', { spec: 'cdc:Account', count: 3 });
      await eventually(async () => (await h.get('/readyz')).status === 200, 20_000, 'ready');
      await t.admin('streams/drop', { refuseMs: 4000 });
      let unready = '';
      await eventually(
        async () => {
          const r = await h.get('/readyz');
          unready = r.text;
          return r.status === 503;
        },
        10_000,
        'unready while streams are refused',
      );
      expect(unready).toContain('ready: not subscribed');
      await eventually(async () => (await h.get('/readyz')).status === 200, 30_000, 'ready again after the outage');
    } finally {
      h.server.close();
      await bridge.stop();
    }
  });

  describe.skipIf(!postgres.url)(`HA standby (postgres) ${postgres.reason ?? ''}`, () => {
    it('an HA standby is ready but does not own the route', async () => {
      const ns = `metrics${Date.now()}`;
      const mk = (id: string) =>
        makeBridge(
          t,
          tempDir(),
          [
            {
              name: 'ha-route',
              source: { type: 'pubsub', org: 'emu', topic: CDC },
              sinks: [{ type: 'file', dir: join(tempDir(), 'out') }],
            },
          ],
          {
            replayStore: { type: 'postgres', url: postgres.url, namespace: ns, tablePrefix: 'sfbridge_metrics_test' },
            ha: { enabled: true, instanceId: id, leaseTtlMs: 1000 },
          },
        ).bridge;
      const a = mk('a');
      const b = mk('b');
      await a.start();
      await until(() => a.status().routes[0]?.state === 'running', 10_000, 'a owns the route');
      await b.start();
      const ha = await serve(a);
      const hb = await serve(b);
      try {
        await eventually(async () => (await ha.get('/readyz')).status === 200, 15_000, 'owner ready');
        expect((await hb.get('/readyz')).status).toBe(200);
        const where = { route: 'ha-route' };
        expect(sampleValue((await ha.scrape()).samples, 'sfbridge_ha_lease_owned', where)).toBe(1);
        expect(sampleValue((await hb.scrape()).samples, 'sfbridge_ha_lease_owned', where)).toBe(0);
        expect(b.status().routes[0]).toMatchObject({ state: 'standby', leaseOwned: false });
      } finally {
        ha.server.close();
        hb.server.close();
        await b.stop();
        await a.stop();
      }
    });
  });
});
