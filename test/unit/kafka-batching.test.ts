import { describe, expect, it } from 'vitest';
import { BATCH_OVERHEAD, type Outgoing, pack, recordBytes, tooLarge } from '../../src/sinks/kafka/batching.js';

const rec = (index: number, bytes: number, topic = 't'): Outgoing => ({ index, topic, bytes, message: { topic, value: 'x', headers: {} } });

describe('kafka batching', () => {
  it('packs records in order into requests that stay under the topic limit', () => {
    const records = Array.from({ length: 10 }, (_, i) => rec(i, 300));
    const chunks = pack(records, () => 1000 + BATCH_OVERHEAD);
    expect(chunks.map((c) => c.map((r) => r.index))).toEqual([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]);
    for (const c of chunks) expect(c.reduce((n, r) => n + r.bytes, 0)).toBeLessThanOrEqual(1000);
  });

  it('uses the smallest limit of the topics in one request, and a count cap', () => {
    const limits: Record<string, number> = { big: 10_000 + BATCH_OVERHEAD, small: 500 + BATCH_OVERHEAD };
    const chunks = pack([rec(0, 400, 'big'), rec(1, 400, 'small'), rec(2, 400, 'big')], (t) => limits[t] as number);
    expect(chunks.map((c) => c.map((r) => r.index))).toEqual([[0], [1], [2]]);
    expect(pack([rec(0, 1), rec(1, 1), rec(2, 1)], () => 1e9, 2).map((c) => c.length)).toEqual([2, 1]);
  });

  it('a record larger than its topic allows is told apart; sizes count key, value and headers', () => {
    expect(tooLarge(rec(0, 2000), () => 1000 + BATCH_OVERHEAD)).toBe(true);
    expect(tooLarge(rec(0, 1000), () => 1000 + BATCH_OVERHEAD)).toBe(false);
    const bytes = recordBytes({ key: 'k', value: 'é'.repeat(10), headers: { h: 'v' } });
    expect(bytes).toBeGreaterThan(1 + 20 + 2);
  });
});
