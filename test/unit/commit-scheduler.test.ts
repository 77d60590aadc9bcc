import { describe, expect, it } from 'vitest';
import { BridgeError, RetriableError } from '../../src/errors.js';
import { CommitScheduler, type CommitSchedulerOptions } from '../../src/pipeline/commit-scheduler.js';
import type { CommitRequest, StoredPosition } from '../../src/positions.js';
import { until } from '../helpers/fakes.js';

const pos = (id: string) => ({ replayId: id, eventTime: null });

function scheduler(over: Partial<CommitSchedulerOptions> = {}) {
  const written: string[] = [];
  const events: number[] = [];
  const seen = { down: 0, up: 0, fatal: null as unknown };
  let fail: Error | null = null;
  const s = new CommitScheduler({
    intervalMs: 20,
    maxEvents: 100,
    write: async (t: CommitRequest): Promise<StoredPosition> => {
      if (fail) throw fail;
      written.push(t.replayId);
      return { key: 'k', ...t, committedAt: new Date().toISOString() };
    },
    onCommitted: (_s, n) => events.push(n),
    onStoreDown: () => seen.down++,
    onStoreUp: () => seen.up++,
    onFatal: (err) => {
      seen.fatal = err;
    },
    active: () => true,
    ...over,
  });
  return { s, written, events, seen, setFail: (e: Error | null) => (fail = e) };
}

describe('commit scheduler', () => {
  it('group-commits: many offers within the interval become one write of the newest position', async () => {
    const { s, written, events } = scheduler();
    for (let i = 1; i <= 10; i++) s.offer(pos(String(i)), 1);
    await until(() => written.length === 1, 2000, 'one write');
    expect(written).toEqual(['10']);
    expect(events).toEqual([10]);
    s.stop();
  });

  it('writes at once when maxEvents were acknowledged', async () => {
    const { s, written } = scheduler({ intervalMs: 60_000 });
    s.offer(pos('a'), 100);
    await until(() => written.length === 1, 2000, 'immediate write');
    expect(written).toEqual(['a']);
    s.stop();
  });

  it('a store failure is reported, retried with backoff, and recovery reported once', async () => {
    const { s, written, seen, setFail } = scheduler();
    setFail(new RetriableError('DOWN', 'store down'));
    s.offer(pos('a'), 1);
    await until(() => seen.down >= 2, 5000, 'two failed attempts');
    expect(s.storeDown).toBe(true);
    setFail(null);
    s.offer(pos('b'), 1);
    await until(() => written.length === 1, 10_000, 'write after recovery');
    expect(written).toEqual(['b']);
    expect(seen.up).toBe(1);
    expect(s.storeDown).toBe(false);
    s.stop();
  });

  it('a permanent failure (fenced) goes to onFatal and is not retried', async () => {
    const { s, seen, setFail } = scheduler();
    const fenced = new BridgeError('FENCED', 'fenced');
    setFail(fenced);
    s.offer(pos('a'), 1);
    await s.flush();
    expect(seen.fatal).toBe(fenced);
    expect(seen.down).toBe(0);
    s.stop();
  });

  it('flush writes nothing when there is no news', async () => {
    const { s, written } = scheduler();
    await s.flush();
    s.offer(pos('a'), 1);
    await s.flush();
    await s.flush();
    expect(written).toEqual(['a']);
    s.stop();
  });
});
