/**
 * The one retry / outage / dead-letter policy (src/pipeline/delivery-policy.ts) on a controlled
 * clock: Retry-After capped, a schedule that runs out, `unavailable` on block vs dead-letter
 * routes, and per-key order while retrying. No services, no sleeps.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DeadLetterInput, DeadLetterStore } from '../../src/deadletter/types.js';
import type { Envelope } from '../../src/envelope.js';
import { silentLogger } from '../../src/log.js';
import { DeliveryPolicy, type DeliveryResult } from '../../src/pipeline/delivery-policy.js';
import type { EventOutcome, RetrySchedule, Sink } from '../../src/sinks/types.js';
import { event } from '../helpers/fakes.js';

const S = 1000;

/** A sink that answers each write from a script, and records what it was given and when. */
class ScriptedSink implements Sink {
  writes: Array<{ at: number; ids: string[] }> = [];
  constructor(
    private readonly answer: (events: readonly Envelope[], attempt: number) => EventOutcome[],
    readonly retry?: RetrySchedule,
  ) {}
  async open() {}
  async drain() {}
  async close() {}
  describe() {
    return 'scripted';
  }
  async write(events: readonly Envelope[]) {
    this.writes.push({ at: Date.now(), ids: events.map((e) => e.eventId) });
    return this.answer(events, this.writes.length);
  }
}

class MemoryDeadLetters implements DeadLetterStore {
  added: DeadLetterInput[] = [];
  async open() {}
  async close() {}
  describe() {
    return 'memory';
  }
  async add(entries: DeadLetterInput[]) {
    this.added.push(...entries);
    return [];
  }
  async list() {
    return [];
  }
  async remove() {
    return 0;
  }
}

function policy(sink: Sink, outage: 'block' | 'dead-letter', afterMs = Number.POSITIVE_INFINITY) {
  const deadLetters = new MemoryDeadLetters();
  const p = new DeliveryPolicy({
    sink,
    name: 's#0',
    route: 'r',
    outage: { mode: outage, afterMs },
    deadLetters,
    log: silentLogger(),
  });
  return { p, deadLetters };
}

/** Run a delivery to its end, moving the fake clock from timer to timer. */
async function run(p: DeliveryPolicy, events: Envelope[]): Promise<DeliveryResult> {
  let result: DeliveryResult | undefined;
  void p.deliver(events).then((r) => {
    result = r;
  });
  for (let i = 0; i < 100 && !result; i++) await vi.advanceTimersToNextTimerAsync();
  return result as DeliveryResult;
}

const ok = (events: readonly Envelope[]): EventOutcome[] => events.map(() => ({ status: 'delivered' }));

describe('delivery policy', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-12-05T12:00:00Z'));
  });
  afterEach(() => vi.useRealTimers());

  it("honours Retry-After, capped at the sink's maxRetryAfter", async () => {
    const schedule = { delaysMs: [1 * S, 1 * S, 1 * S], jitter: 0, maxRetryAfterMs: 30 * S };
    const sink = new ScriptedSink(
      (events, attempt) => (attempt === 1 ? events.map(() => ({ status: 'retry', error: '429', retryAfterMs: 3_600 * S })) : ok(events)),
      schedule,
    );
    const { p } = policy(sink, 'block');
    expect(await run(p, [event(1)])).toMatchObject({ done: true });
    expect((sink.writes[1]?.at ?? 0) - (sink.writes[0]?.at ?? 0)).toBe(30 * S);
  });

  it('a dead-letter route sets events aside when the schedule runs out; a block route keeps the last delay', async () => {
    const schedule = { delaysMs: [1 * S, 2 * S], jitter: 0, maxRetryAfterMs: 0 };
    const down = () => new ScriptedSink((events) => events.map(() => ({ status: 'retry', error: '503' })), schedule);
    const dl = down();
    const { p, deadLetters } = policy(dl, 'dead-letter');
    expect(await run(p, [event(1), event(2)])).toMatchObject({ done: true });
    expect(dl.writes.map((w) => w.at - (dl.writes[0]?.at ?? 0))).toEqual([0, 1 * S, 3 * S]);
    expect(deadLetters.added.map((d) => d.envelope?.eventId)).toEqual([event(1).eventId, event(2).eventId]);
    expect(deadLetters.added[0]?.error).toMatch(/not delivered after 3 attempts; last error: 503/);

    const bl = down();
    const block = policy(bl, 'block');
    void block.p.deliver([event(1)]);
    for (let i = 0; i < 5; i++) await vi.advanceTimersToNextTimerAsync();
    expect(bl.writes.map((w) => w.at - (bl.writes[0]?.at ?? 0))).toEqual([0, 1 * S, 3 * S, 5 * S, 7 * S, 9 * S]);
    expect(block.deadLetters.added).toHaveLength(0);
    expect(block.p.consecutiveFailures).toBe(6);
  });

  it('unavailable stops a block route (nothing acknowledged) and dead-letters on a dead-letter route', async () => {
    const gone = () => new ScriptedSink((events) => events.map(() => ({ status: 'unavailable', error: '410 Gone' })));
    const block = policy(gone(), 'block');
    const r = await run(block.p, [event(1)]);
    expect('fatal' in r && String((r.fatal as Error).message)).toMatch(/410 Gone.*sinkOutage\.mode: block/);
    expect(block.deadLetters.added).toHaveLength(0);
    const dl = policy(gone(), 'dead-letter');
    expect(await run(dl.p, [event(1), event(2)])).toMatchObject({ done: true });
    expect(dl.deadLetters.added).toHaveLength(2);
  });

  it('retries only what was not delivered, before anything later, so per-key order holds', async () => {
    // Event 2 fails once; 1 and 3 are delivered the first time. The retry carries 2 alone, and the
    // policy returns only when it is delivered: the writer writes nothing later until then.
    const sink = new ScriptedSink((events, attempt) =>
      events.map((e) => (attempt === 1 && e.eventId === event(2).eventId ? { status: 'retry', error: '500' } : { status: 'delivered' })),
    );
    const { p } = policy(sink, 'block');
    expect(await run(p, [event(1), event(2), event(3)])).toMatchObject({ done: true });
    expect(sink.writes.map((w) => w.ids)).toEqual([[event(1).eventId, event(2).eventId, event(3).eventId], [event(2).eventId]]);
  });

  it('a dead-letter route gives up after sinkOutage.after even without a schedule', async () => {
    const sink = new ScriptedSink((events) => events.map(() => ({ status: 'retry', error: 'timeout' })));
    const { p, deadLetters } = policy(sink, 'dead-letter', 10 * S);
    expect(await run(p, [event(1)])).toMatchObject({ done: true });
    expect(Date.now() - (sink.writes[0]?.at ?? 0)).toBeGreaterThanOrEqual(10 * S);
    expect(deadLetters.added[0]?.error).toMatch(/sink down for longer than sinkOutage.after/);
  });
});
