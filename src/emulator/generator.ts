/**
 * Synthetic traffic: realistic CDC and platform events produced without going through REST,
 * for fault tests, the load generator (`--generate cdc:Account:5000/s,...`) and benchmarks.
 */
import type { BusEvent } from './bus.js';
import { newId } from './ids.js';
import { COMPOUND_FIELDS, type FieldDef } from './objects.js';
import { EmulatedOrg, OrgError } from './org.js';

export type EmitSpec = { kind: 'cdc'; object: string } | { kind: 'platform'; name: string } | { kind: 'generic'; channel: string };

export function parseEmitSpec(spec: string): EmitSpec {
  const [kind, name] = [spec.slice(0, spec.indexOf(':')), spec.slice(spec.indexOf(':') + 1)];
  if (kind === 'cdc' && name) return { kind, object: name };
  if (kind === 'platform' && name) return { kind, name };
  if (kind === 'generic' && name) return { kind, channel: name.startsWith('/u/') ? name : `/u/${name}` };
  throw new OrgError(400, 'INVALID_SPEC', `"${spec}" is not an event spec; use cdc:<Object>, platform:<Name__e> or generic:/u/<Name>`);
}

function sample(f: FieldDef, i: number): unknown {
  switch (f.type) {
    case 'string':
      return f.name.endsWith('Id') ? '0055g00000Emu01AAA' : `${f.name} value ${i % 997}`;
    case 'boolean':
      return i % 2 === 0;
    case 'int':
      return i % 10_000;
    case 'double':
      return (i % 100_000) * 1.5;
    case 'long':
    case 'datetime':
    case 'date':
      return 1_790_000_000_000 + i;
    case 'address':
      return Object.fromEntries(
        COMPOUND_FIELDS.address.map((s) => [s.name, s.type === 'double' ? 45.5 + (i % 10) : `${s.name} ${i % 50}`]),
      );
    case 'name':
      return { Salutation: 'Ms.', FirstName: `First${i % 100}`, LastName: `Last${i % 1000}` };
  }
}

export class Generator {
  private counter = 0;
  private readonly recordPools = new Map<string, string[]>();

  constructor(private readonly org: EmulatedOrg) {}

  emit(spec: EmitSpec, count: number): BusEvent[] {
    const out: BusEvent[] = [];
    for (let n = 0; n < count; n++) out.push(this.one(spec));
    return out;
  }

  private one(spec: EmitSpec): BusEvent {
    const i = this.counter++;
    if (spec.kind === 'generic') return this.org.publishGeneric(spec.channel, `generic event ${i}`);
    if (spec.kind === 'platform') {
      const pe = this.org.platformEvents.get(spec.name);
      if (!pe) throw new OrgError(404, 'NOT_FOUND', `unknown platform event ${spec.name}`);
      return this.org.publishPlatformEvent(pe.name, Object.fromEntries(pe.fields.map((f) => [f.name, sample(f, i)])));
    }
    const obj = this.org.object(spec.object);
    let pool = this.recordPools.get(obj.name);
    if (!pool) this.recordPools.set(obj.name, (pool = []));
    // A realistic mix: creates with every field, then updates of a few fields of known records.
    if (pool.length < 10 || i % 10 === 0) {
      const id = newId(obj.keyPrefix);
      if (pool.length < 1000) pool.push(id);
      const values = Object.fromEntries(obj.fields.map((f) => [f.name, sample(f, i)]));
      const changed = obj.fields.flatMap((f) =>
        f.type === 'address' || f.type === 'name' ? COMPOUND_FIELDS[f.type].map((s) => `${f.name}.${s.name}`) : [f.name],
      );
      return this.org.emitChange(obj, 'CREATE', [id], changed, [], values);
    }
    const id = pool[i % pool.length] as string;
    const scalar = obj.fields.filter((f) => f.type !== 'address' && f.type !== 'name');
    const picked = [scalar[i % scalar.length], scalar[(i * 7 + 3) % scalar.length]].filter((f): f is FieldDef => !!f);
    const values: Record<string, unknown> = Object.fromEntries(picked.map((f) => [f.name, sample(f, i)]));
    const changed = picked.map((f) => f.name);
    // Salesforce puts LastModifiedDate in every UPDATE change event (changed fields included), as REST-driven updates here do.
    if (obj.fields.some((f) => f.name === 'LastModifiedDate') && !changed.includes('LastModifiedDate')) {
      values.LastModifiedDate = this.org.clock.now();
      changed.push('LastModifiedDate');
    }
    const addr = obj.fields.find((f) => f.type === 'address');
    if (addr && i % 3 === 0) {
      values[addr.name] = { City: `City ${i % 40}` };
      changed.push(`${addr.name}.City`);
    }
    return this.org.emitChange(obj, 'UPDATE', [id], changed, [], values);
  }

  /** Fault injection: a gap event (header and record ids only). */
  gap(
    object: string,
    changeType: 'GAP_CREATE' | 'GAP_UPDATE' | 'GAP_DELETE' | 'GAP_UNDELETE' = 'GAP_UPDATE',
    recordIds?: string[],
  ): BusEvent {
    const obj = this.org.object(object);
    return this.org.emitChange(obj, changeType, recordIds ?? [newId(obj.keyPrefix)], [], [], {});
  }

  /** Fault injection: a CDC event whose Avro payload does not decode with its schema. */
  corrupt(object: string): BusEvent {
    const obj = this.org.object(object);
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    return this.org.emitChange(obj, 'UPDATE', [newId(obj.keyPrefix)], [], [], {}, undefined, { rawPayload: garbage });
  }

  /**
   * Fault injection: a CREATE change event served with a blank schema id on `channel` (its own
   * topic still names its schema). `unreadable`: its payload is not Avro of any schema either.
   */
  blankSchema(object: string, channel: string, unreadable: boolean): BusEvent {
    const obj = this.org.object(object);
    const id = newId(obj.keyPrefix);
    const rawPayload = unreadable ? Buffer.from([0x03, 0xff, 0xfe, 0x00]) : undefined;
    return this.org.emitChange(obj, 'CREATE', [id], [], [], {}, undefined, { blankSchemaOn: [channel], rawPayload });
  }

  /** Fault injection: GAP_OVERFLOW (a transaction changed more than 100,000 records). */
  overflow(object: string): BusEvent {
    return this.org.emitChange(this.org.object(object), 'GAP_OVERFLOW', [], [], [], {});
  }
}

/** Parse `cdc:Account:5000/s,platform:Order_Event__e:500/s` into specs and rates. */
export function parseGenerate(text: string): Array<{ spec: EmitSpec; perSecond: number }> {
  return text
    .split(',')
    .filter(Boolean)
    .map((part) => {
      const m = /^(.+):(\d+)\/s$/.exec(part.trim());
      if (!m) throw new OrgError(400, 'INVALID_SPEC', `"${part}" is not a load spec; use e.g. cdc:Account:5000/s`);
      return { spec: parseEmitSpec(m[1] as string), perSecond: Number(m[2]) };
    });
}

export { EmulatedOrg };
