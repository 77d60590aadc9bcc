/**
 * The envelope's `payload` from a decoded Avro record: null fields dropped (CDC sends only what
 * changed), explicitly nulled ones kept as null, bytes as base64, compound fields (addresses) with
 * their own null sub-fields dropped. `ChangeEventHeader` is left out (it has its own place).
 *
 * One function per schema, generated from the schema's field list. Why: copying fields by a name
 * loop makes V8 build every payload as a slow dictionary object (more than a dozen keyed stores),
 * which costs at creation and again in JSON.stringify; generated code stores each field by its
 * literal name, so payloads of one schema share fast shapes. Names are written as JSON string
 * literals (and Avro names are identifiers anyway), so a schema cannot inject code.
 */
import type avro from 'avsc';

export type PayloadOf = (record: Record<string, unknown>, nulled: ReadonlySet<string>) => Record<string, unknown>;

/** How a field's value is copied, from its Avro type (unions of null and one type unwrapped). */
export type Copy = 'plain' | 'bytes' | 'record' | 'any';

const PLAIN = new Set(['string', 'int', 'long', 'float', 'double', 'boolean', 'enum', 'null', 'abstract:long']);

export function copyOf(type: avro.Type): Copy {
  let t = type;
  if (t.typeName === 'union:unwrapped' || t.typeName === 'union:wrapped') {
    const branches = (t as unknown as { types: avro.Type[] }).types.filter((b) => b.typeName !== 'null');
    if (branches.length !== 1) return 'any';
    t = branches[0] as avro.Type;
  }
  if (t.typeName === 'record') return 'record';
  if (t.typeName === 'bytes' || t.typeName === 'fixed') return 'bytes';
  if (t.typeName === 'array') return 'plain';
  return PLAIN.has(t.typeName ?? '') ? 'plain' : 'any';
}

/** The old, generic rule for a value of a type the generator does not special-case. */
export function anyValue(k: string, v: unknown, nulled: ReadonlySet<string>): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (Array.isArray(v)) return v;
  const inner: Record<string, unknown> = {};
  for (const [ik, iv] of Object.entries(v as Record<string, unknown>)) {
    if (iv !== null && iv !== undefined) inner[ik] = iv;
    else if (nulled.size > 0 && nulled.has(`${k}.${ik}`)) inner[ik] = null;
  }
  return inner;
}

function recordCode(fields: readonly avro.types.Field[], src: string, dst: string, prefix: string, depth: number): string {
  const lines: string[] = [`const ${dst} = {};`];
  for (const f of fields) {
    if (depth === 0 && f.name === 'ChangeEventHeader') continue;
    const v = `v${depth}`;
    // Sub-fields of a compound field are copied as they are (they are strings and numbers).
    const set = setCode(f, depth === 0 ? copyOf(f.type) : 'plain', v, dst, depth);
    lines.push(
      `{ const ${v} = ${src}[${JSON.stringify(f.name)}]; if (${v} !== null && ${v} !== undefined) ${set} else ${ifNulled(f, dst, prefix)} }`,
    );
  }
  return lines.join('\n');
}

/** Code storing the non-null value `v` of field `f` into `dst`, copied the way its type needs. */
export function setCode(f: avro.types.Field, copy: Copy, v: string, dst: string, depth: number): string {
  const name = JSON.stringify(f.name);
  if (copy === 'plain') return `${dst}[${name}] = ${v};`;
  if (copy === 'bytes') return `${dst}[${name}] = Buffer.isBuffer(${v}) ? ${v}.toString('base64') : ${v};`;
  if (copy === 'any') return `${dst}[${name}] = anyValue(${name}, ${v}, nulled);`;
  const inner = `o${depth + 1}`;
  return `{ ${recordCode(nestedFields(f.type), v, inner, `${f.name}.`, depth + 1)} ${dst}[${name}] = ${inner}; }`;
}

/** Code keeping a null field as null when the change header names it nulled ("Parent.Child" nested). */
export function ifNulled(f: avro.types.Field, dst: string, prefix: string): string {
  const path = JSON.stringify(prefix + f.name);
  // Most events null nothing: the size test spares a hash lookup per absent field.
  const test = `nulled.size !== 0 && nulled.has(${path})`;
  return `if (${test}) ${dst}[${JSON.stringify(f.name)}] = null;`;
}

function nestedFields(type: avro.Type): avro.types.Field[] {
  let t = type;
  if (t.typeName === 'union:unwrapped' || t.typeName === 'union:wrapped')
    t = (t as unknown as { types: avro.Type[] }).types.find((b) => b.typeName === 'record') as avro.Type;
  return (t as avro.types.RecordType).fields;
}

export function compilePayload(type: avro.Type): PayloadOf {
  const fields = (type as avro.types.RecordType).fields ?? [];
  const body = `return function payloadOf(r, nulled) {\n${recordCode(fields, 'r', 'o0', '', 0)}\nreturn o0;\n};`;
  return new Function('Buffer', 'anyValue', body)(Buffer, anyValue) as PayloadOf;
}
