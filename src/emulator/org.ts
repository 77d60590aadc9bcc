/**
 * The emulated org's data: object and platform-event definitions with their schemas (every
 * version kept by id), records, PushTopics, managed subscriptions. Record changes publish CDC
 * events and matching PushTopic events on the bus, as Salesforce does.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { BusEvent, EventBus, EventClass } from './bus.js';
import { ChannelRegistry } from './channels.js';
import type { Clock } from './clock.js';
import { caseSafeSuffix, newId } from './ids.js';
import {
  BUILTIN_OBJECTS,
  BUILTIN_PLATFORM_EVENTS,
  COMPOUND_FIELDS,
  type FieldDef,
  type ObjectDef,
  type PlatformEventDef,
} from './objects.js';
import { OrgError } from './org-error.js';
import { type ChangeType, cdcSchema, decodeFieldBitmap, encodeFieldBitmap, platformEventSchema, type SchemaEntry } from './schemas.js';
import { condFields, matches, parseSoql, type Query, type SoqlError } from './soql.js';

export interface OrgOptions {
  orgId?: string;
  userId?: string;
  objects?: ObjectDef[];
  platformEvents?: PlatformEventDef[];
  /** Custom CDC channels: `<Name>__chn` with the entities they carry. */
  channels?: Array<{ name: string; entities: string[] }>;
  managedSubscriptions?: Array<{ developerName: string; topic: string; start?: 'EARLIEST' | 'LATEST' }>;
  statePath?: string | null;
}

export interface RecordData {
  Id: string;
  type: string;
  fields: Record<string, unknown>;
}

export interface PushTopic {
  Id: string;
  Name: string;
  Query: string;
  ApiVersion: number;
  NotifyForOperationCreate: boolean;
  NotifyForOperationUpdate: boolean;
  NotifyForOperationDelete: boolean;
  NotifyForOperationUndelete: boolean;
  NotifyForFields: 'All' | 'Referenced' | 'Select' | 'Where';
  IsActive: boolean;
  Description: string | null;
}

export interface ManagedSubscription {
  id: string;
  developerName: string;
  topic: string;
  /** defaultReplay: where a subscription without a committed position starts. */
  start: 'EARLIEST' | 'LATEST';
  /** errorRecoveryReplay: where it resumes when the committed position is no longer valid. */
  errorRecovery?: 'EARLIEST' | 'LATEST';
  /** RUN, or STOP (ManagedSubscribe then fails with managed.subscription.config.stopped). */
  state?: 'RUN' | 'STOP';
  label?: string;
  committed: number | null;
}

/** ManagedEventSubscription's Tooling API `Metadata`, as clients send and read it. */
export interface ManagedMetadata {
  label?: string;
  topicName?: string;
  defaultReplay?: string;
  errorRecoveryReplay?: string;
  state?: string;
}

export interface ResolvedChannel {
  cls: EventClass;
  /** Current schema for single-schema channels. */
  schema: SchemaEntry | null;
  canPublish: boolean;
}

/**
 * A field added to a schema is a custom field, named as Salesforce names them: a letter first,
 * then letters, digits and single underscores, not ending in one, at most 40 characters, then `__c`.
 */
export function checkFieldName(name: string): void {
  const base = /^([A-Za-z][A-Za-z0-9_]*)__c$/.exec(name)?.[1];
  if (!base || base.includes('__') || base.endsWith('_') || base.length > 40) {
    throw new OrgError(
      400,
      'INVALID_FIELD',
      `invalid custom field name ${JSON.stringify(name).slice(0, 60)}: a letter first, then letters, digits and single underscores, ending in __c`,
    );
  }
}

export { OrgError };

const DEFAULT_ORG_BODY = '00D5g00000Emu01';
export const DEFAULT_ORG_ID = DEFAULT_ORG_BODY + caseSafeSuffix(DEFAULT_ORG_BODY);
const DEFAULT_USER_BODY = '0055g00000Emu01';
export const DEFAULT_USER_ID = DEFAULT_USER_BODY + caseSafeSuffix(DEFAULT_USER_BODY);

export class EmulatedOrg {
  readonly orgId: string;
  readonly userId: string;
  readonly objects = new Map<string, ObjectDef>();
  /** Deleted records (the recycle bin), visible to queryAll with IsDeleted = true. */
  readonly deleted = new Map<string, RecordData>();
  /** API usage as /limits reports it (DailyApiRequests moves with every REST call). */
  readonly usage = {
    /** OAuth token requests (logins and refreshes). */
    tokenRequests: 0,
    apiRequests: 0,
    compositeGets: 0,
    describes: 0,
    bulkJobs: 0,
    deliveredEvents: 0,
    streamingEvents: 0,
    publishedThisHour: 0,
  };
  /** When the current publishing hour began (emulator clock). */
  publishHourStart = 0;

  /**
   * Take `n` events of the hourly publishing allocation (HourlyPublishedPlatformEvents); returns how
   * many may be published now. The allocation renews each hour of the emulator's clock.
   */
  takePublishAllocation(n: number): number {
    const now = this.clock.now();
    if (now - this.publishHourStart >= 3_600_000) {
      this.publishHourStart = now;
      this.usage.publishedThisHour = 0;
    }
    const room = Math.max(0, this.limitMax.HourlyPublishedPlatformEvents - this.usage.publishedThisHour);
    const take = Math.min(n, room);
    this.usage.publishedThisHour += take;
    return take;
  }
  /** Count deliveries as Salesforce's allocations do: platform and change events, or legacy streaming (PushTopic, generic). */
  countDelivered(cls: string, n: number): void {
    if (cls === 'cdc' || cls === 'platform') this.usage.deliveredEvents += n;
    else this.usage.streamingEvents += n;
  }
  /** Daily maxima for /limits (emulator config `limits`). */
  limitMax = {
    DailyApiRequests: 15000,
    DailyBulkV2QueryJobs: 10000,
    DailyDeliveredPlatformEvents: 50000,
    DailyStreamingApiEvents: 1000000,
    HourlyPublishedPlatformEvents: 250000,
  };
  readonly platformEvents = new Map<string, PlatformEventDef>();
  readonly schemasById = new Map<string, SchemaEntry>();
  private readonly currentSchema = new Map<string, SchemaEntry>();
  readonly records = new Map<string, RecordData>();
  readonly pushTopics = new Map<string, PushTopic>();
  readonly genericChannels = new Set<string>();
  readonly managed = new Map<string, ManagedSubscription>();
  /** Custom channels and their filtered members (Tooling API PlatformEventChannel / PlatformEventChannelMember). */
  readonly channels = new ChannelRegistry((entity, type) =>
    type === 'data' ? this.objectOfChangeEvent(entity) !== undefined : this.platformEvents.has(entity),
  );
  private readonly parsedTopics = new Map<string, Query>();
  /** Real commit numbers exceed 2^53 (a capture from an org: 1725346778429841409): a BigInt, exact on both transports. */
  private commitNumber = 1_725_346_778_429_841_409n;
  private stateTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly bus: EventBus,
    readonly clock: Clock,
    private readonly opts: OrgOptions = {},
  ) {
    this.orgId = opts.orgId ?? DEFAULT_ORG_ID;
    this.userId = opts.userId ?? DEFAULT_USER_ID;
    for (const o of [...BUILTIN_OBJECTS, ...(opts.objects ?? [])]) this.objects.set(o.name, structuredClone(o));
    for (const pe of [...BUILTIN_PLATFORM_EVENTS, ...(opts.platformEvents ?? [])]) this.platformEvents.set(pe.name, structuredClone(pe));
    for (const c of opts.channels ?? []) {
      this.channels.createChannel({ FullName: c.name, Metadata: { channelType: 'data' } });
      for (const e of c.entities)
        this.channels.createMember({ Metadata: { eventChannel: c.name, selectedEntity: EmulatedOrg.changeEventName(e) } });
    }
    for (const m of opts.managedSubscriptions ?? []) this.createManaged(m.developerName, m.topic, m.start ?? 'EARLIEST');
    if (opts.statePath && existsSync(opts.statePath)) this.loadState(opts.statePath);
    for (const o of this.objects.values()) this.registerSchema(`cdc:${o.name}`, cdcSchema(o), o);
    for (const pe of this.platformEvents.values()) this.registerSchema(`pe:${pe.name}`, platformEventSchema(pe), pe);
  }

  /** Every schema version ever served, so events published before a change still decode after a restart. */
  private schemaHistory: Array<{ key: string; def: ObjectDef | PlatformEventDef }> = [];

  private registerSchema(key: string, s: SchemaEntry, def?: ObjectDef | PlatformEventDef): void {
    if (!this.schemasById.has(s.id) && def) this.schemaHistory.push({ key, def: structuredClone(def) });
    this.schemasById.set(s.id, s);
    this.currentSchema.set(key, s);
  }

  schemaOf(kind: 'cdc' | 'pe', name: string): SchemaEntry {
    const s = this.currentSchema.get(`${kind}:${name}`);
    if (!s) throw new OrgError(404, 'NOT_FOUND', `no schema for ${name}`);
    return s;
  }

  /** CDC channel name of an object: Account -> AccountChangeEvent, Invoice__c -> Invoice__ChangeEvent. */
  static changeEventName(object: string): string {
    return `${object.replace(/__c$/, '__')}ChangeEvent`;
  }

  objectOfChangeEvent(name: string): ObjectDef | undefined {
    for (const o of this.objects.values()) if (EmulatedOrg.changeEventName(o.name) === name) return o;
    return undefined;
  }

  /** What a channel is, or undefined when it does not exist in this org. */
  resolveChannel(channel: string): ResolvedChannel | undefined {
    if (channel === '/data/ChangeEvents') return { cls: 'cdc', schema: null, canPublish: false };
    const custom = this.channels.typeOf(channel);
    if (custom) return { cls: custom === 'data' ? 'cdc' : 'platform', schema: null, canPublish: false };
    let m = /^\/data\/(.+)$/.exec(channel);
    if (m) {
      const obj = this.objectOfChangeEvent(m[1] as string);
      return obj ? { cls: 'cdc', schema: this.schemaOf('cdc', obj.name), canPublish: false } : undefined;
    }
    m = /^\/event\/(.+__e)$/.exec(channel);
    if (m)
      return this.platformEvents.has(m[1] as string)
        ? { cls: 'platform', schema: this.schemaOf('pe', m[1] as string), canPublish: true }
        : undefined;
    m = /^\/topic\/(.+)$/.exec(channel);
    if (m)
      return [...this.pushTopics.values()].some((t) => t.Name === m?.[1])
        ? { cls: 'pushtopic', schema: null, canPublish: false }
        : undefined;
    if (/^\/u\/.+/.test(channel))
      return this.genericChannels.has(channel) ? { cls: 'generic', schema: null, canPublish: false } : undefined;
    return undefined;
  }

  // ---- records and CDC ----

  object(name: string): ObjectDef {
    const o = [...this.objects.values()].find((x) => x.name.toLowerCase() === name.toLowerCase());
    if (!o) throw new OrgError(404, 'NOT_FOUND', `The requested resource does not exist: sObject type '${name}' is not supported.`);
    return o;
  }

  /** Map REST field names (incl. components like BillingCity, FirstName) onto stored fields. */
  /** Throws INVALID_FIELD naming the first field the object does not have. */
  checkFields(obj: ObjectDef, input: Record<string, unknown>): void {
    this.normaliseInput(obj, input);
  }

  /** Live records of an object by one field's value (an upsert's external id match). */
  indexBy(object: string, field: string): Map<string, string> {
    const obj = this.object(object);
    const index = new Map<string, string>();
    for (const rec of this.records.values()) {
      if (rec.type !== obj.name) continue;
      const v = this.getField(rec, field);
      if (v !== null && v !== undefined) index.set(String(v), rec.Id);
    }
    return index;
  }

  private normaliseInput(obj: ObjectDef, input: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(input)) {
      if (key === 'attributes' || key === 'Id') continue;
      const direct = obj.fields.find((f) => f.name.toLowerCase() === key.toLowerCase());
      if (direct && direct.type !== 'address' && direct.type !== 'name') {
        out[direct.name] = direct.type === 'date' || direct.type === 'datetime' ? timeInput(direct.name, direct.type, value) : value;
        continue;
      }
      const comp = this.componentOf(obj, key);
      if (!comp) throw new OrgError(400, 'INVALID_FIELD', `No such column '${key}' on sobject of type ${obj.name}`, [key]);
      out[`${comp.parent}.${comp.child}`] = value;
    }
    return out;
  }

  private componentOf(obj: ObjectDef, key: string): { parent: string; child: string } | undefined {
    for (const f of obj.fields) {
      if (f.type === 'address') {
        const prefix = f.name.replace(/Address$/, '');
        for (const sub of COMPOUND_FIELDS.address)
          if (`${prefix}${sub.name}`.toLowerCase() === key.toLowerCase()) return { parent: f.name, child: sub.name };
      } else if (f.type === 'name') {
        for (const sub of COMPOUND_FIELDS.name)
          if (sub.name.toLowerCase() === key.toLowerCase()) return { parent: f.name, child: sub.name };
      }
    }
    return undefined;
  }

  /**
   * A field's value as the REST API (query, sObject Collections) returns it: dateTimes as
   * `2026-11-29T10:00:00.000+0000`, dates as `2026-11-29` (stored here as epoch milliseconds).
   */
  restField(rec: RecordData, name: string): unknown {
    const v = this.getField(rec, name);
    if (typeof v !== 'number') return v;
    const type = this.fieldType(rec.type, name);
    if (type === 'datetime') return new Date(v).toISOString().replace('Z', '+0000');
    if (type === 'date') return new Date(v).toISOString().slice(0, 10);
    return v;
  }

  private fieldType(object: string, name: string): string | undefined {
    if (name === 'SystemModstamp') return 'datetime';
    return this.objects.get(object)?.fields.find((f) => f.name.toLowerCase() === name.toLowerCase())?.type;
  }

  getField(rec: RecordData, name: string): unknown {
    if (name === 'Id') return rec.Id;
    // System fields every object has: the last change time (LastModifiedDate here) and the delete flag.
    if (name === 'SystemModstamp') return rec.fields.LastModifiedDate ?? null;
    if (name === 'IsDeleted') return this.deleted.has(rec.Id);
    const obj = this.objects.get(rec.type);
    const direct = rec.fields[name];
    if (direct !== undefined) return direct;
    if (obj) {
      const comp = this.componentOf(obj, name);
      if (comp) return (rec.fields[comp.parent] as Record<string, unknown> | undefined)?.[comp.child] ?? null;
    }
    return null;
  }

  /** `origin`: the API and client the change came through (changeOrigin), e.g. `com/salesforce/api/rest/63.0;client=x`. */
  createRecord(type: string, input: Record<string, unknown>, origin?: string): RecordData {
    const obj = this.object(type);
    const values = this.normaliseInput(obj, input);
    const now = this.clock.now();
    const rec: RecordData = { Id: newId(obj.keyPrefix), type: obj.name, fields: {} };
    const sys = { OwnerId: this.userId, CreatedDate: now, CreatedById: this.userId, LastModifiedDate: now, LastModifiedById: this.userId };
    const changed = this.apply(obj, rec, { ...sys, ...values });
    this.records.set(rec.Id, rec);
    this.emitChange(obj, 'CREATE', [rec.Id], changed, [], rec.fields, undefined, { origin });
    this.notifyPushTopics(obj, rec, 'created', changed);
    this.saveStateLater();
    return rec;
  }

  /**
   * A transaction too large for change events (Salesforce: over 100,000 records): the records
   * change, and one GAP_OVERFLOW event (no record ids) is all the stream says.
   */
  massUpdate(type: string, count: number, input: Record<string, unknown>): string[] {
    const obj = this.object(type);
    const values = this.normaliseInput(obj, input);
    const ids: string[] = [];
    for (const rec of this.records.values()) {
      if (ids.length >= count) break;
      if (rec.type !== obj.name) continue;
      this.apply(obj, rec, { ...values, LastModifiedDate: this.clock.now(), LastModifiedById: this.userId });
      ids.push(rec.Id);
    }
    this.emitChange(obj, 'GAP_OVERFLOW', [], [], [], {});
    this.saveStateLater();
    return ids;
  }

  updateRecord(type: string, id: string, input: Record<string, unknown>, origin?: string): void {
    const obj = this.object(type);
    const rec = this.records.get(id);
    if (!rec || rec.type !== obj.name) throw new OrgError(404, 'NOT_FOUND', 'The requested resource does not exist');
    const values = this.normaliseInput(obj, input);
    const changed = this.apply(obj, rec, { ...values, LastModifiedDate: this.clock.now(), LastModifiedById: this.userId });
    const nulled = changed.filter((n) => values[n] === null);
    const delta: Record<string, unknown> = {};
    for (const n of changed) {
      const dot = n.indexOf('.');
      if (dot < 0) delta[n] = rec.fields[n];
      else {
        const p = n.slice(0, dot);
        delta[p] = { ...((delta[p] as object) ?? {}), [n.slice(dot + 1)]: (rec.fields[p] as Record<string, unknown>)[n.slice(dot + 1)] };
      }
    }
    this.emitChange(obj, 'UPDATE', [id], changed, nulled, delta, undefined, { origin });
    this.notifyPushTopics(obj, rec, 'updated', changed);
    this.saveStateLater();
  }

  deleteRecord(type: string, id: string, origin?: string): void {
    const obj = this.object(type);
    const rec = this.records.get(id);
    if (!rec || rec.type !== obj.name) throw new OrgError(404, 'ENTITY_IS_DELETED', 'entity is deleted');
    this.records.delete(id);
    // Kept for queryAll (the recycle bin): IsDeleted = true, modified at the deletion.
    rec.fields.LastModifiedDate = this.clock.now();
    this.deleted.set(id, rec);
    this.emitChange(obj, 'DELETE', [id], [], [], {}, undefined, { origin });
    this.notifyPushTopics(obj, rec, 'deleted', []);
    this.saveStateLater();
  }

  /**
   * Restore a deleted record from the recycle bin (SOAP/Apex `undelete`): an UNDELETE change event
   * carrying the record's fields, as a create does.
   */
  undeleteRecord(id: string): void {
    const rec = this.deleted.get(id);
    if (!rec) throw new OrgError(404, 'ENTITY_IS_DELETED', `no deleted record ${id} in the recycle bin`);
    const obj = this.object(rec.type);
    this.deleted.delete(id);
    rec.fields.LastModifiedDate = this.clock.now();
    this.records.set(id, rec);
    this.emitChange(obj, 'UNDELETE', [id], [], [], rec.fields);
    this.notifyPushTopics(obj, rec, 'undeleted', []);
    this.saveStateLater();
  }

  /** Apply values ('Parent.Child' for components); returns the names that changed. */
  private apply(obj: ObjectDef, rec: RecordData, values: Record<string, unknown>): string[] {
    const changed: string[] = [];
    for (const [name, value] of Object.entries(values)) {
      const dot = name.indexOf('.');
      if (dot > 0) {
        const parent = name.slice(0, dot);
        const child = name.slice(dot + 1);
        const cur = (rec.fields[parent] as Record<string, unknown> | undefined) ?? null;
        if ((cur?.[child] ?? null) === value) continue;
        const def = obj.fields.find((f) => f.name === parent) as FieldDef;
        const base: Record<string, unknown> =
          cur ?? Object.fromEntries(COMPOUND_FIELDS[def.type as 'address' | 'name'].map((s) => [s.name, null]));
        rec.fields[parent] = { ...base, [child]: value };
        changed.push(name);
      } else {
        if ((rec.fields[name] ?? null) === value) continue;
        rec.fields[name] = value;
        changed.push(name);
      }
    }
    return changed;
  }

  /** Publish one CDC event (also used by fault injection for gap and overflow events). */
  emitChange(
    obj: ObjectDef,
    changeType: ChangeType,
    recordIds: string[],
    changed: string[],
    nulled: string[],
    values: Record<string, unknown>,
    time?: number,
    /**
     * Fault injection: serve these bytes instead of the encoded record (a malformed payload), and/or
     * serve the event with a blank schema id on these channels.
     */
    fault: { rawPayload?: Buffer; blankSchemaOn?: string[]; origin?: string } = {},
  ): BusEvent {
    const schema = this.schemaOf('cdc', obj.name);
    const now = time ?? this.clock.now();
    const record: Record<string, unknown> = {
      ChangeEventHeader: {
        entityName: obj.name,
        recordIds,
        changeType,
        changeOrigin: fault.origin ?? 'com/salesforce/api/rest/63.0',
        transactionKey: randomUUID(),
        sequenceNumber: 1,
        commitTimestamp: now,
        commitNumber: this.commitNumber++,
        commitUser: this.userId,
        nulledFields: encodeFieldBitmap(schema, nulled),
        diffFields: [],
        // Salesforce lists changed fields for updates only ("empty for other operations, including record creation").
        changedFields: encodeFieldBitmap(schema, changeType === 'UPDATE' ? changed : []),
      },
    };
    for (const name of schema.fieldNames.slice(1)) record[name] = values[name] ?? null;
    this.fillCompounds(obj, record);
    const primary = `/data/${EmulatedOrg.changeEventName(obj.name)}`;
    const channels = [primary, '/data/ChangeEvents'];
    // A custom channel's member filter reads the record as it is after the change (the emulator does not
    // add the filtered fields to the payload, as Salesforce's auto-enrichment does) and the event's header.
    const rec = this.records.get(recordIds[0] ?? '') ?? this.deleted.get(recordIds[0] ?? '');
    const header = record.ChangeEventHeader as Record<string, unknown>;
    channels.push(
      ...this.channels.channelsFor('data', EmulatedOrg.changeEventName(obj.name), (f) => {
        const [head, sub] = f.split('.');
        if (head === 'ChangeEventHeader' && sub) return header[sub === 'entityName' ? 'entityName' : sub] ?? null;
        if (!rec) return values[f] ?? null;
        return sub ? ((rec.fields[head as string] as Record<string, unknown> | undefined)?.[sub] ?? null) : this.getField(rec, f);
      }),
    );
    return this.bus.publish({
      channel: primary,
      channels,
      cls: 'cdc',
      eventId: randomUUID(),
      schemaId: schema.id,
      payload: fault.rawPayload ?? schema.type.toBuffer(record),
      ...(fault.blankSchemaOn ? { blankSchemaOn: fault.blankSchemaOn } : {}),
      data: null,
      recordIds,
      changeType,
      time: now,
    });
  }

  private fillCompounds(obj: ObjectDef, record: Record<string, unknown>): void {
    for (const f of obj.fields) {
      const v = record[f.name];
      if ((f.type === 'address' || f.type === 'name') && v && typeof v === 'object') {
        record[f.name] = { ...Object.fromEntries(COMPOUND_FIELDS[f.type].map((s) => [s.name, null])), ...v };
      }
    }
  }

  /** The CometD (JSON) form of a CDC or platform event: bitmaps become field names. */
  jsonPayload(ev: BusEvent): Record<string, unknown> {
    const schema = ev.schemaId ? this.schemasById.get(ev.schemaId) : undefined;
    if (!schema || !ev.payload) return {};
    const rec = schema.type.fromBuffer(ev.payload) as Record<string, unknown>;
    const header = rec.ChangeEventHeader as Record<string, unknown> | undefined;
    if (header) return this.cometdChange(schema, rec, header);
    return rec;
  }

  /**
   * A change event as Streaming API (CometD) sends it, unlike the Pub/Sub form: the header lists
   * changedFields by name and has no nulledFields / diffFields; fields without a value are left
   * out and fields set to null are present as null; date and datetime fields are ISO strings;
   * a field sent as a diff is `{"diff": …}`; commitNumber is a plain JSON integer beyond 2^53.
   */
  private cometdChange(schema: SchemaEntry, rec: Record<string, unknown>, header: Record<string, unknown>): Record<string, unknown> {
    const nulled = new Set(decodeFieldBitmap(schema, header.nulledFields as string[]));
    const diff = new Set(decodeFieldBitmap(schema, header.diffFields as string[]));
    header.changedFields = decodeFieldBitmap(schema, header.changedFields as string[]);
    delete header.nulledFields;
    delete header.diffFields;
    const types = new Map((this.objects.get(String(header.entityName))?.fields ?? []).map((f) => [f.name, f.type]));
    for (const [k, v] of Object.entries(rec)) {
      if (k === 'ChangeEventHeader') continue;
      if (v === null) {
        if (!nulled.has(k)) delete rec[k];
        continue;
      }
      const type = types.get(k);
      if (v && typeof v === 'object' && !Array.isArray(v)) {
        const inner = v as Record<string, unknown>;
        for (const [ik, iv] of Object.entries(inner)) if (iv === null && !nulled.has(`${k}.${ik}`)) delete inner[ik];
      } else if ((type === 'datetime' || type === 'date') && (typeof v === 'number' || typeof v === 'bigint')) {
        const iso = new Date(Number(v)).toISOString();
        rec[k] = type === 'date' ? iso.slice(0, 10) : iso;
      }
      if (diff.has(k)) rec[k] = { diff: rec[k] };
    }
    return rec;
  }

  // ---- platform and generic events ----

  publishPlatformEvent(name: string, fields: Record<string, unknown>): BusEvent {
    const pe = this.platformEvents.get(name);
    if (!pe) throw new OrgError(404, 'NOT_FOUND', `The requested resource does not exist: sObject type '${name}' is not supported.`);
    const schema = this.schemaOf('pe', name);
    for (const k of Object.keys(fields)) {
      if (!pe.fields.some((f) => f.name === k))
        throw new OrgError(400, 'INVALID_FIELD', `No such column '${k}' on sobject of type ${name}`, [k]);
    }
    const now = this.clock.now();
    const record: Record<string, unknown> = { CreatedDate: now, CreatedById: this.userId, EventUuid: randomUUID() };
    for (const f of pe.fields) record[f.name] = fields[f.name] ?? null;
    return this.publishPlatformPayload(name, schema, schema.type.toBuffer(record), record.EventUuid as string);
  }

  /** Publish an already-encoded platform event (Pub/Sub Publish); throws if the payload does not decode. */
  publishPlatformPayload(name: string, schema: SchemaEntry, sent: Buffer, eventUuid?: string): BusEvent {
    // Salesforce sets the system fields of a published event: a new EventUuid, the publishing user
    // as CreatedById and the publish time as CreatedDate, whatever the publisher put there.
    const rec = schema.type.fromBuffer(sent) as Record<string, unknown>;
    rec.EventUuid = eventUuid ?? randomUUID();
    rec.CreatedById = this.userId;
    rec.CreatedDate = this.clock.now();
    const payload = schema.type.toBuffer(rec);
    const channel = `/event/${name}`;
    return this.bus.publish({
      channel,
      channels: [channel, ...this.channels.channelsFor('event', name, (f) => rec[f] ?? null)],
      cls: 'platform',
      eventId: rec.EventUuid as string,
      schemaId: schema.id,
      payload,
      data: null,
      recordIds: [],
    });
  }

  publishGeneric(channel: string, payload: string): BusEvent {
    this.genericChannels.add(channel);
    return this.bus.publish({
      channel,
      channels: [channel],
      cls: 'generic',
      eventId: randomUUID(),
      schemaId: null,
      payload: null,
      data: { payload },
      recordIds: [],
    });
  }

  // ---- PushTopics ----

  upsertPushTopic(input: Partial<PushTopic> & { Name?: string; Query?: string }, id?: string): PushTopic {
    const existing = id ? this.pushTopics.get(id) : undefined;
    if (id && !existing) throw new OrgError(404, 'NOT_FOUND', 'The requested resource does not exist');
    const name = input.Name ?? existing?.Name;
    const query = input.Query ?? existing?.Query;
    if (!name || !query) throw new OrgError(400, 'REQUIRED_FIELD_MISSING', 'Required fields are missing: [Name, Query]', ['Name', 'Query']);
    if (name.length > 25) throw new OrgError(400, 'STRING_TOO_LONG', 'Name: data value too large (max length=25)', ['Name']);
    const dup = [...this.pushTopics.values()].find((t) => t.Name === name && t.Id !== id);
    if (dup)
      throw new OrgError(400, 'DUPLICATE_VALUE', `duplicate value found: Name duplicates value on record with id: ${dup.Id}`, ['Name']);
    let parsed: Query;
    try {
      parsed = parseSoql(query);
    } catch (err) {
      throw new OrgError(400, 'INVALID_FIELD', `Query: ${(err as Error).message}`, ['Query']);
    }
    const obj = this.object(parsed.object);
    if (!parsed.fields.some((f) => f === 'Id'))
      throw new OrgError(400, 'INVALID_FIELD', 'Query: the SELECT list must include Id', ['Query']);
    for (const f of [...parsed.fields, ...condFields(parsed.where)]) {
      if (f !== 'Id' && !obj.fields.some((x) => x.name === f) && !this.componentOf(obj, f)) {
        throw new OrgError(400, 'INVALID_FIELD', `No such column '${f}' on entity '${obj.name}'`, ['Query']);
      }
    }
    const t: PushTopic = {
      Id: existing?.Id ?? newId('0IF'),
      Name: name,
      Query: query,
      ApiVersion: Number(input.ApiVersion ?? existing?.ApiVersion ?? 63),
      NotifyForOperationCreate: input.NotifyForOperationCreate ?? existing?.NotifyForOperationCreate ?? true,
      NotifyForOperationUpdate: input.NotifyForOperationUpdate ?? existing?.NotifyForOperationUpdate ?? true,
      NotifyForOperationDelete: input.NotifyForOperationDelete ?? existing?.NotifyForOperationDelete ?? true,
      NotifyForOperationUndelete: input.NotifyForOperationUndelete ?? existing?.NotifyForOperationUndelete ?? true,
      NotifyForFields: input.NotifyForFields ?? existing?.NotifyForFields ?? 'Referenced',
      IsActive: input.IsActive ?? existing?.IsActive ?? true,
      Description: input.Description ?? existing?.Description ?? null,
    };
    this.pushTopics.set(t.Id, t);
    this.parsedTopics.set(t.Id, { ...parsed, object: obj.name });
    this.saveStateLater();
    return t;
  }

  deletePushTopic(id: string): void {
    if (!this.pushTopics.delete(id)) throw new OrgError(404, 'NOT_FOUND', 'The requested resource does not exist');
    this.parsedTopics.delete(id);
    this.saveStateLater();
  }

  private notifyPushTopics(
    obj: ObjectDef,
    rec: RecordData,
    type: 'created' | 'updated' | 'deleted' | 'undeleted',
    changed: string[],
  ): void {
    for (const t of this.pushTopics.values()) {
      if (!t.IsActive) continue;
      const q = this.parsedTopics.get(t.Id) ?? parseSoql(t.Query);
      if (q.object !== obj.name) continue;
      if (type === 'created' && !t.NotifyForOperationCreate) continue;
      if (type === 'updated' && !t.NotifyForOperationUpdate) continue;
      if (type === 'deleted' && !t.NotifyForOperationDelete) continue;
      if (type === 'undeleted' && !t.NotifyForOperationUndelete) continue;
      if (!matches(q.where, (f) => this.getField(rec, f))) continue;
      if (type === 'updated' && t.NotifyForFields !== 'All') {
        const whereFields = condFields(q.where);
        const watched = new Set<string>(
          t.NotifyForFields === 'Where' ? whereFields : t.NotifyForFields === 'Select' ? q.fields : [...q.fields, ...whereFields],
        );
        const touched = changed.flatMap((c) => {
          const [p, child] = c.split('.');
          if (!child) return [c];
          const def = obj.fields.find((f) => f.name === p);
          return [c, p as string, def?.type === 'address' ? `${(p as string).replace(/Address$/, '')}${child}` : child];
        });
        if (!touched.some((c) => watched.has(c))) continue;
      }
      const sobject: Record<string, unknown> = {};
      for (const f of q.fields) sobject[f] = this.getField(rec, f);
      const channel = `/topic/${t.Name}`;
      this.bus.publish({
        channel,
        channels: [channel],
        cls: 'pushtopic',
        eventId: randomUUID(),
        schemaId: null,
        payload: null,
        data: { event: { type }, sobject },
        recordIds: [rec.Id],
        changeType: type,
      });
    }
  }

  // ---- queries ----

  /** SOQL over the org's records; `all` (queryAll) includes deleted ones. */
  query(soql: string, all = false): Array<Record<string, unknown>> {
    let q: Query;
    try {
      q = parseSoql(soql);
    } catch (err) {
      throw new OrgError(400, 'MALFORMED_QUERY', (err as SoqlError).message);
    }
    if (q.object.toLowerCase() === 'pushtopic') {
      const rows = [...this.pushTopics.values()].filter((t) => matches(q.where, (f) => (t as unknown as Record<string, unknown>)[f]));
      return rows
        .slice(0, q.limit ?? undefined)
        .map((t) => project('PushTopic', t.Id, q.fields, (f) => (t as unknown as Record<string, unknown>)[f]));
    }
    const obj = this.object(q.object);
    const out: Array<Record<string, unknown>> = [];
    const pool = all ? [...this.records.values(), ...this.deleted.values()] : this.records.values();
    for (const rec of pool) {
      if (rec.type !== obj.name || !matches(q.where, (f) => this.getField(rec, f))) continue;
      out.push(project(obj.name, rec.Id, q.fields, (f) => this.restField(rec, f)));
      if (q.limit !== null && out.length >= q.limit) break;
    }
    return out;
  }

  // ---- schema changes (fault injection) ----

  /**
   * Add a field (a new schema version). The name is checked as Salesforce checks API names, and
   * the new schema is built before anything changes, so a rejected field leaves no trace.
   */
  addField(target: string, field: FieldDef): SchemaEntry {
    checkFieldName(field.name);
    const pe = this.platformEvents.get(target);
    const owner = pe ?? this.object(target);
    if (owner.fields.some((f) => f.name.toLowerCase() === field.name.toLowerCase())) {
      throw new OrgError(400, 'DUPLICATE_DEVELOPER_NAME', `${target} already has a field named ${field.name}`);
    }
    const next = { ...owner, fields: [...owner.fields, field] };
    const s = pe ? platformEventSchema(next as PlatformEventDef) : cdcSchema(next as ObjectDef);
    owner.fields.push(field);
    this.registerSchema(pe ? `pe:${pe.name}` : `cdc:${owner.name}`, s, owner);
    this.saveStateLater();
    return s;
  }

  // ---- managed subscriptions ----

  createManaged(developerName: string, topic: string, start: 'EARLIEST' | 'LATEST'): ManagedSubscription {
    const existing = [...this.managed.values()].find((m) => m.developerName === developerName);
    if (existing) return existing;
    const m: ManagedSubscription = { id: newId('18x'), developerName, topic, start, committed: null };
    this.managed.set(m.id, m);
    this.saveStateLater();
    return m;
  }

  findManaged(idOrName: { id?: string; developerName?: string }): ManagedSubscription | undefined {
    if (idOrName.id) return this.managed.get(idOrName.id);
    return [...this.managed.values()].find((m) => m.developerName === idOrName.developerName);
  }

  /** Tooling API query over ManagedEventSubscription (Id, DeveloperName, Metadata). */
  toolingQuery(soql: string): Array<Record<string, unknown>> {
    let q: Query;
    try {
      q = parseSoql(soql);
    } catch (err) {
      throw new OrgError(400, 'MALFORMED_QUERY', (err as Error).message);
    }
    const table =
      q.object === 'PlatformEventChannel'
        ? this.channels.channels
        : q.object === 'PlatformEventChannelMember'
          ? this.channels.members
          : null;
    if (table) {
      const rows = [...table.values()] as unknown as Array<Record<string, unknown> & { Id: string }>;
      return rows
        .filter((r) => matches(q.where, (f) => r[f]))
        .slice(0, q.limit ?? undefined)
        .map((r) => ({
          ...project(q.object, r.Id, q.fields, (f) => r[f]),
          attributes: { type: q.object, url: `/services/data/v63.0/tooling/sobjects/${q.object}/${r.Id}` },
        }));
    }
    if (q.object !== 'ManagedEventSubscription')
      throw new OrgError(400, 'INVALID_TYPE', `sObject type '${q.object}' is not supported by this emulator's Tooling API`);
    return [...this.managed.values()]
      .filter((m) => matches(q.where, (f) => (f === 'Id' ? m.id : f === 'DeveloperName' ? m.developerName : null)))
      .slice(0, q.limit ?? undefined)
      .map((m) => ({
        attributes: { type: 'ManagedEventSubscription', url: `/services/data/v63.0/tooling/sobjects/ManagedEventSubscription/${m.id}` },
        Id: m.id,
        DeveloperName: m.developerName,
        Metadata: managedMetadata(m),
      }));
  }

  /** Tooling API create (FullName + Metadata), update (Metadata) and delete of ManagedEventSubscription. */
  writeManaged(
    op: 'create' | 'update' | 'delete',
    id: string | null,
    body: { FullName?: string; Metadata?: ManagedMetadata },
  ): ManagedSubscription | null {
    if (op === 'delete') {
      if (!id || !this.managed.delete(id)) throw new OrgError(404, 'NOT_FOUND', 'The requested resource does not exist');
      this.saveStateLater();
      return null;
    }
    const md = body.Metadata ?? {};
    const preset = (v: string | undefined, field: string): 'EARLIEST' | 'LATEST' | undefined => {
      if (v === undefined) return undefined;
      if (v === 'EARLIEST' || v === 'LATEST') return v;
      throw new OrgError(400, 'INVALID_INPUT', `${field}: bad value for restricted picklist field: ${v}`, [field]);
    };
    if (md.state !== undefined && md.state !== 'RUN' && md.state !== 'STOP')
      throw new OrgError(400, 'INVALID_INPUT', `state: bad value for restricted picklist field: ${md.state}`, ['state']);
    const state = md.state as 'RUN' | 'STOP' | undefined;
    if (op === 'create') {
      const name = body.FullName ?? '';
      if (!/^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*[A-Za-z0-9]?$/.test(name))
        throw new OrgError(400, 'INVALID_INPUT', 'FullName: use letters, digits and single underscores, starting with a letter', [
          'FullName',
        ]);
      if (this.findManaged({ developerName: name }))
        throw new OrgError(400, 'DUPLICATE_DEVELOPER_NAME', `${name} already exists`, ['FullName']);
      if (!md.topicName || !this.resolveChannel(md.topicName))
        throw new OrgError(400, 'INVALID_INPUT', `topicName: no such topic ${md.topicName ?? '(none)'}`, ['topicName']);
      const m = this.createManaged(name, md.topicName, preset(md.defaultReplay, 'defaultReplay') ?? 'LATEST');
      Object.assign(m, {
        errorRecovery: preset(md.errorRecoveryReplay, 'errorRecoveryReplay') ?? 'LATEST',
        state: state ?? 'RUN',
        label: md.label ?? name,
      });
      return m;
    }
    const m = id ? this.managed.get(id) : undefined;
    if (!m) throw new OrgError(404, 'NOT_FOUND', 'The requested resource does not exist');
    if (md.topicName !== undefined && md.topicName !== m.topic)
      throw new OrgError(400, 'INVALID_INPUT', 'topicName: the topic of a managed subscription cannot change; create another', [
        'topicName',
      ]);
    m.start = preset(md.defaultReplay, 'defaultReplay') ?? m.start;
    m.errorRecovery = preset(md.errorRecoveryReplay, 'errorRecoveryReplay') ?? m.errorRecovery;
    m.state = state ?? m.state;
    m.label = md.label ?? m.label;
    this.saveStateLater();
    return m;
  }

  commitManaged(m: ManagedSubscription, seq: number): void {
    m.committed = seq;
    this.saveStateLater();
  }

  // ---- persistence ----

  saveStateLater(): void {
    if (!this.opts.statePath || this.stateTimer) return;
    this.stateTimer = setTimeout(() => this.saveState(), 50);
  }

  saveState(): void {
    if (this.stateTimer) clearTimeout(this.stateTimer);
    this.stateTimer = null;
    const path = this.opts.statePath;
    if (!path) return;
    const state = {
      records: [...this.records.values()],
      pushTopics: [...this.pushTopics.values()],
      managed: [...this.managed.values()],
      genericChannels: [...this.genericChannels],
      channels: [...this.channels.channels.values()],
      channelMembers: [...this.channels.members.values()],
      objects: [...this.objects.values()],
      platformEvents: [...this.platformEvents.values()],
      invalidBefore: this.bus.invalidBefore,
      commitNumber: this.commitNumber.toString(),
      schemaHistory: this.schemaHistory,
    };
    writeFileSync(`${path}.tmp`, JSON.stringify(state));
    renameSync(`${path}.tmp`, path);
  }

  private loadState(path: string): void {
    const s = JSON.parse(readFileSync(path, 'utf8'));
    for (const r of s.records ?? []) this.records.set(r.Id, r);
    for (const o of s.objects ?? []) this.objects.set(o.name, o);
    for (const pe of s.platformEvents ?? []) this.platformEvents.set(pe.name, pe);
    for (const t of s.pushTopics ?? []) {
      this.pushTopics.set(t.Id, t);
      this.parsedTopics.set(t.Id, parseSoql(t.Query));
    }
    for (const m of s.managed ?? []) this.managed.set(m.id, m);
    for (const g of s.genericChannels ?? []) this.genericChannels.add(g);
    this.channels.restore(s.channels ?? [], s.channelMembers ?? []);
    this.bus.invalidBefore = s.invalidBefore ?? 0;
    this.commitNumber = s.commitNumber !== undefined ? BigInt(s.commitNumber) : this.commitNumber;
    for (const h of s.schemaHistory ?? []) {
      const entry = h.key.startsWith('pe:') ? platformEventSchema(h.def) : cdcSchema(h.def);
      this.registerSchema(h.key, entry, h.def);
    }
  }
}

function project(type: string, id: string, fields: string[], get: (f: string) => unknown): Record<string, unknown> {
  const row: Record<string, unknown> = { attributes: { type, url: `/services/data/v63.0/sobjects/${type}/${id}` } };
  for (const f of fields) row[f] = get(f) ?? null;
  return row;
}

/**
 * A date or dateTime as REST clients send it (`2027-01-31`, `2027-01-31T10:00:00.000+0000`), kept
 * as epoch milliseconds like every stored time; what does not parse is refused as Salesforce does.
 */
function timeInput(field: string, type: string, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const ms = Date.parse(value.replace(/([+-]\d\d)(\d\d)$/, '$1:$2'));
  if (Number.isNaN(ms))
    throw new OrgError(
      400,
      'JSON_PARSER_ERROR',
      `Cannot deserialize instance of ${type === 'date' ? 'date' : 'datetime'} from VALUE_STRING value ${value} or request may be missing a required field`,
      [field],
    );
  return ms;
}

export function managedMetadata(m: ManagedSubscription): Required<ManagedMetadata> {
  return {
    label: m.label ?? m.developerName,
    topicName: m.topic,
    defaultReplay: m.start,
    errorRecoveryReplay: m.errorRecovery ?? 'EARLIEST',
    state: m.state ?? 'RUN',
  };
}
