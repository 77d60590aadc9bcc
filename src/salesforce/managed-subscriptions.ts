/**
 * Managed subscriptions as code: keep the org's ManagedEventSubscription records in line with
 * `orgs.<name>.managedSubscriptions` through the Tooling API (create the missing, update the
 * changed; the topic of an existing one cannot change, so that is reported, not attempted).
 */
import type { ManagedSubscriptionConfig } from '../config/schema.js';
import { soqlString } from './pushtopics.js';
import type { RestClient } from './rest.js';

interface Metadata {
  label: string;
  topicName: string;
  defaultReplay: string;
  errorRecoveryReplay: string;
  state: string;
}

export interface ManagedRecord {
  Id: string;
  DeveloperName: string;
  Metadata: Metadata;
}

export interface ManagedApplyResult {
  name: string;
  action: 'created' | 'updated' | 'unchanged' | 'conflict';
  id: string | null;
  /** Why an existing record cannot be brought in line (its topic differs). */
  detail?: string;
}

export async function listManagedSubscriptions(rest: RestClient): Promise<ManagedRecord[]> {
  return rest.toolingQuery<ManagedRecord>('SELECT Id, DeveloperName, Metadata FROM ManagedEventSubscription');
}

function desired(m: ManagedSubscriptionConfig): Metadata {
  return {
    label: m.label ?? m.name,
    topicName: m.topic,
    defaultReplay: m.defaultReplay,
    errorRecoveryReplay: m.errorRecoveryReplay,
    state: m.state,
  };
}

export async function applyManagedSubscriptions(rest: RestClient, declared: ManagedSubscriptionConfig[]): Promise<ManagedApplyResult[]> {
  const out: ManagedApplyResult[] = [];
  for (const m of declared) {
    const want = desired(m);
    const [existing] = await rest.toolingQuery<ManagedRecord>(
      `SELECT Id, DeveloperName, Metadata FROM ManagedEventSubscription WHERE DeveloperName = ${soqlString(m.name)}`,
    );
    if (!existing) {
      const r = await rest.request<{ id: string }>('POST', '/tooling/sobjects/ManagedEventSubscription', {
        FullName: m.name,
        Metadata: want,
      });
      out.push({ name: m.name, action: 'created', id: r.id });
      continue;
    }
    if (existing.Metadata.topicName !== want.topicName) {
      out.push({
        name: m.name,
        action: 'conflict',
        id: existing.Id,
        detail: `it exists on ${existing.Metadata.topicName}, the config says ${want.topicName}; a managed subscription's topic cannot change: give it another name`,
      });
      continue;
    }
    const keys = Object.keys(want) as Array<keyof Metadata>;
    if (keys.every((k) => String(existing.Metadata[k]) === String(want[k]))) {
      out.push({ name: m.name, action: 'unchanged', id: existing.Id });
      continue;
    }
    await rest.request('PATCH', `/tooling/sobjects/ManagedEventSubscription/${existing.Id}`, { Metadata: want });
    out.push({ name: m.name, action: 'updated', id: existing.Id });
  }
  return out;
}
