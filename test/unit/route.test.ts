import { describe, expect, it } from 'vitest';
import { FileDeadLetterStore } from '../../src/deadletter/file-store.js';
import { RetriableError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { Route, type RouteOptions } from '../../src/pipeline/route.js';
import { captureLogger } from '../helpers/bridge.js';
import { ManualSink, MemoryStore, ScriptedSubscriber, tick, until } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';

function makeRoute(over: Partial<RouteOptions> & { sinks: RouteOptions['sinks']; subscriber: RouteOptions['subscriber'] }) {
  const store = (over.store as MemoryStore) ?? new MemoryStore();
  const route = new Route({
    key: 'k',
    store,
    maxInFlight: 100,
    maxBatchEvents: 1000,
    commitIntervalMs: 10,
    commitMaxEvents: 1_000_000,
    log: silentLogger(),
    ...over,
  });
  return { route, store };
}

describe('route pipeline', () => {
  it('commits only after every sink acknowledged', async () => {
    const a = new ManualSink();
    const b = new ManualSink();
    const sub = new ScriptedSubscriber(10, 10);
    const { route, store } = makeRoute({
      subscriber: sub,
      sinks: [
        { name: 'a', sink: a },
        { name: 'b', sink: b },
      ],
    });
    await route.start();
    await until(() => a.pending.length === 1 && b.pending.length === 1);
    a.ack();
    await tick();
    expect(store.commits).toHaveLength(0);
    b.ack();
    await until(() => store.commits.length === 1);
    expect(store.positions.get('k')?.replayId).toBe('r9');
    await route.stop(100);
  });

  it('a failing sink holds the commit at the last fully acknowledged event, then catches up', async () => {
    const good = new ManualSink();
    good.auto = true;
    const bad = new ManualSink();
    const sub = new ScriptedSubscriber(30, 10);
    const { route, store } = makeRoute({
      subscriber: sub,
      sinks: [
        { name: 'good', sink: good },
        { name: 'bad', sink: bad },
      ],
      maxBatchEvents: 10,
    });
    await route.start();
    await until(() => bad.pending.length === 1);
    bad.failNext = 3; // the next three writes (r10..r19) fail
    bad.ack(); // r0..r9 delivered
    await until(() => store.commits.length >= 1);
    expect(store.positions.get('k')?.replayId).toBe('r9');
    await until(() => bad.writes >= 4, 10_000, 'three failed attempts');
    expect(route.status().sinks[1]?.failing).toBe(true);
    await tick();
    expect(store.positions.get('k')?.replayId).toBe('r9');
    expect(good.written).toHaveLength(30);
    bad.auto = true;
    bad.ackAll();
    await until(() => store.positions.get('k')?.replayId === 'r29', 10_000, 'catch-up commit');
    expect(bad.written.map((e) => e.eventId)).toEqual(Array.from({ length: 30 }, (_, i) => `e${i}`));
    expect(route.status().sinks[1]?.failing).toBe(false);
    await route.stop(100);
  });

  it('retries the same events after a failure, so the sink sees no gap', async () => {
    const sink = new ManualSink();
    sink.auto = true;
    sink.failNext = 2;
    const sub = new ScriptedSubscriber(50, 5, true);
    const { route, store } = makeRoute({ subscriber: sub, sinks: [{ name: 's', sink }] });
    await route.start();
    expect(await route.done).toBe('ended');
    expect(sink.written.map((e) => e.eventId)).toEqual(Array.from({ length: 50 }, (_, i) => `e${i}`));
    expect(store.positions.get('k')?.replayId).toBe('r49');
  });

  it('never lets in-flight events exceed the credit', async () => {
    const sink = new ManualSink();
    const sub = new ScriptedSubscriber(1000, 7);
    const { route } = makeRoute({ subscriber: sub, sinks: [{ name: 's', sink }], maxInFlight: 50, maxBatchEvents: 20 });
    await route.start();
    for (let round = 0; round < 40 && sub.next < 1000; round++) {
      await until(() => sink.pending.length > 0);
      expect(route.status().inFlight).toBeLessThanOrEqual(50);
      sink.ack();
      await tick();
    }
    sink.auto = true;
    sink.ackAll();
    await until(() => sub.next === 1000 && route.status().inFlight === 0, 10_000);
    const st = route.status();
    expect(st.maxInFlightSeen).toBeLessThanOrEqual(50);
    expect(st.maxInFlightSeen).toBeGreaterThan(0);
    expect(st.creditViolations).toBe(0);
    expect(sub.maxCreditHeld).toBeLessThanOrEqual(50);
    await route.stop(100);
  });

  it('commits in stream order when acknowledgements arrive out of order', async () => {
    const sink = new ManualSink();
    const sub = new ScriptedSubscriber(30, 10);
    const { route, store } = makeRoute({ subscriber: sub, sinks: [{ name: 's', sink, concurrency: 3 }], maxBatchEvents: 10 });
    await route.start();
    await until(() => sink.pending.length === 3);
    // Batch 3 (r20..r29) and batch 2 finish first: nothing may be committed while batch 1 is pending.
    sink.ack(2);
    sink.ack(1);
    await tick();
    await tick();
    expect(store.commits).toHaveLength(0);
    sink.ack(0);
    await until(() => store.commits.length >= 1);
    expect(store.positions.get('k')?.replayId).toBe('r29');
    expect(store.commits.every((c) => c.replayId === 'r29')).toBe(true);
    await route.stop(100);
  });

  it('group-commits: far fewer store writes than batches', async () => {
    const sink = new ManualSink();
    sink.auto = true;
    const sub = new ScriptedSubscriber(20_000, 10, true);
    const { route, store } = makeRoute({
      subscriber: sub,
      sinks: [{ name: 's', sink }],
      maxInFlight: 1000,
      commitIntervalMs: 50,
      commitMaxEvents: 5000,
    });
    await route.start();
    await route.done;
    expect(store.positions.get('k')?.replayId).toBe('r19999');
    expect(store.commits.length).toBeLessThan(20);
  });

  it('commits a keepalive checkpoint only after everything emitted before it', async () => {
    const sink = new ManualSink();
    const sub = new ScriptedSubscriber(10, 10);
    const { route, store } = makeRoute({ subscriber: sub, sinks: [{ name: 's', sink }] });
    await route.start();
    await until(() => sink.pending.length === 1);
    sub.ctx.checkpoint('latest-1', null);
    await tick();
    expect(store.commits).toHaveLength(0);
    sink.ack();
    await until(() => store.positions.get('k')?.replayId === 'latest-1');
    sub.ctx.checkpoint('latest-2', null);
    await until(() => store.positions.get('k')?.replayId === 'latest-2');
    await route.stop(100);
  });

  it('a permanent sink error fails the route without committing the failed events', async () => {
    const sink = new ManualSink();
    sink.failNext = 1;
    sink.failWith = Object.assign(new Error('bad request'), { retriable: false });
    const sub = new ScriptedSubscriber(10, 10);
    const { route, store } = makeRoute({ subscriber: sub, sinks: [{ name: 's', sink }] });
    await route.start();
    expect(await route.done).toBe('failed');
    expect(route.status().error).toBe('bad request');
    expect(store.commits).toHaveLength(0);
  });

  it('pauses fetching while the replay store rejects commits, and resumes after', async () => {
    const sink = new ManualSink();
    const store = new MemoryStore();
    store.down = true;
    const sub = new ScriptedSubscriber(10_000, 10);
    const { route } = makeRoute({
      subscriber: sub,
      store,
      sinks: [{ name: 's', sink }],
      maxInFlight: 100,
      maxBatchEvents: 10,
      commitIntervalMs: 5,
    });
    await route.start();
    await until(() => sink.pending.length === 1);
    expect(sub.next).toBe(100);
    sink.ack();
    await until(() => route.status().commitFailures > 0);
    // Acknowledged events free memory, but no new credit is granted while commits fail.
    sink.auto = true;
    sink.ackAll();
    await new Promise((r) => setTimeout(r, 300));
    expect(sub.next).toBeLessThanOrEqual(110);
    expect(route.status().committed).toBeNull();
    store.down = false;
    await until(() => sub.next === 10_000, 20_000, 'resume after store recovery');
    await route.stop(1000);
    expect(store.positions.get('k')?.replayId).toBe('r9999');
  });

  it('graceful stop drains in-flight events and commits them', async () => {
    const sink = new ManualSink();
    const sub = new ScriptedSubscriber(1000, 10);
    const { route, store } = makeRoute({ subscriber: sub, sinks: [{ name: 's', sink }], maxInFlight: 40 });
    await route.start();
    await until(() => sink.pending.length > 0);
    const stopping = route.stop(5000);
    await tick();
    sink.auto = true;
    sink.ackAll();
    expect(await stopping).toBe(true);
    const last = sink.written[sink.written.length - 1]?.replayId;
    expect(store.positions.get('k')?.replayId).toBe(last);
    expect(route.status().inFlight).toBe(0);
  });

  it('sinkOutage dead-letter: a sink failing for longer than `after` has its events dead-lettered and the route commits past them', async () => {
    const dlq = new FileDeadLetterStore({ type: 'file', dir: tempDir(), fsync: true });
    const down = {
      async open() {},
      async write() {
        throw new RetriableError('DOWN', 'receiver down');
      },
      async drain() {},
      async close() {},
      describe: () => 'down',
    };
    const sub = new ScriptedSubscriber(30, 10, true);
    const { route, store } = makeRoute({
      subscriber: sub,
      sinks: [{ name: 'down#0', sink: down }],
      deadLetters: dlq,
      outage: { mode: 'dead-letter', afterMs: 100 },
    });
    await route.start();
    expect(await route.done).toBe('ended');
    const dl = await dlq.list();
    expect(dl.map((d) => d.envelope?.eventId)).toEqual(Array.from({ length: 30 }, (_, i) => `e${i}`));
    expect(dl[0]).toMatchObject({ route: 'k', sink: 'down#0' });
    expect(dl[0]?.error).toMatch(/receiver down/);
    expect(store.positions.get('k')?.replayId).toBe('r29');
    expect(route.status().sinks[0]?.eventsDeadLettered).toBe(30);
  });

  it('sinkOutage block (default): a failing sink holds the commit, nothing is dead-lettered', async () => {
    let fail = true;
    const flaky = {
      async open() {},
      async write() {
        if (fail) throw new RetriableError('DOWN', 'receiver down');
      },
      async drain() {},
      async close() {},
      describe: () => 'flaky',
    };
    const { route, store } = makeRoute({ subscriber: new ScriptedSubscriber(10, 10, true), sinks: [{ name: 'flaky#0', sink: flaky }] });
    await route.start();
    await new Promise((r) => setTimeout(r, 300));
    expect(store.positions.get('k')).toBeUndefined();
    fail = false;
    expect(await route.done).toBe('ended');
    expect(store.positions.get('k')?.replayId).toBe('r9');
  });

  it('a sink that throws a programming error (TypeError) fails its route once, with the error: it is not retried', async () => {
    const sink = new ManualSink();
    sink.auto = true;
    sink.failNext = 1_000;
    sink.failWith = new TypeError("Cannot read properties of undefined (reading 'topic')");
    const { log, capture } = captureLogger('info');
    const { route, store } = makeRoute({ subscriber: new ScriptedSubscriber(10, 10), sinks: [{ name: 's', sink }], log });
    await route.start();
    await until(() => route.status().state === 'failed');
    expect(sink.writes).toBe(1);
    const logged = capture.lines().find((l) => /programming error/.test(String(l.msg)));
    expect((logged?.err as { stack?: string })?.stack).toMatch(/^TypeError: Cannot read properties of undefined/);
    expect(route.status().error).toMatch(/Cannot read properties of undefined/);
    expect(store.commits).toHaveLength(0);
  });

  it('an error inside delivery (events to dead-letter, no dead-letter store) fails the route instead of escaping', async () => {
    const rejecting = {
      describe: () => 'rejects everything',
      async open() {},
      async drain() {},
      async close() {},
      write: async (batch: readonly unknown[]) => batch.map(() => ({ status: 'rejected' as const, error: 'bad event' })),
    };
    const { route } = makeRoute({ subscriber: new ScriptedSubscriber(5, 5), sinks: [{ name: 'r', sink: rejecting }] });
    await route.start();
    await until(() => route.status().state === 'failed');
    expect(route.status().error).toMatch(/no dead-letter store/);
  });
});
