import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { parseSchema } from '../../src/subscribers/pubsub/avro.js';

/** The payload rule written plainly (the generated code must give the same JSON, byte for byte). */
function reference(rec: Record<string, unknown>, nulled: ReadonlySet<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(rec)) {
    if (k === 'ChangeEventHeader') continue;
    const v = rec[k];
    if (v === null || v === undefined) {
      if (nulled.has(k)) out[k] = null;
    } else if (typeof v !== 'object') out[k] = v;
    else if (Buffer.isBuffer(v)) out[k] = v.toString('base64');
    else if (Array.isArray(v)) out[k] = v;
    else {
      const inner: Record<string, unknown> = {};
      for (const [ik, iv] of Object.entries(v as Record<string, unknown>)) {
        if (iv !== null && iv !== undefined) inner[ik] = iv;
        else if (nulled.has(`${k}.${ik}`)) inner[ik] = null;
      }
      out[k] = inner;
    }
  }
  return out;
}

const address = {
  type: 'record',
  name: 'Address',
  fields: ['Street', 'City', 'PostalCode'].map((name) => ({ name, type: ['null', 'string'], default: null })),
};
const schema = {
  type: 'record',
  name: 'Thing__ChangeEvent',
  namespace: 'com.sforce.eventbus',
  fields: [
    {
      name: 'ChangeEventHeader',
      type: {
        type: 'record',
        name: 'ChangeEventHeader',
        fields: [
          { name: 'entityName', type: 'string' },
          // Field names stand in for bitmaps here (decodeBitmapFields keeps a name as it is).
          { name: 'nulledFields', type: { type: 'array', items: 'string' } },
        ],
      },
    },
    { name: 'Name', type: ['null', 'string'], default: null },
    { name: 'Amount__c', type: ['null', 'double'], default: null },
    { name: 'Big__c', type: ['null', 'long'], default: null },
    { name: 'Flag__c', type: ['null', 'boolean'], default: null },
    { name: 'Blob__c', type: ['null', 'bytes'], default: null },
    { name: 'BillingAddress', type: ['null', address], default: null },
    { name: 'Tags__c', type: ['null', { type: 'array', items: 'string' }], default: null },
    { name: 'Attrs__c', type: ['null', { type: 'map', values: ['null', 'string'] }], default: null },
    { name: 'Stage__c', type: ['null', { type: 'enum', name: 'Stage', symbols: ['Open', 'Closed'] }], default: null },
    { name: 'Either__c', type: ['null', 'string', 'double'], default: null },
    { name: 'Plain__c', type: 'string' },
  ],
};

const parsed = parseSchema('s1', JSON.stringify(schema));
const writer = avro.Type.forSchema(schema as avro.Schema, { wrapUnions: false });

function encode(value: Record<string, unknown>, nulled: string[]): Buffer {
  const full: Record<string, unknown> = { ChangeEventHeader: { entityName: 'Thing__c', nulledFields: nulled }, Plain__c: 'p' };
  for (const f of schema.fields) if (!(f.name in full)) full[f.name] = null;
  return writer.toBuffer({ ...full, ...value });
}

describe('Pub/Sub payload (generated per schema)', () => {
  const cases: Array<[string, Record<string, unknown>, string[]]> = [
    [
      'all set',
      {
        Name: 'Ünï "q" \\ \n',
        Amount__c: 1.5,
        Big__c: 2 ** 40 + 3,
        Flag__c: false,
        Blob__c: Buffer.from([0, 1, 255]),
        BillingAddress: { Street: 'S', City: null, PostalCode: 'P' },
        Tags__c: ['a', 'b'],
        Attrs__c: { k: 'v', n: null },
        Stage__c: 'Open',
        Either__c: 3,
      },
      [],
    ],
    ['nulls dropped, nulled kept', { Name: null, Amount__c: 0 }, ['Name', 'Flag__c']],
    ['nulled sub-field of a compound field', { BillingAddress: { Street: null, City: 'C', PostalCode: null } }, ['BillingAddress.Street']],
    ['nothing set', {}, []],
  ];
  for (const [name, value, nulledList] of cases)
    it(name, () => {
      const buf = encode(value, nulledList);
      const rec = parsed.type.fromBuffer(buf) as Record<string, unknown>;
      const nulled = new Set(nulledList);
      const want = JSON.stringify(reference(rec, nulled));
      expect(JSON.stringify(parsed.payloadOf(rec, nulled))).toBe(want);
      // The one-pass decoder: the same payload, and the header as avsc reads it.
      const direct = parsed.direct?.(buf);
      expect(JSON.stringify(direct?.payload)).toBe(want);
      expect(direct?.header).toEqual(rec.ChangeEventHeader);
    });

  it('the one-pass decoder refuses truncated bytes, trailing bytes and a bad union index', () => {
    const buf = encode({ Name: 'n' }, []);
    expect(() => parsed.direct?.(buf.subarray(0, buf.length - 1))).toThrow(/truncated/);
    expect(() => parsed.direct?.(Buffer.concat([buf, Buffer.from([0])]))).toThrow(/trailing/);
    // Name is the first field after the header (entityName "Thing__c": 1 + 8 bytes; empty array: 1 byte).
    const bad = Buffer.from(buf);
    bad[10] = 6; // union index 3 (zigzag): Name has branches 0 and 1 only
    expect(() => parsed.direct?.(bad)).toThrow(/invalid union index 3 for field Name/);
  });

  it('a schema whose header is not first keeps the two-step path', () => {
    const moved = { ...schema, fields: [...schema.fields.slice(1), schema.fields[0]] };
    expect(parseSchema('m', JSON.stringify(moved)).direct).toBeNull();
  });

  it('a 600-field schema with random values gives the same JSON as the plain rule', () => {
    const kinds = ['string', 'double', 'boolean', 'long'];
    const wide = {
      type: 'record',
      name: 'Wide__ChangeEvent',
      fields: Array.from({ length: 600 }, (_, i) => ({ name: `F${i}__c`, type: ['null', kinds[i % 4]], default: null })),
    };
    const p = parseSchema('w', JSON.stringify(wide));
    const w = avro.Type.forSchema(wide as avro.Schema, { wrapUnions: false });
    let seed = 7;
    const rand = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    for (let n = 0; n < 20; n++) {
      const v: Record<string, unknown> = {};
      const nulled = new Set<string>();
      wide.fields.forEach((f, i) => {
        const r = rand();
        if (r < 0.5) v[f.name] = null;
        else v[f.name] = [`s${r}`, r * 1000, r > 0.75, Math.floor(r * 1e15)][i % 4];
        if (r < 0.05) nulled.add(f.name);
      });
      const buf = w.toBuffer(v);
      const rec = p.type.fromBuffer(buf) as Record<string, unknown>;
      const want = JSON.stringify(reference(rec, nulled));
      expect(JSON.stringify(p.payloadOf(rec, nulled))).toBe(want);
      // No header in this schema, so nothing is nulled for the one-pass decoder.
      expect(JSON.stringify(p.direct?.(buf).payload)).toBe(JSON.stringify(reference(rec, new Set())));
    }
  });
});
