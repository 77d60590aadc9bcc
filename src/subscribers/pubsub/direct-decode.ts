/**
 * Avro bytes -> envelope payload in one pass, generated per schema.
 *
 * Why: avsc first builds a record holding every field of the schema — 600 for a wide custom
 * object, which V8 keeps as a slow dictionary — and `payloadOf` then copies it again, although a
 * change event sets only the few fields that changed. Here each top-level field is read with its
 * own avsc type reader and, when it is not null, stored straight into the payload (the same copy
 * rules as payload.ts, the same code). Salesforce puts ChangeEventHeader first, so the set of
 * nulled fields is known before the fields it names; a schema that does not gets no direct
 * decoder and keeps the two-step path. Output equals fromBuffer + payloadOf (pubsub-payload.test.ts).
 */
import type avro from 'avsc';
// avsc's read cursor: every type's reader takes one; the package does not export it by name.
import avscUtils from 'avsc/lib/utils.js';
import { anyValue, copyOf, ifNulled, setCode } from './payload.js';

export interface Decoded {
  /** The raw ChangeEventHeader record; null when the schema has none (platform events). */
  header: Record<string, unknown> | null;
  payload: Record<string, unknown>;
}
export type DecodeDirect = (buf: Buffer) => Decoded;
type NulledOf = (header: Record<string, unknown>) => ReadonlySet<string>;

const NONE: ReadonlySet<string> = new Set();
// Fields per generated function: V8 does not optimise a function past ~60 KB of bytecode.
const CHUNK = 48;

function badUnion(field: string, index: number): never {
  throw new Error(`invalid union index ${index} for field ${field}`);
}

/** The union's [nullIndex, valueIndex] when it is exactly null + one type, else null. */
function nullable(type: avro.Type): [number, number] | null {
  if (type.typeName !== 'union:unwrapped') return null;
  const types = (type as unknown as { types: avro.Type[] }).types;
  if (types.length !== 2) return null;
  const n = types.findIndex((t) => t.typeName === 'null');
  return n < 0 ? null : [n, 1 - n];
}

function fieldCode(f: avro.types.Field, i: number): string {
  const set = setCode(f, copyOf(f.type), 'v0', 'o0', 0);
  const name = JSON.stringify(f.name);
  const nn = nullable(f.type);
  if (!nn) return `{ const v0 = T[${i}]._read(tap); if (v0 !== null && v0 !== undefined) ${set} else ${ifNulled(f, 'o0', '')} }`;
  const branch = `B[${i}]`;
  // A union index of 0 or 1 is one byte (zigzag 0 or 2): read it inline, the general reader otherwise.
  return `{ let b = tap.buf[tap.pos]; if (b === 0 || b === 2) { tap.pos++; b >>= 1; } else b = tap.readLong(); if (b === ${nn[0]}) { ${ifNulled(f, 'o0', '')} } else if (b === ${nn[1]}) { const v0 = ${branch}._read(tap); ${set} } else badUnion(${name}, b); }`;
}

/**
 * The direct decoder of a record type, or null when this schema must use the two-step path
 * (a header that is not the first field).
 */
export function compileDirect(type: avro.Type, nulledOf: NulledOf): DecodeDirect | null {
  const fields = (type as avro.types.RecordType).fields ?? [];
  const headerAt = fields.findIndex((f) => f.name === 'ChangeEventHeader');
  if (headerAt > 0) return null;
  // decode.ts reads a platform event's EventUuid and CreatedDate from the payload: they must be copied as they are.
  for (const f of fields) if ((f.name === 'EventUuid' || f.name === 'CreatedDate') && copyOf(f.type) !== 'plain') return null;
  const T = fields.map((f) => f.type);
  const B = fields.map((f) => {
    const nn = nullable(f.type);
    return nn ? (f.type as unknown as { types: avro.Type[] }).types[nn[1]] : null;
  });
  const chunks: string[] = [];
  for (let start = headerAt === 0 ? 1 : 0; start < fields.length; start += CHUNK) {
    const body = fields
      .slice(start, start + CHUNK)
      .map((f, j) => fieldCode(f, start + j))
      .join('\n');
    chunks.push(`const p${chunks.length} = function (tap, o0, nulled) {\n${body}\n};`);
  }
  const src = `
${chunks.join('\n')}
return function decodeDirect(buf) {
  const tap = new Tap(buf, 0);
  const header = ${headerAt === 0 ? 'T[0]._read(tap)' : 'null'};
  const nulled = header === null ? NONE : nulledOf(header);
  const o0 = {};
  ${chunks.map((_, i) => `p${i}(tap, o0, nulled);`).join(' ')}
  if (tap.pos > buf.length) throw new Error('truncated buffer');
  if (tap.pos < buf.length) throw new Error('trailing data');
  return { header, payload: o0 };
};`;
  return new Function('Tap', 'Buffer', 'anyValue', 'badUnion', 'nulledOf', 'NONE', 'T', 'B', src)(
    avscUtils.Tap,
    Buffer,
    anyValue,
    badUnion,
    nulledOf,
    NONE,
    T,
    B,
  ) as DecodeDirect;
}
