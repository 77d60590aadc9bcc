/**
 * Which schema decodes an event. Normally the one its `schema_id` names (GetSchema, cached by
 * SchemaCache). Salesforce has been seen sending events with a blank schema id on
 * `/data/ChangeEvents` (forcedotcom/pub-sub-api#63, pozil/pub-sub-api-node-client#34); then, and
 * when the id it names is unknown, the schema is looked up by the event's own topic through
 * GetTopic: the route's topic when it carries one kind of event, else `/data/<Entity>ChangeEvent`
 * for the object named at the head of the payload (a change event starts with its
 * ChangeEventHeader, whose first field is `entityName`). The payload must decode with that schema
 * exactly, and name the same object, or the event is undecodable: the subscriber dead-letters its
 * raw bytes with the reason and the stream goes on. Failures that may pass (network, token,
 * service) are thrown as they are: the route retries from its last position and loses nothing.
 */

import { sfErrorCode } from '../../salesforce/pubsub-client.js';
import { changeEventEntity } from '../../salesforce/topics.js';
import type { ParsedSchema, SchemaCache } from './avro.js';
import type { RawConsumerEvent } from './decode.js';

/** No schema decodes this event: dead-letter it (the reason says why). */
export class SchemaNotFound extends Error {}

/** gRPC NOT_FOUND, or a Salesforce code saying the topic or schema is unknown or not readable. */
function notFound(err: unknown): boolean {
  const code = sfErrorCode(err) ?? '';
  return (err as { code?: number }).code === 5 || /not\.?found|schema\.meta\.permission/.test(code);
}

/**
 * The first Avro string of a payload, when it looks like an object's API name (Account,
 * Invoice__c): for a change event, its header's entityName.
 */
export function leadingEntityName(payload: Uint8Array): string | null {
  let len = 0;
  let shift = 0;
  let i = 0;
  for (; i < 5; i++) {
    const b = payload[i];
    if (b === undefined) return null;
    len |= (b & 0x7f) << shift;
    shift += 7;
    if (!(b & 0x80)) break;
  }
  if (i === 5) return null;
  len = (len >>> 1) ^ -(len & 1); // zigzag
  if (len < 1 || len > 255 || i + 1 + len > payload.length) return null;
  const name = Buffer.from(payload.subarray(i + 1, i + 1 + len)).toString('latin1');
  return /^[A-Za-z][A-Za-z0-9_]*$/.test(name) ? name : null;
}

/** `/data/<Entity>ChangeEvent` for an object (Invoice__c -> /data/Invoice__ChangeEvent). */
function changeEventTopic(entity: string): string {
  return `/data/${entity.replace(/__c$/, '__')}ChangeEvent`;
}

export class SchemaResolver {
  /** Events decoded with a schema found by their topic (blank or unknown schema id). */
  fallbacks = 0;

  constructor(
    private readonly cache: SchemaCache,
    /** GetTopic: the topic's current schema id. */
    private readonly topicSchemaId: (topic: string) => Promise<string>,
    /** The route's topic (`/data/ChangeEvents`, `/data/AccountChangeEvent`, `/event/X__e`, …). */
    private readonly routeTopic: string,
  ) {}

  /** The cached schema of the event's id, without a promise (the common case). */
  get(raw: RawConsumerEvent): ParsedSchema | undefined {
    return raw.event.schema_id ? this.cache.get(raw.event.schema_id) : undefined;
  }

  async resolve(raw: RawConsumerEvent): Promise<ParsedSchema> {
    const id = raw.event.schema_id;
    if (id) {
      const hit = this.cache.get(id);
      if (hit) return hit;
      try {
        return await this.cache.load(id);
      } catch (err) {
        if (!notFound(err)) throw err;
      }
    }
    return this.byTopic(raw.event.payload, id ? `its schema id ${id} is unknown to Salesforce` : 'it has a blank schema id');
  }

  /**
   * The schema of an event's payload type for sinks that register schemas: the one its id names,
   * else (markers, stand-ins, an id Salesforce no longer knows) the route topic's current one when
   * the route carries one type of event; null for a channel of many types.
   */
  async forPayload(schemaId: string | null): Promise<ParsedSchema | null> {
    if (schemaId) {
      try {
        return await this.cache.load(schemaId);
      } catch (err) {
        if (!notFound(err)) throw err;
      }
    }
    if (changeEventEntity(this.routeTopic) === null && !this.routeTopic.startsWith('/event/')) return null;
    try {
      const id = await this.topicSchemaId(this.routeTopic);
      return id ? await this.cache.load(id) : null;
    } catch (err) {
      if (notFound(err)) return null;
      throw err;
    }
  }

  private async byTopic(payload: Buffer, why: string): Promise<ParsedSchema> {
    const single = changeEventEntity(this.routeTopic) !== null || this.routeTopic.startsWith('/event/');
    const entity = single ? changeEventEntity(this.routeTopic) : leadingEntityName(payload);
    const topic = single ? this.routeTopic : entity ? changeEventTopic(entity) : null;
    if (!topic) throw new SchemaNotFound(`${why}, and its payload names no object whose topic would give the schema`);
    let schema: ParsedSchema;
    try {
      const schemaId = await this.topicSchemaId(topic);
      if (!schemaId) throw new SchemaNotFound(`${why}, and topic ${topic} has no schema`);
      schema = await this.cache.load(schemaId);
    } catch (err) {
      if (err instanceof SchemaNotFound) throw err;
      if (notFound(err)) throw new SchemaNotFound(`${why}, and Salesforce has no schema for topic ${topic} (${(err as Error).message})`);
      throw err;
    }
    // Exactly this schema, and the same object: avsc refuses truncated or trailing bytes.
    let header: { entityName?: unknown } | undefined;
    try {
      header = (schema.type.fromBuffer(payload) as { ChangeEventHeader?: { entityName?: unknown } }).ChangeEventHeader;
    } catch (err) {
      throw new SchemaNotFound(`${why}, and the schema of ${topic} (${schema.id}) does not decode it: ${(err as Error).message}`);
    }
    if (entity && header?.entityName !== entity)
      throw new SchemaNotFound(`${why}, and it does not decode as ${entity} with the schema of ${topic} (${schema.id})`);
    this.fallbacks++;
    return schema;
  }
}
