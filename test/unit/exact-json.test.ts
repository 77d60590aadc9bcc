import { describe, expect, it } from 'vitest';
import { parseExact, quoteUnsafeIntegers } from '../../src/subscribers/cometd/exact-json.js';

describe('exact JSON for CometD', () => {
  it('integers beyond 2^53 become exact strings; everything else parses as JSON.parse does', () => {
    const text =
      '[{"commitNumber":1725346778429841409,"n":-9007199254740993,"safe":9007199254740991,"f":12345678901234567.5,"e":1e21,"s":"1725346778429841409 \\" 99999999999999999","a":[18014398509481985, 3]}]';
    expect(parseExact(text)).toEqual([
      {
        commitNumber: '1725346778429841409',
        n: '-9007199254740993',
        safe: 9007199254740991,
        f: Number('12345678901234567.5'),
        e: 1e21,
        s: '1725346778429841409 " 99999999999999999',
        a: ['18014398509481985', 3],
      },
    ]);
    const plain = '{"a":1,"b":"x","c":[1.5,-2,true,null]}';
    expect(quoteUnsafeIntegers(plain)).toBe(plain);
    expect(parseExact(plain)).toEqual(JSON.parse(plain));
  });
});
