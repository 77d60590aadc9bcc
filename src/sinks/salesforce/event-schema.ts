/**
 * A platform event's Avro schema (GetTopic, then GetSchema) and how one event's fields become its
 * payload bytes. A field the event does not have, or a value its type cannot hold, is that event's
 * rejection naming the field: Salesforce would otherwise publish the event without it.
 */
import avro from 'avsc';

/** Fields the publisher fills when the mapping leaves them out (Salesforce sets its own on publish). */
const PLACEHOLDER_USER = '005000000000000AAA';

/** `unknownField`: the event has no such field in this schema (a newer schema may have it). */
export type Encoded = { bytes: Buffer } | { error: string; unknownField?: boolean };

export class EventSchema {
  private readonly type: avro.Type;
  private readonly fields: Map<string, { type: avro.Type; isLong: boolean }>;

  constructor(
    readonly id: string,
    json: string,
    readonly eventName: string,
  ) {
    this.type = avro.Type.forSchema(JSON.parse(json) as avro.Schema);
    this.fields = new Map(
      (this.type as avro.types.RecordType).fields.map((f) => [f.name, { type: f.type, isLong: accepts(f.type, 'long') }]),
    );
  }

  encode(input: Record<string, unknown>, now: number): Encoded {
    const rec: Record<string, unknown> = {};
    for (const name of this.fields.keys()) rec[name] = null;
    rec.CreatedDate = now;
    rec.CreatedById = PLACEHOLDER_USER;
    for (const [k, v] of Object.entries(input)) {
      const f = this.fields.get(k);
      if (!f) return { error: `field ${k} is not on ${this.eventName} (schema ${this.id})`, unknownField: true };
      // DateTime fields are Avro longs (epoch ms): an ISO string is taken as that instant.
      rec[k] = f.isLong && typeof v === 'string' && Number.isFinite(Date.parse(v)) ? Date.parse(v) : v;
    }
    try {
      return { bytes: this.type.toBuffer(rec) };
    } catch {
      // Only a value that does not fit pays for finding which field it is.
      let bad: string | null = null;
      this.type.isValid(rec, {
        errorHook: (path, value) => {
          bad ??= `field ${path.join('.')} of ${this.eventName} cannot hold ${JSON.stringify(value) ?? String(value)}`;
        },
      });
      return { error: bad ?? `the event does not fit schema ${this.id}` };
    }
  }
}

/** Whether a field's type (or a branch of its union) is the named primitive. */
function accepts(t: avro.Type, name: string): boolean {
  const branches = (t as unknown as { types?: avro.Type[] }).types;
  return branches ? branches.some((b) => b.typeName === name) : t.typeName === name;
}
