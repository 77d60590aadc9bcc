/**
 * From envelope payloads to column values. Column names are the Salesforce field names in lower
 * case (SQL users need no quotes); compound fields are flattened the way Salesforce names their
 * parts (`BillingAddress.City` → `billingcity`, `Name.FirstName` → `firstname`). Column types come
 * from the object's describe (the Salesforce field type), else from the first value seen.
 * Every value is checked against its column's type here, so a value that does not fit is refused
 * with the column and the reason before any SQL runs (and never truncated).
 */

export type PgType = 'text' | 'numeric' | 'bigint' | 'boolean' | 'timestamptz' | 'date' | 'time';

/** The column type of a Salesforce field type (sObject describe `type`), or null for compound fields. */
export function pgTypeOf(sfType: string): PgType | null {
  switch (sfType) {
    case 'address':
    case 'location':
    case 'name':
      return null;
    case 'boolean':
      return 'boolean';
    case 'int':
    case 'long':
      return 'bigint';
    case 'double':
    case 'currency':
    case 'percent':
      return 'numeric';
    case 'datetime':
      return 'timestamptz';
    case 'date':
      return 'date';
    case 'time':
      return 'time';
    default:
      return 'text';
  }
}

/** A type for a field the describe does not know, from a value. */
export function inferType(v: unknown): PgType {
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number') return Number.isInteger(v) ? 'bigint' : 'numeric';
  return 'text';
}

const names = new Map<string, string>();
/** The column of a field: its name in lower case (memoised: called for every field of every event). */
export function columnName(field: string): string {
  let c = names.get(field);
  if (c === undefined) {
    c = field.toLowerCase();
    if (names.size < 100_000) names.set(field, c);
  }
  return c;
}

/** A compound part's field name: BillingAddress.City → BillingCity, Name.FirstName → FirstName, Loc__c.Latitude → Loc__Latitude__s. */
function partName(parent: string, part: string): string {
  if (parent === 'Name') return part;
  if (/Address$/.test(parent)) return `${parent.replace(/Address$/, '')}${part}`;
  if (parent.endsWith('__c')) return `${parent.slice(0, -3)}__${part}__s`;
  return `${parent}${part}`;
}

export interface Flat {
  /** Field name → value, compound parts flattened. */
  fields: Map<string, unknown>;
  /** Fields sent as a diff (CometD `{"diff": …}`): their new value is unknown here. */
  diffs: string[];
}

const SKIP = new Set(['ChangeEventHeader', 'attributes']);

export function flatten(payload: unknown): Flat {
  const out: Flat = { fields: new Map(), diffs: [] };
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return out;
  const p = payload as Record<string, unknown>;
  for (const k in p) {
    if (SKIP.has(k)) continue;
    const v = p[k];
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      if ('diff' in o && Object.keys(o).length === 1) {
        out.diffs.push(k);
        continue;
      }
      for (const part in o) out.fields.set(partName(k, part), o[part]);
    } else out.fields.set(k, v);
  }
  return out;
}

/** A field name as a nulledFields / changedFields entry names it (`Name.LastName`) → its flat name. */
export function flatFieldName(name: string): string {
  const dot = name.indexOf('.');
  return dot < 0 ? name : partName(name.slice(0, dot), name.slice(dot + 1));
}

/** The value for a column of `type`, or throws a message saying why it does not fit. */
export function toPg(v: unknown, type: PgType): unknown {
  if (v === null || v === undefined) return null;
  switch (type) {
    case 'text':
      return typeof v === 'string' ? v : JSON.stringify(v);
    case 'boolean':
      if (typeof v === 'boolean') return v;
      if (v === 'true' || v === 'false') return v === 'true';
      throw new Error(`${JSON.stringify(v)} is not a boolean`);
    case 'bigint':
    case 'numeric': {
      const s = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : '';
      if (!/^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`${JSON.stringify(v)} is not a number`);
      if (type === 'bigint' && !/^-?\d+$/.test(s)) throw new Error(`${JSON.stringify(v)} is not a whole number`);
      return s;
    }
    case 'timestamptz':
    case 'date': {
      // Pub/Sub sends epoch milliseconds (Avro long); CometD and Bulk exports send ISO text.
      const ms = typeof v === 'number' ? (type === 'date' && Math.abs(v) < 1e8 ? v * 86_400_000 : v) : Date.parse(String(v));
      if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15)
        throw new Error(`${JSON.stringify(v)} is not a ${type === 'date' ? 'date' : 'date and time'}`);
      const iso = new Date(ms).toISOString();
      return type === 'date' ? iso.slice(0, 10) : iso;
    }
    case 'time': {
      const s = typeof v === 'number' ? new Date(v).toISOString().slice(11, 23) : String(v);
      if (!/^\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z?$/.test(s)) throw new Error(`${JSON.stringify(v)} is not a time`);
      return s.replace(/Z$/, '');
    }
  }
}
