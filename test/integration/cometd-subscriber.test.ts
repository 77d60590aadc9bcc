/** The CometD subscriber against the emulator: delivery, resume, recovery, watchdog, back-pressure. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileReplayStore } from '../../src/replay/file/file-store.js';
import { makeBridge, readSink } from '../helpers/bridge.js';
import { runCli } from '../helpers/cli.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';

const TOPIC = { name: 'BigDeals', query: "SELECT Id, Name, Amount, StageName FROM Opportunity WHERE StageName = 'Negotiation'" };

const route = (name: string, channel: string, out: string, source: Record<string, unknown> = {}) => ({
  name,
  source: { type: 'cometd', org: 'emu', channel, ...source },
  sinks: [{ type: 'file', dir: out }],
});

describe('CometD subscriber', () => {
  let t: TestEmulator;
  let token: string;
  const deal = async (n: number) =>
    t.http('POST', '/services/data/v63.0/sobjects/Opportunity', {
      token: await t.token(),
      body: { Name: `Deal ${n}`, Amount: n * 1000, StageName: 'Negotiation' },
    });

  beforeAll(async () => {
    t = await startEmulator({ cometdConnectTimeoutMs: 500, cometdSessionTimeoutMs: 3000 });
    token = await t.token();
  });
  afterAll(async () => t?.stop());

  it('creates the configured PushTopic, delivers PushTopic and platform events, and resumes after a restart', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const routes = [
      route('deals', '/topic/BigDeals', out, { initial: 'earliest' }),
      route('orders', '/event/Order_Event__e', out, { initial: 'earliest' }),
    ];
    const extra = { orgs: { emu: { ...(await import('../helpers/bridge.js')).emulatorOrg(t), pushTopics: [TOPIC] } } };
    const a = makeBridge(t, dir, routes, extra);
    await a.bridge.start();
    expect(a.capture.text()).toContain('PushTopic in place');
    for (let n = 0; n < 5; n++) await deal(n);
    await t.http('POST', '/services/data/v63.0/sobjects/Opportunity', { token, body: { Name: 'Small', StageName: 'Prospecting' } });
    await t.admin('events/emit', { spec: 'platform:Order_Event__e', count: 3 });
    await until(() => readSink(out).length === 8, 15_000, 'events');
    await a.bridge.stop();
    const got = readSink(out);
    const deals = got.filter((e) => e.channel === '/topic/BigDeals');
    expect(deals.map((e) => e.payload.sobject.Name)).toEqual(['Deal 0', 'Deal 1', 'Deal 2', 'Deal 3', 'Deal 4']);
    expect(deals[0]).toMatchObject({ kind: 'pushtopic', payload: { type: 'created' } });
    expect(deals[0].replayId).toMatch(/^\d+$/);
    const orders = got.filter((e) => e.channel === '/event/Order_Event__e');
    expect(orders).toHaveLength(3);
    expect(orders[0].kind).toBe('platform');
    const ledger = await t.ledger('/event/Order_Event__e');
    expect(orders.map((e) => e.eventId)).toEqual(ledger.slice(-3).map((l) => l.eventId));

    for (let n = 5; n < 8; n++) await deal(n);
    const b = makeBridge(t, dir, routes, extra);
    await b.bridge.start();
    expect(b.capture.text()).toMatch(/"action":"unchanged"/);
    await until(() => readSink(out).filter((e) => e.channel === '/topic/BigDeals').length === 8, 15_000, 'resumed events');
    await new Promise((r) => setTimeout(r, 300));
    await b.bridge.stop();
    const all = readSink(out).filter((e) => e.channel === '/topic/BigDeals');
    expect(all.map((e) => e.payload.sobject.Name)).toEqual(Array.from({ length: 8 }, (_, i) => `Deal ${i}`));
  });

  it('re-handshakes after 403::Unknown client and refreshes the token after 401, losing nothing', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const ch = '/data/AccountChangeEvent';
    const a = makeBridge(t, dir, [route('acc', ch, out)]);
    await a.bridge.start();
    await t.subscribed(ch); // a signal: the emulator holds the subscription
    await t.admin('events/emit', { spec: 'cdc:Account', count: 20 });
    await until(() => readSink(out).length === 20, 10_000);
    await t.admin('streams/drop');
    await t.admin('events/emit', { spec: 'cdc:Account', count: 20 });
    await until(() => readSink(out).length === 40, 15_000, 'after 403');
    await t.admin('tokens/expire');
    await t.admin('events/emit', { spec: 'cdc:Account', count: 20 });
    await until(() => readSink(out).length === 60, 15_000, 'after 401');
    await a.bridge.stop();
    const ledger = await t.ledger(ch);
    expect(readSink(out).map((e) => e.replayId)).toEqual(ledger.slice(-60).map((l) => String(l.replayId)));
    const stats = a.bridge.status().routes[0]?.sourceStats ?? {};
    expect(stats.rehandshakes).toBeGreaterThanOrEqual(1);
    expect(stats.authRefreshes).toBeGreaterThanOrEqual(1);
    const cdc = readSink(out)[0];
    expect(cdc.kind).toBe('cdc');
    // Salesforce lists changed fields for updates only.
    expect(cdc.changeHeader).toMatchObject({ changeType: 'CREATE', changedFields: [] });
    const update = readSink(out).find((e) => e.changeHeader.changeType === 'UPDATE');
    expect(update.changeHeader.changedFields.length).toBeGreaterThan(0);
    for (const f of update.changeHeader.changedFields) expect(f).toMatch(/^[A-Za-z]\w*(\.\w+)?$/);
  });

  it('applies the invalid-replay policy on the 400 replayId error, with a marker', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    await t.admin('events/emit', { spec: 'platform:Order_Event__e', count: 2 });
    const s = new FileReplayStore({ type: 'file', path: join(dir, 'replay.json'), fsync: true });
    await s.open();
    await s.commit('bad', { replayId: '999999999999', eventTime: new Date().toISOString() });
    await s.close();
    const a = makeBridge(t, dir, [route('bad', '/event/Order_Event__e', out, { onInvalidReplay: 'earliest' })]);
    await a.bridge.start();
    await until(() => readSink(out).length >= 3, 10_000);
    await a.bridge.stop();
    const [marker, ...rest] = readSink(out);
    expect(marker).toMatchObject({ kind: 'replay-gap', payload: { policy: 'earliest', storedReplayId: '999999999999' } });
    expect(marker.payload.reason).toContain('400::The replayId {999999999999} you provided was invalid');
    expect(rest.every((e) => e.kind === 'platform')).toBe(true);
    expect(a.capture.lines().some((l) => l.level === 'error' && String(l.msg).startsWith('replay position cannot be used'))).toBe(true);
  });

  it('rebuilds a silently stalled client (watchdog) and catches up', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const a = makeBridge(t, dir, [route('wd', '/data/LeadChangeEvent', out, { watchdogSeconds: 1 })]);
    await a.bridge.start();
    await t.subscribed('/data/LeadChangeEvent'); // a signal: the emulator holds the subscription
    await t.admin('events/emit', { spec: 'cdc:Lead', count: 1 });
    await until(() => readSink(out).length === 1, 10_000, 'first event');
    await t.admin('delay', { ms: 2500 });
    await new Promise((r) => setTimeout(r, 3000));
    await t.admin('delay', { ms: 0 });
    await t.admin('events/emit', { spec: 'cdc:Lead', count: 5 });
    await until(() => readSink(out).length === 6, 15_000, 'events after watchdog');
    await a.bridge.stop();
    const ledger = await t.ledger('/data/LeadChangeEvent');
    expect(readSink(out).map((e) => e.replayId)).toEqual(ledger.slice(-6).map((l) => String(l.replayId)));
    expect(a.bridge.status().routes[0]?.sourceStats.watchdogRebuilds).toBeGreaterThanOrEqual(1);
    expect(a.capture.text()).toContain('no /meta/connect completed for too long; rebuilding the CometD client');
  });

  it('sfbridge pushtopic apply / list manage the declared PushTopics', async () => {
    const dir = tempDir();
    const org = (await import('../helpers/bridge.js')).emulatorOrg(t);
    const cfg = join(dir, 'bridge.yaml');
    writeFileSync(
      cfg,
      `orgs:\n  emu:\n    loginUrl: ${org.loginUrl}\n    caCertFile: ${org.caCertFile}\n    auth: { flow: client_credentials, clientId: ${t.emu.info.clientId}, clientSecret: ${t.emu.info.clientSecret} }\n    pushTopics:\n      - { name: HotLeads, query: "SELECT Id, Rating FROM Lead WHERE Rating = 'Hot'", notifyForFields: All }\nroutes:\n  - source: { type: cometd, org: emu, channel: /topic/HotLeads }\n    sinks: [{ type: file, dir: ${join(dir, 'out')} }]\n`,
    );
    const apply = await runCli(['pushtopic', 'apply', '-c', cfg]);
    expect(apply.stderr).toBe('');
    expect(apply.stdout).toMatch(/^emu: HotLeads created \(0IF\w+\)\n$/);
    expect((await runCli(['pushtopic', 'apply', '-c', cfg])).stdout).toMatch(/HotLeads unchanged/);
    const list = await runCli(['pushtopic', 'list', '-c', cfg]);
    expect(list.stdout).toMatch(/HotLeads {2}0IF\w+ {2}active {2}SELECT Id, Rating FROM Lead/);
  });

  it('bounds memory with a slow sink by disconnecting and replaying, without loss or duplicates', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const ch = '/data/CaseChangeEvent';
    await t.admin('events/emit', { spec: 'cdc:Case', count: 3000 });
    // A second route of the same org shares the one CometD client; the slow route's pauses
    // unsubscribe only its own channel.
    const other = join(dir, 'orders');
    const a = makeBridge(
      t,
      dir,
      [
        { ...route('slow', ch, out, { initial: 'earliest' }), maxInFlight: 100 },
        route('orders', '/event/Order_Event__e', other, { initial: 'latest' }),
      ],
      { pipeline: { commitIntervalMs: 20, maxBatchEvents: 20 } },
    );
    // Clients of earlier tests linger until their session times out (3 s here; a watchdog rebuild
    // leaves the stalled one behind): start once they are gone, so every client counted is ours.
    await until(() => t.emu.cometd.stats().clients === 0, 15_000, "earlier tests' clients timed out");
    await a.bridge.start();
    let maxClients = 0;
    await t.subscribed('/event/Order_Event__e');
    await t.admin('events/emit', { spec: 'platform:Order_Event__e', count: 20 });
    await until(
      () => {
        maxClients = Math.max(maxClients, t.emu.cometd.stats().clients);
        return (a.bridge.status().routes[0]?.eventsAcked ?? 0) >= 3000 && readSink(other).length >= 20;
      },
      60_000,
      'all events',
    );
    expect(maxClients).toBe(1);
    expect(a.bridge.status().routes[1]?.sourceStats.backpressurePauses).toBe(0);
    await a.bridge.stop();
    const st = a.bridge.status().routes[0];
    expect(st?.maxInFlightSeen).toBeLessThanOrEqual(100);
    expect(st?.creditViolations).toBe(0);
    expect(st?.sourceStats.backpressurePauses).toBeGreaterThanOrEqual(1);
    const ledger = await t.ledger(ch);
    expect(readSink(out).map((e) => e.replayId)).toEqual(ledger.map((l) => String(l.replayId)));
  });

  it('reads subscribe errors as Salesforce sent them (faye strips the NNN:: prefix): a restricted channel stops the route, a 401 refreshes the token', async () => {
    const dir = tempDir();
    await t.admin('cometd/deny', { channel: '/topic/Restricted', error: '403::Restricted channel' });
    const a = makeBridge(t, dir, [route('restricted', '/topic/Restricted', join(dir, 'out'))]);
    await a.bridge.start();
    expect(await a.bridge.routes[0]?.done).toBe('failed');
    expect(a.bridge.status().routes[0]?.error).toMatch(
      /cannot subscribe to \/topic\/Restricted .*403::Restricted channel; the user may not read this channel/,
    );
    await a.bridge.stop();
    await t.admin('cometd/deny', { channel: '/topic/Restricted' });

    const dir2 = tempDir();
    await t.admin('cometd/deny', { channel: '/data/CaseChangeEvent', error: '401::Authentication invalid' });
    const b = makeBridge(t, dir2, [route('auth', '/data/CaseChangeEvent', join(dir2, 'out'))]);
    await b.bridge.start();
    await until(() => (b.bridge.status().routes[0]?.sourceStats.authRefreshes ?? 0) >= 1, 10_000, 'a token refresh on the 401');
    await t.admin('cometd/deny', { channel: '/data/CaseChangeEvent' });
    await b.bridge.stop();
  });

  it("reads a denied handshake's failureReason: a busy server is retried, a client limit or a spent allocation means minutes away, not a token loop", async () => {
    const ch = '/data/OpportunityChangeEvent';
    // 503 too busy: faye retries the handshake; no token refresh; events flow.
    const dir = tempDir();
    const out = join(dir, 'out');
    await t.admin('cometd/fail', { meta: 'handshake', error: '503::Server is too busy', next: 2 });
    const a = makeBridge(t, dir, [route('busy', ch, out, { initial: 'latest' })]);
    await a.bridge.start();
    await t.subscribed(ch);
    await t.admin('events/emit', { spec: 'cdc:Opportunity', count: 3 });
    await until(() => readSink(out).length >= 3, 15_000, 'events after a busy handshake');
    expect(a.bridge.status().routes[0]?.sourceStats.authRefreshes).toBe(0);
    expect(a.capture.text()).toMatch(/503::Server is too busy/);
    await a.bridge.stop();

    // The org's concurrent client limit: an error naming it, minutes of back-off, no token refresh.
    const dir2 = tempDir();
    await t.admin('cometd/fail', { meta: 'handshake', error: '403::Organization concurrent user limit exceeded', next: 1 });
    const b = makeBridge(t, dir2, [route('limit', ch, join(dir2, 'out'), { initial: 'latest' })]);
    await b.bridge.start();
    await until(() => /stay away: the org's limit of concurrent CometD clients/.test(b.capture.text()), 10_000, 'the client-limit error');
    expect(b.capture.lines().find((l) => /stay away/.test(String(l.msg)))?.retryInMs).toBe(300_000);
    expect(b.bridge.status().routes[0]?.sourceStats.authRefreshes).toBe(0);
    expect(b.bridge.status().routes[0]?.state).toBe('running');
    await b.bridge.stop();

    // The daily delivery allocation, reported on /meta/connect.
    const dir3 = tempDir();
    const c = makeBridge(t, dir3, [route('daily', ch, join(dir3, 'out'), { initial: 'latest' })]);
    await c.bridge.start();
    await t.subscribed(ch);
    await t.admin('cometd/fail', { meta: 'connect', error: '403::Organization total events daily limit exceeded', next: 1 });
    await until(
      () => /stay away: the org's 24-hour event delivery allocation is spent/.test(c.capture.text()),
      15_000,
      'the allocation error',
    );
    expect(c.bridge.status().routes[0]?.sourceStats.authRefreshes).toBe(0);
    await c.bridge.stop();
  });

  it('change events in their real CometD shape: exact commitNumber beyond 2^53, nulled and changed fields like Pub/Sub, ISO dates', async () => {
    const dir = tempDir();
    const viaCometd = join(dir, 'cometd');
    const viaPubsub = join(dir, 'pubsub');
    const ch = '/data/ContactChangeEvent';
    const a = makeBridge(t, dir, [
      route('shape-cometd', ch, viaCometd, { initial: 'latest' }),
      {
        name: 'shape-pubsub',
        source: { type: 'pubsub', org: 'emu', topic: ch, initial: 'latest' },
        sinks: [{ type: 'file', dir: viaPubsub }],
      },
    ]);
    await a.bridge.start();
    await t.subscribed(ch, 2);
    const tok = await t.token();
    const created = await t.http('POST', '/services/data/v63.0/sobjects/Contact', {
      token: tok,
      body: { FirstName: 'Grace', LastName: 'Hopper', Email: 'grace@example.com', MailingCity: 'Arlington', Birthdate: 1_790_000_000_000 },
    });
    expect(created.status, created.text).toBe(201);
    await t.http('PATCH', `/services/data/v63.0/sobjects/Contact/${created.json.id}`, {
      token: tok,
      body: { Email: null, MailingCity: 'NYC' },
    });
    await until(() => readSink(viaCometd).length >= 2 && readSink(viaPubsub).length >= 2, 15_000, 'both transports');
    const [c0, c1] = readSink(viaCometd);
    const [p0, p1] = readSink(viaPubsub);
    // Beyond 2^53 and exact, the same on both transports (JSON.parse alone would round it).
    expect(c1.changeHeader.commitNumber).toMatch(/^\d{19}$/);
    expect(BigInt(c1.changeHeader.commitNumber)).toBeGreaterThan(BigInt(Number.MAX_SAFE_INTEGER));
    expect(c1.changeHeader.commitNumber).toBe(p1.changeHeader.commitNumber);
    expect(BigInt(c1.changeHeader.commitNumber) - BigInt(c0.changeHeader.commitNumber)).toBe(1n);
    // The update: Email nulled, MailingAddress.City changed; the same lists from both transports.
    expect(c1.changeHeader.nulledFields).toEqual(p1.changeHeader.nulledFields);
    expect(c1.changeHeader.nulledFields).toContain('Email');
    expect(c1.changeHeader.changedFields).toEqual(p1.changeHeader.changedFields);
    expect(c1.changeHeader.diffFields).toEqual([]);
    expect(c1.payload.Email).toBeNull();
    expect(
      Object.entries(c1.payload)
        .filter(([, v]) => v === null)
        .map(([k]) => k),
    ).toEqual(['Email']);
    // Dates as Streaming API sends them (ISO), epoch ms over Pub/Sub.
    expect(c0.payload.Birthdate).toBe(new Date(1_790_000_000_000).toISOString().slice(0, 10));
    expect(p0.payload.Birthdate).toBe(1_790_000_000_000);
    expect(c0.eventTime).toBe(p0.eventTime);
    await a.bridge.stop();
  });
});
