/**
 * Avro `long` as the envelope carries it: a JSON number within ±2^53, a decimal string beyond
 * (commitNumber and other Salesforce longs can exceed 2^53). Reading gives the same; writing
 * takes a number, a decimal string or a bigint. Shared by the Pub/Sub decoder and the Kafka
 * sink's Avro encoder, so a long survives the round trip exactly.
 */
import avro from 'avsc';

const MAX = BigInt(Number.MAX_SAFE_INTEGER);
const MIN = -MAX;

export const ExactLong = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => {
    const v = buf.readBigInt64LE();
    return v <= MAX && v >= MIN ? Number(v) : v.toString();
  },
  toBuffer: (n: number | string | bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt(n));
    return b;
  },
  fromJSON: (x: unknown) => x,
  toJSON: (x: unknown) => x,
  isValid: (x: unknown) =>
    (typeof x === 'number' && Number.isInteger(x)) || typeof x === 'bigint' || (typeof x === 'string' && /^-?\d+$/.test(x)),
  compare: (a: number | string, b: number | string) => {
    const x = BigInt(a);
    const y = BigInt(b);
    return x === y ? 0 : x < y ? -1 : 1;
  },
});
