import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { envelopeBytes, envelopeJson, JsonPayload, payloadValue } from '../../src/envelope.js';
import { JsonWriter } from '../../src/json-writer.js';
import { type ParsedSchema, parseSchema } from '../../src/subscribers/pubsub/avro.js';
import { toEnvelope } from '../../src/subscribers/pubsub/decode.js';

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

const platformSchema = {
  type: 'record',
  name: 'Order_Event__e',
  fields: [
    { name: 'CreatedDate', type: 'long' },
    { name: 'CreatedById', type: 'string' },
    { name: 'EventUuid', type: ['null', 'string'], default: null },
    { name: 'Amount__c', type: ['null', 'double'], default: null },
  ],
};
const parsed = parseSchema('s1', JSON.stringify(schema));

/** The transcoder's result with the payload JSON it wrote. */
function tx(p: ParsedSchema, buf: Buffer) {
  const w = new JsonWriter();
  w.pos = 3; // not at the start of the buffer, as when a line writer holds something before it
  const t = (p.transcode as NonNullable<ParsedSchema['transcode']>)(buf, w);
  return { ...t, json: w.buf.toString('utf8', 3, w.pos) };
}
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
      // The transcoder: the same payload as JSON text, and the header as avsc reads it.
      const t = tx(parsed, buf);
      expect(t?.json).toBe(want);
      expect(t?.header).toEqual(rec.ChangeEventHeader);
    });

  it('the transcoder refuses truncated bytes, trailing bytes and a bad union index', () => {
    const buf = encode({ Name: 'n' }, []);
    expect(() => tx(parsed, buf.subarray(0, buf.length - 1))).toThrow(/truncated/);
    expect(() => tx(parsed, Buffer.concat([buf, Buffer.from([0])]))).toThrow(/trailing/);
    // Name is the first field after the header (entityName "Thing__c": 1 + 8 bytes; empty array: 1 byte).
    const bad = Buffer.from(buf);
    bad[10] = 6; // union index 3 (zigzag): Name has branches 0 and 1 only
    expect(() => tx(parsed, bad)).toThrow(/invalid union index 3 for field Name/);
    // A string length past the end of the bytes.
    const long = Buffer.from(buf);
    long[11] = 0x7e; // Name's length: 63 bytes, 1 left
    expect(() => tx(parsed, long)).toThrow(/truncated/);
  });

  it('a schema whose header is not first keeps the two-step path', () => {
    const moved = { ...schema, fields: [...schema.fields.slice(1), schema.fields[0]] };
    expect(parseSchema('m', JSON.stringify(moved)).transcode).toBeNull();
  });

  it('strings, longs and doubles of every awkward kind give JSON.stringify text', () => {
    const strings = [
      '',
      'plain',
      'q"uote',
      'back\\slash',
      'tab\tnew\nline',
      '\u0000\u001f\u007f',
      'é ü 中文 😀',
      '\u2028\u2029',
      'x'.repeat(70_000),
    ];
    const longs = [0, -1, 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 47, -(2 ** 48), 2 ** 48, 2 ** 49 + 7, 2 ** 52 - 1, -(2 ** 52) + 1];
    const doubles = [0, -0, 0.1, -1.5e-300, 1e21, 2 ** 53 + 2, Number.NaN, Number.POSITIVE_INFINITY, Number.MIN_VALUE];
    const n = Math.max(strings.length, longs.length, doubles.length);
    for (let i = 0; i < n; i++) {
      const buf = encode(
        { Name: strings[i % strings.length], Big__c: longs[i % longs.length], Amount__c: doubles[i % doubles.length] },
        [],
      );
      const rec = parsed.type.fromBuffer(buf) as Record<string, unknown>;
      expect(tx(parsed, buf).json).toBe(JSON.stringify(reference(rec, new Set())));
    }
    // Longs past 2^53 are decimal strings (the JsonSafeLong rule), read by avsc's reader.
    for (const value of ['1152921504606846976', '-9223372036854775808', '9007199254740993']) {
      const raw = parsed.type.toBuffer({
        ...Object.fromEntries(schema.fields.map((f) => [f.name, null])),
        ChangeEventHeader: { entityName: 'T', nulledFields: [] },
        Plain__c: 'p',
        Big__c: value,
      });
      expect(JSON.parse(tx(parsed, raw).json ?? '{}').Big__c).toBe(value);
    }
  });

  it('a platform event schema: no header, EventUuid and CreatedDate handed back as values', () => {
    const p = parseSchema('pe', JSON.stringify(platformSchema));
    const buf = avro.Type.forSchema(platformSchema as avro.Schema, { wrapUnions: false }).toBuffer({
      CreatedDate: 1_700_000_000_123,
      CreatedById: '005xx',
      EventUuid: 'u-1',
      Amount__c: null,
    });
    const t = tx(p, buf);
    expect(t?.header).toBeNull();
    expect(t?.eventUuid).toBe('u-1');
    expect(t?.createdDate).toBe(1_700_000_000_123);
    expect(t?.json).toBe('{"CreatedDate":1700000000123,"CreatedById":"005xx","EventUuid":"u-1"}');
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
        else v[f.name] = [r < 0.6 ? `s"é${r}` : `s${r}`, r * 1000, r > 0.75, Math.floor(r * 1e15)][i % 4];
        if (r < 0.05) nulled.add(f.name);
      });
      const buf = w.toBuffer(v);
      const rec = p.type.fromBuffer(buf) as Record<string, unknown>;
      const want = JSON.stringify(reference(rec, nulled));
      expect(JSON.stringify(p.payloadOf(rec, nulled))).toBe(want);
      // No header in this schema, so nothing is nulled for the transcoder.
      expect(tx(p, buf).json).toBe(JSON.stringify(reference(rec, new Set())));
    }
  });
});

describe('envelopes holding a JSON-text payload', () => {
  const raw = (payload: Buffer) => ({ event: { id: 'ev-1', schema_id: 's1', payload }, replay_id: Buffer.from([0, 0, 0, 0, 0, 0, 1, 2]) });
  const buf = encode({ Name: 'Ünï "q"', Amount__c: 2.5, BillingAddress: { Street: 'S', City: null, PostalCode: null } }, ['Flag__c']);

  it('envelopeJson gives JSON.stringify text of the same envelope with its payload parsed', () => {
    const e = toEnvelope(raw(buf), parsed, '/data/ThingChangeEvent', '00Dxx', '2026-11-29T00:00:00.000Z');
    expect(e.payload).toBeInstanceOf(JsonPayload);
    const plain = { ...e, payload: payloadValue(e) };
    expect(envelopeJson(e)).toBe(JSON.stringify(plain));
    expect(JSON.stringify(e)).toBe(JSON.stringify(plain));
    expect(payloadValue(e)).toEqual({ Name: 'Ünï "q"', Amount__c: 2.5, Flag__c: null, BillingAddress: { Street: 'S' }, Plain__c: 'p' });
  });

  it('a copy with keys after the payload keeps JSON.stringify key order', () => {
    const e = toEnvelope(raw(buf), parsed, '/data/ThingChangeEvent', '00Dxx', '2026-11-29T00:00:00.000Z');
    const copy = { ...e, enrichError: 'gone' };
    expect(envelopeJson(copy)).toBe(JSON.stringify({ ...copy, payload: payloadValue(e) }));
    expect(envelopeJson(copy).endsWith('"enrichError":"gone"}')).toBe(true);
  });
});

describe('envelope JSON bytes written at decode time (envelope-line.ts)', () => {
  const header = {
    type: 'record',
    name: 'ChangeEventHeader',
    fields: [
      { name: 'entityName', type: 'string' },
      { name: 'recordIds', type: { type: 'array', items: 'string' } },
      { name: 'changeType', type: 'string' },
      { name: 'changeOrigin', type: 'string' },
      { name: 'transactionKey', type: 'string' },
      { name: 'sequenceNumber', type: 'int' },
      { name: 'commitTimestamp', type: 'long' },
      { name: 'commitNumber', type: ['null', 'long'], default: null },
      { name: 'commitUser', type: 'string' },
      { name: 'nulledFields', type: { type: 'array', items: 'string' } },
      { name: 'diffFields', type: { type: 'array', items: 'string' } },
      { name: 'changedFields', type: { type: 'array', items: 'string' } },
    ],
  };
  const cdc = {
    type: 'record',
    name: 'Rich__ChangeEvent',
    fields: [
      { name: 'ChangeEventHeader', type: header },
      { name: 'Name', type: ['null', 'string'], default: null },
      { name: 'Score__c', type: ['null', 'double'], default: null },
    ],
  };
  const p = parseSchema('rich', JSON.stringify(cdc));
  const enc = avro.Type.forSchema(cdc as avro.Schema, { wrapUnions: false });
  const h = (over: Record<string, unknown>) => ({
    entityName: 'Rich__c',
    recordIds: ['a01000000000001AAA'],
    changeType: 'UPDATE',
    changeOrigin: 'com/salesforce/api/rest/63.0;client=x',
    transactionKey: 'tx-1',
    sequenceNumber: 1,
    commitTimestamp: 1_764_000_000_123,
    commitNumber: null,
    commitUser: '005000000000001AAA',
    nulledFields: [],
    diffFields: [],
    changedFields: ['0x06'],
    ...over,
  });
  const cases: Array<[string, Record<string, unknown>, Record<string, unknown>, string, string]> = [
    ['a plain update', h({}), { Name: 'A', Score__c: 1.25 }, '00Dxx', 'ev-1'],
    [
      'a commit number, several records, a nulled field',
      h({ commitNumber: 12345678901, recordIds: ['a', 'b'], nulledFields: ['0x04'] }),
      { Name: 'B' },
      '00Dxx',
      'ev-2',
    ],
    [
      'text to escape in every string',
      h({ entityName: 'É"\\', transactionKey: 'tab\t', commitUser: '\u2028', changeOrigin: '' }),
      { Name: '😀' },
      'org "quoted"',
      'ev\n3',
    ],
    ['a GAP event with no fields', h({ changeType: 'GAP_UPDATE', changedFields: [] }), {}, '00Dxx', ''],
  ];
  for (const [name, hdr, fields, org, id] of cases)
    it(name, () => {
      const bytes = enc.toBuffer({ ChangeEventHeader: hdr, Name: null, Score__c: null, ...fields });
      const e = toEnvelope(
        { event: { id, schema_id: 'rich', payload: bytes }, replay_id: Buffer.from([1, 2, 3]) },
        p,
        '/data/Rich__ChangeEvent',
        org,
        '2026-11-29T00:00:00.000Z',
      );
      const plain = JSON.stringify({ ...e, payload: payloadValue(e) });
      expect(envelopeBytes(e).toString('utf8')).toBe(plain);
      expect(envelopeJson(e)).toBe(plain);
      expect(JSON.stringify(e)).toBe(plain);
    });

  it('a platform event: no change header, EventUuid as the event id', () => {
    const ps = parseSchema('pe', JSON.stringify(platformSchema));
    const bytes = avro.Type.forSchema(platformSchema as avro.Schema, { wrapUnions: false }).toBuffer({
      CreatedDate: 1_764_000_000_000,
      CreatedById: '005xx',
      EventUuid: 'uuid-1',
      Amount__c: 2,
    });
    const e = toEnvelope(
      { event: { id: 'ev', schema_id: 'pe', payload: bytes }, replay_id: Buffer.from([9]) },
      ps,
      '/event/Order_Event__e',
      '00Dxx',
      '2026-11-29T00:00:00.000Z',
    );
    expect(e.eventId).toBe('uuid-1');
    expect(envelopeBytes(e).toString('utf8')).toBe(JSON.stringify({ ...e, payload: payloadValue(e) }));
  });
});
