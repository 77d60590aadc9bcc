import { describe, expect, it } from 'vitest';
import { isoTime } from '../../src/iso-time.js';

describe('isoTime', () => {
  it('gives exactly what Date#toISOString gives', () => {
    const samples = [
      0, 1, 999, 1000, 59_999, 86_399_999, 86_400_000, 951_782_400_000, 1_700_000_000_123, 253_402_300_799_999, 253_402_300_800_000, -1,
      -86_400_001, 8.64e15, -8.64e15, 1.5, 1_700_000_000_000.7,
    ];
    let seed = 11;
    for (let i = 0; i < 20_000; i++) {
      seed = (seed * 48271) % 2147483647;
      samples.push(Math.floor((seed / 2147483647) * 4e12));
    }
    // Same day twice, then back to an earlier day: the cached day must follow.
    samples.push(1_700_000_000_000, 1_700_000_001_000, 1_600_000_000_000);
    for (const ms of samples) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });
});
