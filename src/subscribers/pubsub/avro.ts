/**
 * Avro decoding for the Pub/Sub API. Parsed types are cached by schema id and fetched with
 * GetSchema on a miss — one request per id however many events wait for it.
 * Avro `long` is decoded to a JSON number when it fits in ±2^53 and to a decimal string otherwise,
 * so JSON output never loses precision (commitNumber can exceed 2^53): src/avro-long.ts.
 */
import avro from 'avsc';
import type avscUtils from 'avsc/lib/utils.js';
import { ExactLong } from '../../avro-long.js';
import { compileTranscode, type Transcode } from './json-transcode.js';
import { compilePayload, type PayloadOf } from './payload.js';

const UnpackedLong = ExactLong;

type Tap = InstanceType<typeof avscUtils.Tap>;
type LongReader = { _read(tap: Tap): unknown };
// avsc reads a custom long by unpacking it into a new 8-byte Buffer, then our fromBuffer makes a
// BigInt: two allocations per long, and every change event has several. A varint of up to 7 bytes
// (|n| < 2^48) is exact as a double, so it is read as a number directly; longer ones go the long way.
// (avsc freezes its types: the faster reader sits on an object that inherits everything else.)
const unpackedRead = (UnpackedLong as unknown as LongReader)._read;
const JsonSafeLong = Object.create(UnpackedLong, {
  _read: {
    value: function readLong(this: LongReader, tap: Tap): unknown {
      const b = tap.buf;
      const from = tap.pos;
      let p = from;
      while (p - from < 7 && (b[p] as number) & 0x80) p++;
      return p - from < 7 ? tap.readLong() : unpackedRead.call(this, tap);
    },
  },
}) as typeof UnpackedLong;

export interface ParsedSchema {
  id: string;
  /** The schema as GetSchema gave it, parsed. */
  schema: Record<string, unknown>;
  type: avro.Type;
  /** Top-level field names in order (bitmap bit i = field i). */
  fieldNames: string[];
  /** For record-valued fields (compound fields such as BillingAddress): their sub-field names. */
  nested: Map<number, string[]>;
  /** The envelope payload of a record of this schema (payload.ts). */
  payloadOf: PayloadOf;
  /** Avro bytes straight to header + payload JSON text (json-transcode.ts); null: use type + payloadOf. */
  transcode: Transcode | null;
  /** Field names per bitmap string: CDC streams repeat the same few change sets, so decode each once. */
  bitmaps: Map<string, readonly string[]>;
}

export function parseSchema(id: string, json: string): ParsedSchema {
  const schema = JSON.parse(json) as avro.Schema;
  const type = avro.Type.forSchema(schema, { registry: { long: JsonSafeLong as unknown as avro.Type }, wrapUnions: false });
  const fields = (type as avro.types.RecordType).fields ?? [];
  const nested = new Map<number, string[]>();
  fields.forEach((f, i) => {
    let t: avro.Type = f.type;
    if (t.typeName === 'union:unwrapped' || t.typeName === 'union:wrapped') {
      const branch = (t as unknown as { types: avro.Type[] }).types.find((b) => b.typeName === 'record');
      if (branch) t = branch;
    }
    if (t.typeName === 'record' && f.name !== 'ChangeEventHeader')
      nested.set(
        i,
        (t as avro.types.RecordType).fields.map((x) => x.name),
      );
  });
  const parsed: ParsedSchema = {
    id,
    schema: schema as unknown as Record<string, unknown>,
    type,
    fieldNames: fields.map((f) => f.name),
    nested,
    payloadOf: compilePayload(type),
    transcode: null,
    bitmaps: new Map(),
  };
  parsed.transcode = compileTranscode(type, (h) => nulledSet(parsed, h.nulledFields as string[] | null | undefined));
  return parsed;
}

/** Cache of parsed schemas with single-flight fetches. */
export class SchemaCache {
  private readonly parsed = new Map<string, ParsedSchema>();
  private readonly pending = new Map<string, Promise<ParsedSchema>>();
  fetches = 0;

  constructor(private readonly fetch: (schemaId: string) => Promise<string>) {}

  get(id: string): ParsedSchema | undefined {
    return this.parsed.get(id);
  }

  async load(id: string): Promise<ParsedSchema> {
    const hit = this.parsed.get(id);
    if (hit) return hit;
    let p = this.pending.get(id);
    if (!p) {
      this.fetches++;
      p = this.fetch(id)
        .then((json) => {
          const s = parseSchema(id, json);
          this.parsed.set(id, s);
          return s;
        })
        .finally(() => this.pending.delete(id));
      this.pending.set(id, p);
    }
    return p;
  }
}

const NONE: ReadonlySet<string> = new Set();

/** The nulled field names of a raw ChangeEventHeader as a set (the payload keeps those as null). */
export function nulledSet(schema: ParsedSchema, list: readonly string[] | null | undefined): ReadonlySet<string> {
  return list && list.length > 0 ? new Set(decodeBitmapFields(schema, list)) : NONE;
}

/** Decode `changedFields` / `nulledFields` / `diffFields` bitmaps into field names. */
export function decodeBitmapFields(schema: ParsedSchema, values: readonly string[] | null | undefined): string[] {
  const out: string[] = [];
  for (const item of values ?? []) {
    let names = schema.bitmaps.get(item);
    if (!names) {
      names = decodeBitmap(schema, item);
      if (schema.bitmaps.size < 10_000) schema.bitmaps.set(item, names);
    }
    for (const n of names) out.push(n);
  }
  return out;
}

function decodeBitmap(schema: ParsedSchema, item: string): string[] {
  const m = /^(?:(\d+)-)?0x([0-9a-fA-F]+)$/.exec(item);
  // Already a field name (CometD-style payloads, or a future format): keep it.
  if (!m) return [item];
  const parentIdx = m[1] === undefined ? null : Number(m[1]);
  const names = parentIdx === null ? schema.fieldNames : (schema.nested.get(parentIdx) ?? []);
  const prefix = parentIdx === null ? '' : `${schema.fieldNames[parentIdx] ?? `field${parentIdx}`}.`;
  const out: string[] = [];
  let bits = BigInt(`0x${m[2]}`);
  for (let i = 0; bits > 0n; i++, bits >>= 1n) {
    if (bits & 1n) out.push(prefix + (names[i] ?? `#${i}`));
  }
  return out;
}
