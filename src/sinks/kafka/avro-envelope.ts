/**
 * The envelope (docs/envelope.md) as an Avro record, for consumers that read a topic through a
 * schema registry. The envelope's fields keep their names; `payload` is a union of null, the
 * event type's own record (Salesforce's schema for it, without ChangeEventHeader, which is
 * `changeHeader` already) and a string holding the payload as JSON text. The string branch carries
 * what no Salesforce schema describes: replay-gap markers, undecodable stand-ins, snapshots,
 * enriched (REST-shaped) records and transformed payloads. `kind` says which is which.
 */
import avro from 'avsc';
import { ExactLong } from '../../avro-long.js';
import { type Envelope, payloadValue } from '../../envelope.js';

export const ENVELOPE_NAMESPACE = 'sfbridge.envelope';

/** An event type's payload as an Avro record schema (Salesforce's names and nullability). */
export type PayloadRecord = { type: 'record'; name: string; namespace?: string; fields: Array<{ name: string; type: unknown }> };

const changeHeader = {
  type: 'record',
  name: 'ChangeHeader',
  doc: 'CDC ChangeEventHeader with the bitmaps decoded to field names (compound fields as Parent.Child)',
  fields: [
    { name: 'entity', type: 'string' },
    { name: 'recordIds', type: { type: 'array', items: 'string' } },
    { name: 'changeType', type: 'string' },
    { name: 'changeOrigin', type: 'string' },
    { name: 'transactionKey', type: 'string' },
    { name: 'sequenceNumber', type: 'int' },
    { name: 'commitTimestamp', type: 'long' },
    { name: 'commitNumber', type: ['null', 'string'], default: null },
    { name: 'commitUser', type: 'string' },
    { name: 'changedFields', type: { type: 'array', items: 'string' } },
    { name: 'nulledFields', type: { type: 'array', items: 'string' } },
    { name: 'diffFields', type: { type: 'array', items: 'string' } },
  ],
};

const optional = (name: string, type: string) => ({ name, type: ['null', type], default: null });

/** The value schema for events whose payload is `payload` (null: no Salesforce schema, JSON text only). */
export function envelopeAvroSchema(recordName: string, payload: PayloadRecord | null): Record<string, unknown> {
  return {
    type: 'record',
    name: recordName,
    namespace: ENVELOPE_NAMESPACE,
    doc: 'sfbridge event envelope, docs/envelope.md',
    fields: [
      { name: 'v', type: 'int' },
      { name: 'org', type: 'string' },
      { name: 'channel', type: 'string' },
      { name: 'replayId', type: 'string' },
      { name: 'eventId', type: 'string' },
      optional('schemaId', 'string'),
      optional('eventTime', 'string'),
      { name: 'receivedAt', type: 'string' },
      { name: 'kind', type: 'string' },
      { name: 'changeHeader', type: ['null', changeHeader], default: null },
      {
        name: 'payload',
        type: payload ? ['null', payload, 'string'] : ['null', 'string'],
        default: null,
        doc: "the event type's record, or JSON text for payloads no Salesforce schema describes (see kind)",
      },
      optional('enriched', 'boolean'),
      optional('enrichedAt', 'string'),
      optional('enrichError', 'string'),
      optional('deleted', 'boolean'),
    ],
  };
}

/** The event type's record, made from Salesforce's Avro schema of it. */
export function payloadRecordOf(salesforceSchema: Record<string, unknown>): PayloadRecord {
  const fields = (salesforceSchema.fields as PayloadRecord['fields']).filter((f) => f.name !== 'ChangeEventHeader');
  return { ...(salesforceSchema as PayloadRecord), fields };
}

export interface AvroEnvelopeType {
  schemaText: string;
  /** The full record name (RecordNameStrategy's subject). */
  fullName: string;
  /** The Avro bytes of one envelope; `typedMiss` names why a payload went as JSON text. */
  encode(e: Envelope): { bytes: Buffer; typedMiss?: string };
}

export function avroEnvelopeType(recordName: string, payload: PayloadRecord | null): AvroEnvelopeType {
  const schema = envelopeAvroSchema(recordName, payload);
  const type = avro.Type.forSchema(schema as avro.Schema, { registry: { long: ExactLong as unknown as avro.Type }, wrapUnions: false });
  const payloadType = payload ? recordBranch((type as avro.types.RecordType).field('payload')?.type as avro.Type) : null;
  return {
    schemaText: JSON.stringify(schema),
    fullName: `${ENVELOPE_NAMESPACE}.${recordName}`,
    encode(e) {
      let typedMiss: string | undefined;
      let p: unknown = null;
      const value = payloadValue(e);
      if (value !== null && value !== undefined) {
        const typed = payloadType && TYPED_KINDS.has(e.kind) && !e.enriched ? fitRecord(payloadType, value) : null;
        if (typed && 'value' in typed) p = typed.value;
        else {
          if (typed) typedMiss = typed.miss;
          p = JSON.stringify(value);
        }
      }
      const h = e.changeHeader;
      const rec = {
        v: e.v,
        org: e.org,
        channel: e.channel,
        replayId: e.replayId,
        eventId: e.eventId,
        schemaId: e.schemaId ?? null,
        eventTime: e.eventTime ?? null,
        receivedAt: e.receivedAt,
        kind: e.kind,
        changeHeader: h ? { ...h, commitNumber: h.commitNumber ?? null } : null,
        payload: p,
        enriched: e.enriched ?? null,
        enrichedAt: e.enrichedAt ?? null,
        enrichError: e.enrichError ?? null,
        deleted: e.deleted ?? null,
      };
      return { bytes: type.toBuffer(rec), typedMiss };
    },
  };
}

/** Kinds whose payload is the event type's own fields. */
const TYPED_KINDS = new Set(['cdc', 'platform', 'gap', 'overflow', 'pushtopic']);

function recordBranch(t: avro.Type): avro.types.RecordType | null {
  const branches = (t as unknown as { types?: avro.Type[] }).types ?? [t];
  return (branches.find((b) => b.typeName === 'record') as avro.types.RecordType | undefined) ?? null;
}

/**
 * The payload as a value of the record type: absent fields (unchanged fields of a change event)
 * become null, compound fields nest. A key the record does not have, or a value its type cannot
 * hold, is a miss: the payload then goes as JSON text, and `miss` says why.
 */
function fitRecord(t: avro.types.RecordType, value: unknown): { value: unknown } | { miss: string } {
  if (typeof value !== 'object' || Array.isArray(value)) return { miss: 'the payload is not an object' };
  const v = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  let seen = 0;
  for (const f of t.fields) {
    const x = v[f.name];
    if (x === undefined) {
      out[f.name] = null;
      continue;
    }
    seen++;
    const nested = recordBranch(f.type);
    if (nested && x !== null && typeof x === 'object' && !Array.isArray(x)) {
      const r = fitRecord(nested, x);
      if ('miss' in r) return { miss: `${r.miss} (in ${f.name})` };
      out[f.name] = r.value;
    } else out[f.name] = x;
    if (!f.type.isValid(out[f.name])) return { miss: `field ${f.name} cannot hold ${JSON.stringify(x)?.slice(0, 80)}` };
  }
  if (seen < Object.keys(v).length) {
    const extra = Object.keys(v).find((k) => !t.fields.some((f) => f.name === k));
    return { miss: `field ${extra} is not in ${t.name}` };
  }
  return { value: out };
}
