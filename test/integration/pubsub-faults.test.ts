/** The Pub/Sub subscriber recovers from every fault the emulator injects, loses nothing, and says so. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orgSchema } from '../../src/config/schema.js';
import { type Envelope, payloadValue } from '../../src/envelope.js';
import { OrgServices } from '../../src/orgs.js';
import { Route } from '../../src/pipeline/route.js';
import { FileReplayStore } from '../../src/replay/file/file-store.js';
import { pubsubSubscriberConfigSchema } from '../../src/subscribers/pubsub/config.js';
import { PubSubSubscriber } from '../../src/subscribers/pubsub/subscriber.js';
import { b64, captureLogger, emulatorOrg, makeBridge, readSink } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { ManualSink, until } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';

const route = (name: string, topic: string, out: string, source: Record<string, unknown> = {}) => ({
  name,
  source: { type: 'pubsub', org: 'emu', topic, ...source },
  sinks: [{ type: 'file', dir: out }],
});

async function storeWith(dir: string, key: string, replayId: string, eventTime: string | null) {
  const s = new FileReplayStore({ type: 'file', path: join(dir, 'replay.json'), fsync: true });
  await s.open();
  await s.commit(key, { replayId, eventTime });
  await s.close();
}

describe('Pub/Sub subscriber under faults', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator({ keepaliveMs: 200 });
  });
  afterAll(async () => t?.stop());

  it('token expiry mid-stream: exactly one refresh, nothing lost', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const ch = '/data/LeadChangeEvent';
    const a = makeBridge(t, dir, [route('leads', ch, out)]);
    await a.bridge.start();
    await t.subscribed(ch); // a signal: the emulator holds the subscription
    await t.admin('events/emit', { spec: 'cdc:Lead', count: 500 });
    await until(() => readSink(out).length === 500, 10_000);
    const before = a.bridge.orgs.tokenProvider('emu') as unknown as { requests: number };
    const requestsBefore = before.requests;
    await t.admin('tokens/expire');
    await t.admin('events/emit', { spec: 'cdc:Lead', count: 500 });
    await until(() => readSink(out).length === 1000, 15_000, 'events after refresh');
    expect(before.requests - requestsBefore).toBe(1);
    await a.bridge.stop();
    const ledger = await t.ledger(ch);
    expect(readSink(out).map((e) => e.replayId)).toEqual(ledger.map((l) => l.replayIdBase64));
    expect(a.capture.text()).toContain('access token rejected; refreshing it and resubscribing');
  });

  it('dropped streams: resubscribes with backoff and delivers every event exactly once', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const ch = '/data/ContactChangeEvent';
    const a = makeBridge(t, dir, [route('contacts', ch, out, { initial: 'earliest' })]);
    const emitted = t.admin('events/emit', { spec: 'cdc:Contact', count: 20_000 });
    await a.bridge.start();
    await emitted;
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 150));
      await t.admin('streams/drop');
    }
    await until(() => (a.bridge.status().routes[0]?.eventsAcked ?? 0) >= 20_000, 30_000, 'all events');
    await new Promise((r) => setTimeout(r, 300));
    await a.bridge.stop();
    const ledger = await t.ledger(ch);
    const got = readSink(out).map((e) => e.replayId);
    expect(got).toEqual(ledger.map((l) => l.replayIdBase64));
    expect(a.bridge.status().routes[0]?.sourceStats.resubscribes).toBeGreaterThanOrEqual(1);
    expect(a.capture.text()).toContain('stream failed; resubscribing from the last position handed to the pipeline');
  });

  it.each(['earliest', 'latest'] as const)('invalid stored replay id: policy %s, loud, with a replay-gap marker', async (policy) => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const ch = '/data/CaseChangeEvent';
    await t.admin('events/emit', { spec: 'cdc:Case', count: 5 });
    await storeWith(dir, 'cases', b64(999_999_999_999), new Date().toISOString());
    const a = makeBridge(t, dir, [route('cases', ch, out, { onInvalidReplay: policy })]);
    await a.bridge.start();
    await until(() => readSink(out).length >= 1, 10_000, 'marker');
    if (policy === 'earliest') await until(() => readSink(out).length >= 6, 10_000, 'events from earliest');
    await t.admin('events/emit', { spec: 'cdc:Case', count: 1 });
    await until(() => readSink(out).at(-1)?.kind === 'cdc' && readSink(out).length >= (policy === 'earliest' ? 7 : 2), 10_000);
    await a.bridge.stop();
    const got = readSink(out);
    expect(got[0]).toMatchObject({ kind: 'replay-gap', replayId: '', payload: { policy, storedReplayId: b64(999_999_999_999) } });
    expect(got[0].payload.reason).toMatch(
      /Salesforce rejected the replay id \(sfdc\.platform\.eventbus\.grpc\.subscription\.fetch\.replayid\.corrupted/,
    );
    const errors = a.capture.lines().filter((l) => l.level === 'error');
    expect(
      errors.some(
        (l) =>
          String(l.msg).startsWith('replay position cannot be used') &&
          l.topic === ch &&
          l.storedReplayId === b64(999_999_999_999) &&
          l.age !== undefined,
      ),
    ).toBe(true);
    expect(a.bridge.status().routes[0]?.sourceStats.replayGaps).toBe(1);
    // The bad position was replaced by a good one once real events were acknowledged.
    const s = new FileReplayStore({ type: 'file', path: join(dir, 'replay.json'), fsync: true });
    await s.open();
    expect((await s.load('cases'))?.replayId).toBe(got.at(-1).replayId);
  });

  it('invalid stored replay id with policy fail: the route stops with a clear error', async () => {
    const dir = tempDir();
    await storeWith(dir, 'cases-fail', b64(999_999_999_999), null);
    const a = makeBridge(t, dir, [route('cases-fail', '/data/CaseChangeEvent', join(dir, 'out'), { onInvalidReplay: 'fail' })], {
      onRouteFailure: 'stop',
    });
    await a.bridge.start();
    const states = await a.bridge.whenDone();
    expect(states).toEqual(['failed']);
    expect(a.bridge.status().routes[0]?.error).toMatch(/onInvalidReplay is "fail" — set a new position with `sfbridge replay set`/);
    await a.bridge.stop();
  });

  it('a stored position older than retention follows the policy without asking Salesforce', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    await storeWith(dir, 'old', b64(1_000_001), new Date(Date.now() - 80 * 3600_000).toISOString());
    const a = makeBridge(t, dir, [route('old', '/data/CaseChangeEvent', out, { onInvalidReplay: 'latest' })]);
    await a.bridge.start();
    await until(() => readSink(out).length >= 1, 10_000);
    await a.bridge.stop();
    const [marker] = readSink(out);
    expect(marker.kind).toBe('replay-gap');
    expect(marker.payload.reason).toMatch(/the stored position is 80\.0 h old, beyond the channel's 72 h retention/);
  });

  it('handles a schema change mid-stream, gap and overflow events, fetching each schema once', async () => {
    const dir = tempDir();
    const _out = join(dir, 'out');
    const org = new OrgServices({ emu: orgSchema.parse(emulatorOrg(t)) }, captureLogger().log);
    const sub = new PubSubSubscriber(
      pubsubSubscriberConfigSchema.parse({ type: 'pubsub', org: 'emu', topic: '/data/OpportunityChangeEvent', start: 'latest' }),
      org,
    );
    const { log } = captureLogger();
    const store = new FileReplayStore({ type: 'file', path: join(dir, 'r.json'), fsync: false });
    await store.open();
    const sink = new ManualSink();
    sink.auto = true;
    const r = new Route({
      key: 'opp',
      subscriber: sub,
      sinks: [{ name: 's', sink }],
      store,
      maxInFlight: 100,
      maxBatchEvents: 100,
      commitIntervalMs: 20,
      commitMaxEvents: 1000,
      log,
    });
    await r.start();
    await t.subscribed('/data/OpportunityChangeEvent');
    await t.admin('events/emit', { spec: 'cdc:Opportunity', count: 3 });
    await t.admin('events/gap', { object: 'Opportunity', changeType: 'GAP_UPDATE' });
    await t.admin('events/overflow', { object: 'Opportunity' });
    await t.admin('schema/change', { target: 'Opportunity', field: { name: 'Region__c', type: 'string' } });
    await t.admin('events/emit', { spec: 'cdc:Opportunity', count: 30 });
    await until(() => sink.written.length === 35, 10_000);
    await r.stop(1000);
    org.close();
    expect(sink.written.map((e) => e.kind).slice(0, 5)).toEqual(['cdc', 'cdc', 'cdc', 'gap', 'overflow']);
    expect(sink.written[3]?.changeHeader?.changeType).toBe('GAP_UPDATE');
    expect(payloadValue(sink.written[3] as Envelope)).toEqual({});
    const schemas = new Set(sink.written.map((e) => e.schemaId));
    expect(schemas.size).toBe(2);
    expect(sub.stats().schemaFetches).toBeLessThanOrEqual(3);
  });

  it('never opens a stream asking for 0 events: with the pipeline full, a dropped stream waits for credit', async () => {
    const dir = tempDir();
    const { log, capture } = captureLogger('info');
    const org = new OrgServices({ emu: orgSchema.parse(emulatorOrg(t)) }, log);
    const channel = '/data/CaseChangeEvent';
    const sub = new PubSubSubscriber(
      pubsubSubscriberConfigSchema.parse({ type: 'pubsub', org: 'emu', topic: channel, start: 'latest' }),
      org,
    );
    const store = new FileReplayStore({ type: 'file', path: join(dir, 'r.json'), fsync: false });
    await store.open();
    const sink = new ManualSink(); // holds every write until released: the pipeline fills up
    const r = new Route({
      key: 'cases',
      subscriber: sub,
      sinks: [{ name: 's', sink }],
      store,
      maxInFlight: 10,
      maxBatchEvents: 10,
      commitIntervalMs: 20,
      commitMaxEvents: 1000,
      log,
    });
    await r.start();
    await t.subscribed(channel);
    await t.admin('events/emit', { spec: 'cdc:Case', count: 30 });
    await until(() => r.status().inFlight === 10, 10_000, 'pipeline full');
    await t.admin('streams/drop');
    // The subscriber has no credit: it must not resubscribe (the emulator would refuse num_requested 0).
    await until(() => (sub.stats().deferredForCredit ?? 0) >= 1, 10_000, 'the reconnect deferred until credit returns');
    const s = await t.admin('status');
    expect(s.pubsub.streams.filter((x: { topic: string }) => x.topic === channel)).toHaveLength(0);
    sink.auto = true;
    sink.ackAll();
    await until(() => sink.written.length === 30, 15_000, 'every event after credit returned');
    await r.stop(1000);
    org.close();
    expect(capture.text()).not.toMatch(/num_requested must be greater than 0/);
  });

  it('a stream that goes silent (no event, no keepalive, a request pending) is rebuilt and catches up', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const ch = '/data/ContactChangeEvent';
    const a = makeBridge(t, dir, [route('silent', ch, out, { start: 'latest', silentSeconds: 1.5 })]);
    await a.bridge.start();
    await t.subscribed(ch);
    await t.admin('events/emit', { spec: 'cdc:Contact', count: 5 });
    await until(() => readSink(out).length === 5, 10_000, 'first events');
    // The stream stays open and takes requests, but sends nothing any more.
    expect((await t.admin('streams/freeze', { ms: 60_000 })).frozenStreams).toBeGreaterThanOrEqual(1);
    await t.admin('events/emit', { spec: 'cdc:Contact', count: 5 });
    await until(() => readSink(out).length === 10, 15_000, 'events after the rebuild');
    const stats = a.bridge.status().routes[0]?.sourceStats ?? {};
    await a.bridge.stop();
    expect(stats.silentRebuilds).toBeGreaterThanOrEqual(1);
    expect(a.capture.text()).toMatch(/stream silent for too long with a request pending/);
    expect(new Set(readSink(out).map((e) => e.replayId)).size).toBe(10);
  });

  it('commits keepalive positions so a quiet channel stays inside retention', async () => {
    const dir = tempDir();
    await t.admin('events/emit', { spec: 'cdc:Account', count: 1 });
    const a = makeBridge(t, dir, [route('quiet', '/data/AccountChangeEvent', join(dir, 'out'), { start: 'latest' })]);
    await a.bridge.start();
    const store = () => new FileReplayStore({ type: 'file', path: join(dir, 'replay.json'), fsync: true });
    await until(
      () => {
        try {
          return JSON.parse(readFileSync(join(dir, 'replay.json'), 'utf8')).positions.quiet !== undefined;
        } catch {
          return false;
        }
      },
      5000,
      'keepalive commit',
    );
    await a.bridge.stop();
    const s = store();
    await s.open();
    const pos = await s.load('quiet');
    expect(Buffer.from(pos?.replayId ?? '', 'base64').readBigUInt64BE()).toBe(BigInt(t.emu.bus.channelLatest('/data/AccountChangeEvent')));
    expect(readSink(join(dir, 'out'))).toHaveLength(0);
  });

  it('fails the route clearly on an unknown topic', async () => {
    const dir = tempDir();
    const a = makeBridge(t, dir, [route('nope', '/data/NoSuchChangeEvent', join(dir, 'out'))], { onRouteFailure: 'stop' });
    await a.bridge.start();
    expect(await a.bridge.whenDone()).toEqual(['failed']);
    expect(a.bridge.status().routes[0]?.error).toMatch(
      /^Salesforce refused the subscription to \/data\/NoSuchChangeEvent in org emu \(sfdc\.platform\.eventbus\.grpc\.topic\.not\.found: .*\): check the route's source\.topic/,
    );
    await a.bridge.stop();
  });

  it("acts on Salesforce's error codes by the documented table: retry, stay away, or stop", async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const a = makeBridge(t, dir, [route('codes', '/data/AccountChangeEvent', out, { start: 'latest' })]);
    await a.bridge.start();
    await t.subscribed('/data/AccountChangeEvent');
    await t.admin('events/emit', { spec: 'cdc:Account', count: 5 });
    await until(() => readSink(out).length >= 5, 10_000, 'first events');
    // Retriable (no "topic"-substring guessing): the stream and the next Subscribe fail, then it resumes.
    await t.admin('streams/fail', { code: 'sfdc.platform.eventbus.grpc.subscription.internal.error', next: 1 });
    await t.admin('events/emit', { spec: 'cdc:Account', count: 5 });
    await until(() => readSink(out).length >= 10, 15_000, 'events after a retriable error');
    expect(a.bridge.status().routes[0]?.state).toBe('running');
    // The daily delivery allocation is spent: no retry every few seconds, a loud error and minutes of back-off.
    await t.admin('streams/fail', { code: 'sfdc.platform.eventbus.grpc.subscription.limit.exceeded' });
    await until(
      () => /Salesforce asks the bridge to stay away: the org's 24-hour event delivery allocation is spent/.test(a.capture.text()),
      10_000,
      'the allocation error',
    );
    const line = a.capture.lines().find((l) => /stay away/.test(String(l.msg)));
    expect(line?.retryInMs).toBe(300_000);
    expect(a.bridge.status().routes[0]?.state).toBe('running');
    await a.bridge.stop();
  });

  it('stops the route, naming the fix, when Salesforce says the user may not subscribe', async () => {
    const dir = tempDir();
    const a = makeBridge(t, dir, [route('denied', '/data/AccountChangeEvent', join(dir, 'out'), { start: 'latest' })], {
      onRouteFailure: 'stop',
    });
    await t.admin('streams/fail', { code: 'sfdc.platform.eventbus.grpc.subscription.topic.cannot.subscribe', next: 1 });
    await a.bridge.start();
    expect(await a.bridge.whenDone()).toEqual(['failed']);
    expect(a.bridge.status().routes[0]?.error).toMatch(/subscription\.topic\.cannot\.subscribe.*grant it read access/);
    await a.bridge.stop();
  });

  it('managed subscriptions commit server-side after the sinks acknowledge', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    await t.admin('managed', { developerName: 'BridgeOrders', topic: '/event/Order_Event__e', start: 'EARLIEST' });
    await t.admin('events/emit', { spec: 'platform:Order_Event__e', count: 10 });
    const a = makeBridge(t, dir, [route('managed', '/event/Order_Event__e', out, { managedSubscription: 'BridgeOrders' })]);
    await a.bridge.start();
    await until(() => readSink(out).length >= 10, 10_000);
    const m = t.emu.org.findManaged({ developerName: 'BridgeOrders' });
    await until(() => m?.committed !== null && b64(m?.committed as number) === readSink(out).at(-1).replayId, 5000, 'server-side commit');
    // Commits Salesforce refuses are not ignored: counted and logged loudly; delivery goes on.
    await t.admin('managed/refuse-commits', { refuse: true });
    await t.admin('events/emit', { spec: 'platform:Order_Event__e', count: 5 });
    try {
      await until(() => (a.bridge.status().routes[0]?.sourceStats.commitErrors ?? 0) >= 1, 10_000, 'a refused commit noticed');
    } finally {
      await t.admin('managed/refuse-commits', { refuse: false });
    }
    expect(readSink(out).length).toBe(15);
    expect(a.capture.text()).toMatch(/Salesforce refused the managed subscription commit/);
    await a.bridge.stop();
  });
});
