/** A Kafka source's position: the next offset of every partition as of each event (src/subscribers/kafka/offsets.ts). */
import { describe, expect, it } from 'vitest';
import { OffsetVector, parseOffsets } from '../../src/subscribers/kafka/offsets.js';

describe('Kafka offset positions', () => {
  it('gives each event the whole vector as of it, whatever order partitions interleave in', () => {
    const v = new OffsetVector();
    const seen = [
      v.advance('a', 0, 0n),
      v.advance('a', 0, 1n),
      v.advance('a', 1, 7n),
      v.advance('b.x', 0, 3n),
      v.advance('a', 1, 8n),
      v.advance('a', 0, 2n),
      v.advance('a', 0, 3n),
    ];
    expect(seen).toEqual([
      'a:0=1',
      'a:0=2',
      'a:0=2,a:1=8',
      'a:0=2,a:1=8,b.x:0=4',
      'a:0=2,a:1=9,b.x:0=4',
      'a:0=3,a:1=9,b.x:0=4',
      'a:0=4,a:1=9,b.x:0=4',
    ]);
    expect(parseOffsets(seen[6] as string)).toEqual([
      { topic: 'a', partition: 0, offset: 4n },
      { topic: 'a', partition: 1, offset: 9n },
      { topic: 'b.x', partition: 0, offset: 4n },
    ]);
  });

  it('refuses a position that is not a Kafka offset vector', () => {
    expect(() => parseOffsets('AAAAAAAAAAE=')).toThrow(/not a Kafka offset position/);
    expect(parseOffsets('')).toEqual([]);
  });
});
