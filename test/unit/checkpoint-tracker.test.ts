import { describe, expect, it } from 'vitest';
import { CheckpointTracker } from '../../src/pipeline/checkpoint-tracker.js';

const pos = (id: string) => ({ replayId: id, eventTime: null });

describe('checkpoint tracker', () => {
  it('passes a position only when it and everything before it is acknowledged by every sink', () => {
    const t = new CheckpointTracker();
    const a = t.add(2, pos('a'), 2);
    const b = t.add(3, pos('b'), 2);
    expect(t.inFlight).toBe(5);
    expect(t.ack(b)).toBe(0); // one of two sinks
    expect(t.ack(b)).toBe(3); // both: b is acknowledged…
    expect(t.advance()).toBeNull(); // …but a is not, so the head cannot move
    expect(t.ack(a)).toBe(0);
    expect(t.ack(a)).toBe(2);
    expect(t.advance()).toEqual({ position: pos('b'), events: 5 });
    expect(t.size).toBe(0);
    expect(t.inFlight).toBe(0);
  });

  it('ignores repeated acknowledgements', () => {
    const t = new CheckpointTracker();
    const a = t.add(1, pos('a'), 1);
    expect(t.ack(a)).toBe(1);
    expect(t.ack(a)).toBe(0);
    expect(t.ack(99)).toBe(0);
  });

  it('a marker-only batch moves the head without a position; a keepalive carries one without events', () => {
    const t = new CheckpointTracker();
    const a = t.add(1, pos('a'), 1);
    const marker = t.add(1, null, 1);
    t.ack(a);
    t.ack(marker);
    expect(t.advance()).toEqual({ position: pos('a'), events: 2 });
    t.add(0, pos('keepalive'), 0);
    expect(t.advance()).toEqual({ position: pos('keepalive'), events: 0 });
  });

  it('never passes an unacknowledged entry, whatever arrives after it', () => {
    const t = new CheckpointTracker();
    const seqs = Array.from({ length: 100 }, (_, i) => t.add(1, pos(String(i)), 1));
    for (const s of seqs.slice(1).reverse()) t.ack(s);
    t.add(0, pos('keepalive'), 0);
    expect(t.advance()).toBeNull();
    t.ack(seqs[0] as number);
    expect(t.advance()).toEqual({ position: pos('keepalive'), events: 100 });
  });
});
