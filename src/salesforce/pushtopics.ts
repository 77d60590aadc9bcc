/** Keep PushTopic records in line with the config: create missing ones, update changed ones. */
import type { PushTopicConfig } from '../config/schema.js';
import type { RestClient } from './rest.js';

export interface PushTopicRecord {
  Id: string;
  Name: string;
  Query: string;
  ApiVersion: number;
  NotifyForOperationCreate: boolean;
  NotifyForOperationUpdate: boolean;
  NotifyForOperationDelete: boolean;
  NotifyForOperationUndelete: boolean;
  NotifyForFields: string;
  IsActive?: boolean;
  Description?: string | null;
}

const FIELDS =
  'Id, Name, Query, ApiVersion, NotifyForOperationCreate, NotifyForOperationUpdate, NotifyForOperationDelete, NotifyForOperationUndelete, NotifyForFields, IsActive, Description';

export async function listPushTopics(rest: RestClient): Promise<PushTopicRecord[]> {
  return rest.query<PushTopicRecord>(`SELECT ${FIELDS} FROM PushTopic`);
}

function desired(t: PushTopicConfig, apiVersion: string): Omit<PushTopicRecord, 'Id'> {
  return {
    Name: t.name,
    Query: t.query,
    ApiVersion: t.apiVersion ?? Number(apiVersion),
    NotifyForOperationCreate: t.notifyForOperationCreate,
    NotifyForOperationUpdate: t.notifyForOperationUpdate,
    NotifyForOperationDelete: t.notifyForOperationDelete,
    NotifyForOperationUndelete: t.notifyForOperationUndelete,
    NotifyForFields: t.notifyForFields,
    ...(t.description === undefined ? {} : { Description: t.description }),
  };
}

export interface ApplyResult {
  name: string;
  action: 'created' | 'updated' | 'unchanged';
  id: string;
}

export async function applyPushTopics(rest: RestClient, topics: PushTopicConfig[], apiVersion: string): Promise<ApplyResult[]> {
  const results: ApplyResult[] = [];
  for (const t of topics) {
    const want = desired(t, apiVersion);
    const [existing] = await rest.query<PushTopicRecord>(`SELECT ${FIELDS} FROM PushTopic WHERE Name = ${soqlString(t.name)}`);
    if (!existing) {
      const r = await rest.request<{ id: string }>('POST', '/sobjects/PushTopic', want);
      results.push({ name: t.name, action: 'created', id: r.id });
      continue;
    }
    const changed = (Object.keys(want) as Array<keyof typeof want>).filter((k) => String(existing[k] ?? '') !== String(want[k] ?? ''));
    if (changed.length === 0) {
      results.push({ name: t.name, action: 'unchanged', id: existing.Id });
      continue;
    }
    const patch: Record<string, unknown> = {};
    for (const k of changed) if (k !== 'Name') patch[k] = want[k];
    await rest.request('PATCH', `/sobjects/PushTopic/${existing.Id}`, patch);
    results.push({ name: t.name, action: 'updated', id: existing.Id });
  }
  return results;
}

/** A SOQL string literal: backslashes and quotes escaped as SOQL requires. */
export function soqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
