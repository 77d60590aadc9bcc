/**
 * Avro schemas the emulator serves: CDC change events generated from object definitions (with the
 * real ChangeEventHeader layout) and platform events. Schema ids are derived from the schema text,
 * so they are stable across restarts and change when a schema changes. Also the bitmap encoding
 * of changedFields / nulledFields / diffFields that the Pub/Sub API uses.
 */
import { createHash } from 'node:crypto';
import avro from 'avsc';
import { COMPOUND_FIELDS, type FieldDef, type FieldType, type ObjectDef, type PlatformEventDef } from './objects.js';

export const CHANGE_TYPES = [
  'CREATE',
  'UPDATE',
  'DELETE',
  'UNDELETE',
  'GAP_CREATE',
  'GAP_UPDATE',
  'GAP_DELETE',
  'GAP_UNDELETE',
  'GAP_OVERFLOW',
] as const;
export type ChangeType = (typeof CHANGE_TYPES)[number];

export interface SchemaEntry {
  id: string;
  json: string;
  type: avro.Type;
  /** Top-level field names in schema order (bitmap bit i = field i). */
  fieldNames: string[];
  /** For compound top-level fields: their sub-field names in order. */
  compound: Map<string, string[]>;
}

function avroType(t: FieldType): unknown {
  switch (t) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'boolean';
    case 'int':
      return 'int';
    case 'double':
      return 'double';
    case 'long':
    case 'datetime':
    case 'date':
      return 'long';
    case 'address':
    case 'name':
      return null; // handled by compoundRecord
  }
}

function optionalField(fd: FieldDef, named: Set<string>): Record<string, unknown> {
  if (fd.type === 'address' || fd.type === 'name') {
    const recName = fd.type === 'address' ? 'Address' : 'Name';
    // Avro names must be defined once per schema; later uses refer to the name.
    const rec = named.has(recName)
      ? recName
      : {
          type: 'record',
          name: recName,
          fields: COMPOUND_FIELDS[fd.type].map((s) => ({ name: s.name, type: ['null', avroType(s.type)], default: null })),
        };
    named.add(recName);
    return { name: fd.name, type: ['null', rec], default: null };
  }
  return { name: fd.name, type: ['null', avroType(fd.type)], default: null };
}

/**
 * Avro long as Salesforce uses it: a commitNumber exceeds 2^53, so longs beyond the safe range are
 * BigInts (written exactly, decoded as BigInt); the others stay numbers.
 */
const ExactLong = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => {
    const v = buf.readBigInt64LE();
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
  },
  toBuffer: (n: number | bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt(n));
    return b;
  },
  fromJSON: (x: unknown) => x,
  toJSON: (x: unknown) => x,
  isValid: (x: unknown) => typeof x === 'bigint' || Number.isSafeInteger(x),
  compare: (a: number | bigint, b: number | bigint) => (BigInt(a) === BigInt(b) ? 0 : BigInt(a) < BigInt(b) ? -1 : 1),
});

function schemaId(json: string): string {
  return createHash('sha256').update(json).digest('base64url').slice(0, 22);
}

function entry(schema: Record<string, unknown>, fields: FieldDef[], headerFirst: boolean, withUuid = false): SchemaEntry {
  // Salesforce's platform event schemas carry their id as a top-level "uuid" (test/fixtures/salesforce).
  const id = schemaId(JSON.stringify(schema));
  const json = JSON.stringify(withUuid ? { ...schema, uuid: id } : schema);
  const compound = new Map<string, string[]>();
  for (const fd of fields)
    if (fd.type === 'address' || fd.type === 'name')
      compound.set(
        fd.name,
        COMPOUND_FIELDS[fd.type].map((s) => s.name),
      );
  return {
    id,
    json,
    type: avro.Type.forSchema(schema as avro.Schema, { wrapUnions: false, registry: { long: ExactLong as unknown as avro.Type } }),
    fieldNames: [...(headerFirst ? ['ChangeEventHeader'] : []), ...fields.map((x) => x.name)],
    compound,
  };
}

export function cdcSchema(obj: ObjectDef): SchemaEntry {
  const named = new Set<string>();
  const schema = {
    type: 'record',
    name: `${obj.name.replace(/__c$/, '__')}ChangeEvent`,
    namespace: 'com.sforce.eventbus',
    fields: [
      {
        name: 'ChangeEventHeader',
        type: {
          type: 'record',
          name: 'ChangeEventHeader',
          fields: [
            { name: 'entityName', type: 'string' },
            { name: 'recordIds', type: { type: 'array', items: 'string' } },
            {
              name: 'changeType',
              type: { type: 'enum', name: 'ChangeType', namespace: 'com.sforce.eventbus', symbols: [...CHANGE_TYPES] },
            },
            { name: 'changeOrigin', type: 'string' },
            { name: 'transactionKey', type: 'string' },
            { name: 'sequenceNumber', type: 'int' },
            { name: 'commitTimestamp', type: 'long' },
            { name: 'commitNumber', type: 'long' },
            { name: 'commitUser', type: 'string' },
            { name: 'nulledFields', type: { type: 'array', items: 'string' } },
            { name: 'diffFields', type: { type: 'array', items: 'string' } },
            { name: 'changedFields', type: { type: 'array', items: 'string' } },
          ],
        },
      },
      ...obj.fields.map((fd) => optionalField(fd, named)),
    ],
  };
  return entry(schema, obj.fields, true);
}

export function platformEventSchema(pe: PlatformEventDef): SchemaEntry {
  const named = new Set<string>();
  const fields: FieldDef[] = [
    { name: 'CreatedDate', type: 'datetime' },
    { name: 'CreatedById', type: 'string' },
    { name: 'EventUuid', type: 'string' },
    ...pe.fields,
  ];
  const schema = {
    type: 'record',
    name: pe.name,
    namespace: 'com.sforce.eventbus',
    fields: [
      // The standard fields' "doc" says their Salesforce type, as GetSchema returns them.
      { name: 'CreatedDate', type: 'long', doc: 'CreatedDate:DateTime' },
      { name: 'CreatedById', type: 'string', doc: 'CreatedBy:EntityId' },
      { name: 'EventUuid', type: ['null', 'string'], default: null },
      ...pe.fields.map((fd) => optionalField(fd, named)),
    ],
  };
  return entry(schema, fields, false, true);
}

/**
 * Encode field names as Salesforce's bitmap list: first element `0x<hex>` for top-level fields,
 * then `<parentIndex>-0x<hex>` per compound parent for `Parent.Child` names.
 */
export function encodeFieldBitmap(schema: SchemaEntry, names: readonly string[]): string[] {
  if (names.length === 0) return [];
  let top = 0n;
  const nested = new Map<number, bigint>();
  for (const name of names) {
    const dot = name.indexOf('.');
    if (dot > 0) {
      const parent = name.slice(0, dot);
      const pIdx = schema.fieldNames.indexOf(parent);
      const subs = schema.compound.get(parent);
      const cIdx = subs ? subs.indexOf(name.slice(dot + 1)) : -1;
      if (pIdx < 0 || cIdx < 0) throw new Error(`unknown field ${name}`);
      nested.set(pIdx, (nested.get(pIdx) ?? 0n) | (1n << BigInt(cIdx)));
    } else {
      const idx = schema.fieldNames.indexOf(name);
      if (idx < 0) throw new Error(`unknown field ${name}`);
      top |= 1n << BigInt(idx);
    }
  }
  const out = [`0x${wholeBytes(top)}`];
  for (const [p, bits] of [...nested.entries()].sort(([a], [b]) => a - b)) out.push(`${p}-0x${wholeBytes(bits)}`);
  return out;
}

/**
 * Upper-case hex in whole bytes, as Salesforce writes bitmaps (`0x650004E0`, `7-0x06`): clients
 * such as the official examples read the digits two at a time.
 */
function wholeBytes(bits: bigint): string {
  const hex = bits.toString(16).toUpperCase();
  return hex.length % 2 === 1 ? `0${hex}` : hex;
}

/** The inverse of encodeFieldBitmap (the emulator uses it to serve CometD, which sends names). */
export function decodeFieldBitmap(schema: SchemaEntry, bitmaps: readonly string[]): string[] {
  const names: string[] = [];
  for (const item of bitmaps) {
    const m = /^(?:(\d+)-)?0x([0-9A-Fa-f]+)$/.exec(item);
    if (!m) {
      names.push(item);
      continue;
    }
    let bits = BigInt(`0x${m[2]}`);
    const parent = m[1] === undefined ? null : schema.fieldNames[Number(m[1])];
    const subs = parent ? (schema.compound.get(parent) ?? []) : schema.fieldNames;
    for (let i = 0; bits > 0n; i++, bits >>= 1n) {
      if (bits & 1n) {
        const n = subs[i];
        if (n !== undefined) names.push(parent ? `${parent}.${n}` : n);
      }
    }
  }
  return names;
}
