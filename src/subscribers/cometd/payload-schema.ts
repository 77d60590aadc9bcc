/**
 * The payload schema of a CometD channel's events, for sinks that register schemas
 * (src/payload-schema.ts). Salesforce's CometD messages are JSON with no Avro schema of their own
 * in hand, so the record is built from the object's describe, as CometD delivers its values:
 * every field nullable, dates and times as the ISO strings CometD sends, compound fields nested
 * (BillingAddress: {Street, City, …}; Name: {FirstName, LastName, …}) as in change events.
 * Change events (`/data/<Object>ChangeEvent`) and platform events (`/event/<Name>__e`) are
 * described; PushTopic and generic channels are not (null: their payloads go as JSON text).
 * A describe is kept for five minutes, so a field added in Salesforce reaches the schema.
 */
import { createHash } from 'node:crypto';
import { isRetriable } from '../../errors.js';
import type { PayloadSchema } from '../../payload-schema.js';
import type { RestClient } from '../../salesforce/rest.js';
import { changeEventEntity } from '../../salesforce/topics.js';

interface DescribedField {
  name: string;
  type: string;
  compoundFieldName?: string | null;
}

const KEEP_MS = 5 * 60_000;

export class CometdPayloadSchemas {
  private cached: { at: number; schema: Promise<PayloadSchema | null> } | null = null;

  constructor(
    private readonly channel: string,
    private readonly rest: () => RestClient,
    private readonly now: () => number = Date.now,
  ) {}

  get(): Promise<PayloadSchema | null> {
    const t = this.now();
    if (!this.cached || t - this.cached.at > KEEP_MS) {
      const schema = this.build().catch((err) => {
        this.cached = null;
        throw err;
      });
      this.cached = { at: t, schema };
    }
    return this.cached.schema;
  }

  private async build(): Promise<PayloadSchema | null> {
    const entity = changeEventEntity(this.channel);
    const event = /^\/event\/(\w+__e)$/.exec(this.channel)?.[1];
    const object = entity ?? event;
    if (!object) return null;
    let d: { fields: DescribedField[] };
    try {
      d = await this.rest().request<{ fields: DescribedField[] }>('GET', `/sobjects/${encodeURIComponent(object)}/describe`);
    } catch (err) {
      // Not describable (no such object, no access): its payloads go as JSON text. Outages retry.
      if (isRetriable(err)) throw err;
      return null;
    }
    const name = entity ? `${entity.replace(/__c$/, '__')}ChangeEvent` : (event as string);
    const avro = recordFromDescribe(name, d.fields);
    const id = createHash('sha256').update(JSON.stringify(avro)).digest('base64url').slice(0, 22);
    return { id, avro };
  }
}

export function recordFromDescribe(name: string, fields: DescribedField[]): Record<string, unknown> {
  const parts = new Map<string, DescribedField[]>();
  for (const f of fields) if (f.compoundFieldName) parts.set(f.compoundFieldName, [...(parts.get(f.compoundFieldName) ?? []), f]);
  const out: Array<Record<string, unknown>> = [];
  for (const f of fields) {
    if (f.compoundFieldName) continue;
    const comps = parts.get(f.name);
    if (comps) {
      // Components lose the compound's prefix in an event: BillingCity is BillingAddress.City.
      const prefix = f.name.replace(/Address$/, '');
      const nested = comps.map((c) => ({
        name: prefix && c.name.startsWith(prefix) && c.name !== prefix ? c.name.slice(prefix.length) : c.name,
        type: ['null', avroType(c.type)],
        default: null,
      }));
      out.push({ name: f.name, type: ['null', { type: 'record', name: `${name}_${f.name}`, fields: nested }], default: null });
    } else if (f.type !== 'address' && f.type !== 'location') out.push({ name: f.name, type: ['null', avroType(f.type)], default: null });
  }
  return { type: 'record', name, namespace: 'sfbridge.cometd', doc: `${name} as CometD delivers it, from the describe`, fields: out };
}

/** A describe type as the JSON value CometD carries for it. */
function avroType(t: string): string {
  switch (t) {
    case 'boolean':
      return 'boolean';
    case 'int':
      return 'int';
    case 'long':
      return 'long';
    case 'double':
    case 'currency':
    case 'percent':
      return 'double';
    default:
      return 'string';
  }
}
