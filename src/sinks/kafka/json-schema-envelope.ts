/**
 * The envelope (docs/envelope.md) as a JSON Schema (draft-07), for `format: json-schema`: the
 * value is the envelope's JSON text as every other format writes it, behind the registry's
 * 5-byte header. `payload` is typed from the event type's Avro record (Salesforce's names and
 * nullability); it may also be a string or an object the record does not describe (markers,
 * stand-ins, snapshots, transformed payloads: `kind` says which), so the typed properties are
 * open (additional properties allowed) and every one of them optional.
 */
import { ENVELOPE_NAMESPACE, type PayloadRecord } from './avro-envelope.js';

type Json = Record<string, unknown>;

export function envelopeJsonSchema(recordName: string, payload: PayloadRecord | null): Json {
  const str = { type: 'string' };
  const list = { type: 'array', items: str };
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: `${ENVELOPE_NAMESPACE}.${recordName}`,
    description: 'sfbridge event envelope, docs/envelope.md',
    type: 'object',
    required: ['v', 'org', 'channel', 'replayId', 'eventId', 'schemaId', 'eventTime', 'receivedAt', 'kind', 'payload'],
    properties: {
      v: { type: 'integer' },
      org: str,
      channel: str,
      replayId: str,
      eventId: str,
      schemaId: { type: ['string', 'null'] },
      eventTime: { type: ['string', 'null'] },
      receivedAt: str,
      kind: str,
      changeHeader: {
        type: 'object',
        properties: {
          entity: str,
          recordIds: list,
          changeType: str,
          changeOrigin: str,
          transactionKey: str,
          sequenceNumber: { type: 'integer' },
          commitTimestamp: { type: 'integer' },
          commitNumber: str,
          commitUser: str,
          changedFields: list,
          nulledFields: list,
          diffFields: list,
        },
      },
      payload: payload
        ? { ...recordSchema(payload, new Map()), type: ['object', 'string', 'null'] }
        : { description: 'the payload as the event carries it (no Salesforce schema for this channel)' },
      enriched: { type: 'boolean' },
      enrichedAt: str,
      enrichError: str,
      deleted: { type: 'boolean' },
    },
  };
}

/** `named`: the records defined so far, by name (Avro refers to a record by name after its first use). */
function recordSchema(r: PayloadRecord, named: Map<string, Json>): Json {
  const properties: Json = {};
  const out: Json = { title: r.namespace ? `${r.namespace}.${r.name}` : r.name, type: 'object', properties };
  named.set(r.name, out);
  if (r.namespace) named.set(`${r.namespace}.${r.name}`, out);
  for (const f of r.fields) properties[f.name] = typeSchema(f.type, named);
  return out;
}

/** One Avro type as JSON Schema, as the envelope writes its values (long: number, or a decimal string past 2^53). */
function typeSchema(t: unknown, named: Map<string, Json>): Json {
  if (Array.isArray(t)) {
    const branches = t.map((b) => typeSchema(b, named));
    const simple = branches.every((b) => Object.keys(b).length === 1 && b.type !== undefined);
    return simple ? { type: [...new Set(branches.flatMap((b) => b.type as string | string[]))] } : { anyOf: branches };
  }
  if (typeof t === 'string') return named.get(t) ?? primitive(t);
  const o = t as Json;
  switch (o.type) {
    case 'record':
      return recordSchema(o as PayloadRecord, named);
    case 'array':
      return { type: 'array', items: typeSchema(o.items, named) };
    case 'map':
      return { type: 'object', additionalProperties: typeSchema(o.values, named) };
    case 'enum':
      return { type: 'string', enum: o.symbols };
    case 'fixed':
      return { type: 'string' };
    default:
      return typeSchema(o.type, named);
  }
}

function primitive(name: string): Json {
  switch (name) {
    case 'null':
      return { type: 'null' };
    case 'boolean':
      return { type: 'boolean' };
    case 'int':
      return { type: 'integer' };
    case 'long':
      return { type: ['integer', 'string'] };
    case 'float':
    case 'double':
      return { type: 'number' };
    default:
      // string and bytes (bytes are written as base64 text)
      return { type: 'string' };
  }
}
