/**
 * Avro bytes -> the envelope payload's JSON text (UTF-8, into a JsonWriter) in one pass,
 * generated per schema.
 *
 * Why: building the payload as JavaScript objects and strings only for `JSON.stringify` to turn
 * them back into text was most of the bridge's per-event work (a string per field, an object per
 * event, then garbage to collect). Here each field goes from its Avro bytes straight to JSON text
 * in a reused buffer: ASCII strings are copied byte for byte, numbers written as JavaScript
 * writes them; anything unusual (non-ASCII or escaped text, arrays, maps, unions of several types)
 * is decoded with avsc's own reader and written by JSON.stringify. The copy rules are payload.ts's
 * (nulls dropped unless the header nulls the field, bytes as base64, compound fields with their
 * own nulls dropped), and the text equals `JSON.stringify(payloadOf(record))` byte for byte
 * (pubsub-payload.test.ts compares them). It needs ChangeEventHeader (when present) to be the
 * first field, so the nulled fields are known before the fields they name; Salesforce puts it
 * first, and a schema that does not keeps avsc's two-step path.
 */
import type avro from 'avsc';
import avscUtils from 'avsc/lib/utils.js';
import type { JsonWriter } from '../../json-writer.js';
import { anyValue, type Copy, copyOf } from './payload.js';

export interface Transcoded {
  /** The raw ChangeEventHeader record; null when the schema has none (platform events). */
  header: Record<string, unknown> | null;
  /** A platform event's EventUuid and CreatedDate values (decode.ts reads them), when present. */
  eventUuid: unknown;
  createdDate: unknown;
}
/** Decode `buf`, writing the payload's JSON object at the writer's position. */
export type Transcode = (buf: Buffer, w: JsonWriter) => Transcoded;
type NulledOf = (header: Record<string, unknown>) => ReadonlySet<string>;

const NONE: ReadonlySet<string> = new Set();
// Fields per generated function: V8 does not optimise a function past ~60 KB of bytecode.
const CHUNK = 40;
// Fields whose values decode.ts needs as values, not only as text.
const CAPTURED: Record<string, string> = { EventUuid: 'uuid', CreatedDate: 'created' };

function badUnion(field: string, index: number): never {
  throw new Error(`invalid union index ${index} for field ${field}`);
}

/** An Avro long as JSON: the schema's long reader (avro.ts) gives a number, or a decimal string past 2^53. */
function longJson(tap: InstanceType<typeof avscUtils.Tap>, type: avro.Type, w: JsonWriter): void {
  const v = (type as unknown as { _read(t: unknown): unknown })._read(tap);
  if (typeof v === 'number') w.num(v);
  else w.json(v);
}

/** The union's [nullIndex, valueIndex] when it is exactly null + one type, else null. */
function nullable(type: avro.Type): [number, number] | null {
  if (type.typeName !== 'union:unwrapped') return null;
  const types = (type as unknown as { types: avro.Type[] }).types;
  if (types.length !== 2) return null;
  const n = types.findIndex((t) => t.typeName === 'null');
  return n < 0 ? null : [n, 1 - n];
}

class Generator {
  readonly keys: Buffer[] = [];
  readonly types: avro.Type[] = [];

  private key(name: string): string {
    this.keys.push(Buffer.from(`${JSON.stringify(name)}:`));
    return `K[${this.keys.length - 1}]`;
  }

  private type(t: avro.Type): string {
    this.types.push(t);
    return `T[${this.types.length - 1}]`;
  }

  /** Code for one field: read it from the tap, write `"name":value` (or nothing) into the object opened at `start`. */
  field(f: avro.types.Field, copy: Copy, start: string, prefix: string, depth: number, capture?: string): string {
    const name = JSON.stringify(f.name);
    const k = this.key(f.name);
    const nulledPath = JSON.stringify(prefix + f.name);
    const ifNulled = `if (nulled.size !== 0 && nulled.has(${nulledPath})) { w.key(${k}, ${start}); w.nul(); }`;
    const nn = nullable(f.type);
    const valueType = nn ? ((f.type as unknown as { types: avro.Type[] }).types[nn[1]] as avro.Type) : f.type;
    const value = this.value(f, valueType, copy, k, start, depth, capture);
    if (value === null) {
      // The general path: avsc decodes the value, the copy rule and JSON.stringify write it.
      const v = `v${depth}`;
      const copied =
        copy === 'any'
          ? `anyValue(${name}, ${v}, nulled)`
          : copy === 'bytes'
            ? `(Buffer.isBuffer(${v}) ? ${v}.toString('base64') : ${v})`
            : v;
      const set = capture
        ? `const c = ${copied}; cap.${capture} = c; w.key(${k}, ${start}); w.json(c);`
        : `w.key(${k}, ${start}); w.json(${copied});`;
      return `{ const ${v} = ${this.type(f.type)}._read(tap); if (${v} !== null && ${v} !== undefined) { ${set} } else ${ifNulled} }`;
    }
    if (!nn) return `{ ${value} }`;
    // A union index of 0 or 1 is one byte (zigzag 0 or 2): read it inline, the general reader otherwise.
    return `{ let b = tap.buf[tap.pos]; if (b === 0 || b === 2) { tap.pos++; b >>= 1; } else b = tap.readLong(); if (b === ${nn[0]}) { ${ifNulled} } else if (b === ${nn[1]}) { ${value} } else badUnion(${name}, b); }`;
  }

  /** Code writing a present value of type `t` straight from the tap; null when the general path must do it. */
  private value(f: avro.types.Field, t: avro.Type, copy: Copy, k: string, start: string, depth: number, capture?: string): string | null {
    if (capture) return null;
    const write = (code: string) => `w.key(${k}, ${start}); ${code}`;
    if (copy === 'record' && depth === 0 && t.typeName === 'record') {
      const inner = `s${depth + 1}`;
      const subs = (t as avro.types.RecordType).fields.map((sf) => this.field(sf, 'plain', inner, `${f.name}.`, depth + 1)).join('\n');
      return write(`w.byte(123); const ${inner} = w.pos;\n${subs}\nw.byte(125);`);
    }
    if (copy !== 'plain') return null;
    switch (t.typeName) {
      case 'string':
        return write('w.str(tap);');
      case 'int':
        return write('w.num(tap.readLong());');
      case 'abstract:long':
        return write(`longJson(tap, ${this.type(t)}, w);`);
      case 'float':
        return write('w.num(tap.readFloat());');
      case 'double':
        return write('w.num(tap.readDouble());');
      case 'boolean':
        return write('w.bool(!!tap.buf[tap.pos++]);');
      default:
        return null;
    }
  }
}

/** The transcoder of a record type, or null when its header is not the first field. */
export function compileTranscode(type: avro.Type, nulledOf: NulledOf): Transcode | null {
  const fields = (type as avro.types.RecordType).fields ?? [];
  const headerAt = fields.findIndex((f) => f.name === 'ChangeEventHeader');
  if (headerAt > 0) return null;
  const gen = new Generator();
  const chunks: string[] = [];
  for (let start = headerAt === 0 ? 1 : 0; start < fields.length; start += CHUNK) {
    const body = fields
      .slice(start, start + CHUNK)
      .map((f) => gen.field(f, copyOf(f.type), 's0', '', 0, CAPTURED[f.name]))
      .join('\n');
    chunks.push(`const p${chunks.length} = function (tap, w, nulled, cap, s0) {\n${body}\n};`);
  }
  const header = headerAt === 0 ? 'H._read(tap)' : 'null';
  const src = `
${chunks.join('\n')}
return function transcode(buf, w) {
  const tap = new Tap(buf, 0);
  const header = ${header};
  const nulled = header === null ? NONE : nulledOf(header);
  const cap = { uuid: undefined, created: undefined };
  w.byte(123);
  const s0 = w.pos;
  ${chunks.map((_, i) => `p${i}(tap, w, nulled, cap, s0);`).join(' ')}
  w.byte(125);
  if (tap.pos > buf.length) throw new Error('truncated buffer');
  if (tap.pos < buf.length) throw new Error('trailing data');
  return { header, eventUuid: cap.uuid, createdDate: cap.created };
};`;
  return new Function('Tap', 'Buffer', 'anyValue', 'badUnion', 'longJson', 'nulledOf', 'NONE', 'K', 'T', 'H', src)(
    avscUtils.Tap,
    Buffer,
    anyValue,
    badUnion,
    longJson,
    nulledOf,
    NONE,
    gen.keys,
    gen.types,
    headerAt === 0 ? fields[0]?.type : null,
  ) as Transcode;
}
