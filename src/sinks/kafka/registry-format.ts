/**
 * `format: avro | json-schema`: record values in the Confluent wire format (byte 0, the schema id
 * as a big-endian int32, then the Avro bytes or the JSON text), with the schema registered once
 * per subject and version. The value schema is the envelope with `payload` typed from the event
 * type's Salesforce schema, which the route's source supplies (SinkContext.payloadSchema): a new
 * Salesforce schema id (a field added) makes a new version, registered before the first event
 * that needs it. Keys stay strings unless `keyFormat: avro` (the Avro string schema, `<topic>-key`).
 */
import avro from 'avsc';
import { type Envelope, envelopeBytes } from '../../envelope.js';
import { isRetriable } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { PayloadSchema, PayloadSchemaSource } from '../../payload-schema.js';
import type { EventOutcome } from '../types.js';
import { type AvroEnvelopeType, avroEnvelopeType, ENVELOPE_NAMESPACE, type PayloadRecord, payloadRecordOf } from './avro-envelope.js';
import type { KafkaSinkConfig } from './config.js';
import { envelopeJsonSchema } from './json-schema-envelope.js';
import { fieldDifferences } from './schema-diff.js';
import { SchemaRefused, type SchemaRegistryClient } from './schema-registry.js';

export type Encoded = { value: Buffer; key?: Buffer } | { outcome: EventOutcome };

interface ValueType {
  /** The schema as registered (its text) and its full record name (RecordNameStrategy). */
  text: string;
  fullName: string;
  encode(e: Envelope): { bytes: Buffer; typedMiss?: string };
}

const STRING_TYPE = avro.Type.forSchema('string');

export class RegistryFormat {
  private readonly types = new Map<string, ValueType>();
  private readonly warned = new Set<string>();
  private readonly explained = new WeakMap<SchemaRefused, string>();

  constructor(
    private readonly c: KafkaSinkConfig,
    private readonly registry: SchemaRegistryClient,
    private readonly payloadSchema: PayloadSchemaSource | undefined,
    private readonly log: Logger,
  ) {}

  /** Calls made to the registry (registrations and look-ups), for /status. */
  get registryCalls(): number {
    return this.registry.calls;
  }

  /** One event's value (and key) bytes; a refused schema is that event's outcome; outages throw. */
  async encode(e: Envelope, topic: string, key: string | null | undefined): Promise<Encoded> {
    const ps = this.payloadSchema ? await this.payloadSchema(e) : null;
    const type = this.typeFor(ps, e);
    const subject = this.subject(topic, type.fullName);
    let id: number;
    try {
      id = await this.registry.register(subject, type.text, this.c.format === 'avro' ? 'AVRO' : 'JSON');
    } catch (err) {
      if (err instanceof SchemaRefused) return { outcome: { status: 'unavailable', error: await this.refusal(err, type.text) } };
      if (isRetriable(err)) throw err;
      return { outcome: { status: 'unavailable', error: (err as Error).message } };
    }
    const { bytes, typedMiss } = type.encode(e);
    if (typedMiss) this.warnOnce(`${subject}\n${typedMiss}`, subject, typedMiss);
    const out: { value: Buffer; key?: Buffer } = { value: framed(id, bytes) };
    if (this.c.keyFormat === 'avro' && key !== null && key !== undefined) {
      const keyId = await this.registry.register(`${topic}-key`, '"string"', 'AVRO');
      out.key = framed(keyId, STRING_TYPE.toBuffer(key));
    }
    return out;
  }

  private typeFor(ps: PayloadSchema | null, e: Envelope): ValueType {
    const k = ps ? `${ps.id}` : `-${e.channel}`;
    let t = this.types.get(k);
    if (!t) {
      const payload: PayloadRecord | null = ps ? payloadRecordOf(ps.avro) : null;
      const name = ps ? avroName(String(ps.avro.name)) : 'Envelope';
      t = this.c.format === 'avro' ? fromAvro(avroEnvelopeType(name, payload)) : jsonSchemaType(name, payload);
      if (this.types.size < 1024) this.types.set(k, t);
    }
    return t;
  }

  private subject(topic: string, fullName: string): string {
    switch (this.c.subjectNameStrategy) {
      case 'record':
        return fullName;
      case 'topic-record':
        return `${topic}-${fullName}`;
      default:
        return `${topic}-value`;
    }
  }

  /** One line: the subject, the fields that differ from its latest version, the registry's words. */
  private async refusal(err: SchemaRefused, ours: string): Promise<string> {
    // The client hands out the same error while it remembers the refusal: explain it once.
    const known = this.explained.get(err);
    if (known) return known;
    const text = await this.explain(err, ours);
    this.explained.set(err, text);
    return text;
  }

  private async explain(err: SchemaRefused, ours: string): Promise<string> {
    const latest = await this.registry.latest(err.subject);
    const fields = latest ? fieldDifferences(latest, ours) : [];
    const which = fields.length ? `; fields that differ from its latest version: ${fields.join(', ')}` : '';
    return `kafka sink: the schema registry refused a new version of subject ${err.subject}${which}. The registry said (HTTP ${err.status}): ${err.reason}. Fix the subject's compatibility setting or its latest version; the events wait meanwhile`;
  }

  private warnOnce(key: string, subject: string, why: string): void {
    if (this.warned.has(key) || this.warned.size > 256) return;
    this.warned.add(key);
    this.log.warn({ subject }, `kafka sink: a payload does not fit its Salesforce schema (${why}); such payloads go as JSON text`);
  }
}

function framed(id: number, bytes: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + bytes.length);
  out[0] = 0;
  out.writeInt32BE(id, 1);
  bytes.copy(out, 5);
  return out;
}

/** An Avro name: letters, digits and _ only, not starting with a digit. */
function avroName(s: string): string {
  const n = s.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(n) ? `_${n}` : n;
}

function fromAvro(t: AvroEnvelopeType): ValueType {
  return { text: t.schemaText, fullName: t.fullName, encode: (e) => t.encode(e) };
}

function jsonSchemaType(name: string, payload: PayloadRecord | null): ValueType {
  return {
    text: JSON.stringify(envelopeJsonSchema(name, payload)),
    fullName: `${ENVELOPE_NAMESPACE}.${name}`,
    // The same JSON bytes every other format writes.
    encode: (e) => ({ bytes: envelopeBytes(e) }),
  };
}
