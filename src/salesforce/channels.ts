/**
 * Custom channels as code (`orgs.<name>.channels`): read and reconcile PlatformEventChannel and
 * PlatformEventChannelMember through the Tooling API's REST endpoints, as Salesforce documents for
 * channel filters ("Add a Filter with Tooling API"): create what is missing, update a member whose
 * filter differs, report what differs and cannot be changed (a channel's type), and delete members
 * the config does not name only when asked (`prune`).
 */
import type { OrgConfig } from '../config/schema.js';
import type { RestClient } from './rest.js';

type Declared = OrgConfig['channels'][number];

export interface ChannelRecord {
  Id: string;
  DeveloperName: string;
  MasterLabel?: string;
  ChannelType: string;
}

export interface MemberRecord {
  Id: string;
  DeveloperName: string;
  /** The channel: its Id (a reference), or its name. */
  EventChannel: string;
  SelectedEntity: string;
  FilterExpression: string | null;
}

export interface OrgChannel {
  name: string;
  record: ChannelRecord;
  members: MemberRecord[];
}

export interface ChannelAction {
  /** `Energy__chn` or `Energy__chn AccountChangeEvent`. */
  what: string;
  action: 'created' | 'updated' | 'unchanged' | 'deleted' | 'drift';
  detail?: string;
}

function tooling<T>(rest: RestClient, soql: string): Promise<T[]> {
  return rest.toolingQuery<T>(soql);
}

/** The channel's full name: the DeveloperName with the __chn suffix. */
const fullName = (developerName: string) => (developerName.endsWith('__chn') ? developerName : `${developerName}__chn`);

/** The org's custom channels with their members. */
export async function listChannels(rest: RestClient): Promise<OrgChannel[]> {
  const channels = await tooling<ChannelRecord>(rest, 'SELECT Id, DeveloperName, MasterLabel, ChannelType FROM PlatformEventChannel');
  const members = await tooling<MemberRecord>(
    rest,
    'SELECT Id, DeveloperName, EventChannel, SelectedEntity, FilterExpression FROM PlatformEventChannelMember',
  );
  return channels.map((record) => {
    const name = fullName(record.DeveloperName);
    return { name, record, members: members.filter((m) => m.EventChannel === record.Id || fullName(m.EventChannel) === name) };
  });
}

/** The member's DeveloperName as Salesforce forms it: ChannelName_EventName, the channel's double underscore made single. */
const memberName = (channel: string, entity: string) => `${channel.replace(/__chn$/, '_chn')}_${entity}`;

export async function applyChannels(rest: RestClient, declared: Declared[], opts: { prune?: boolean } = {}): Promise<ChannelAction[]> {
  const out: ChannelAction[] = [];
  const existing = new Map((await listChannels(rest)).map((c) => [c.name, c]));
  for (const d of declared) {
    const have = existing.get(d.name);
    if (!have) {
      await rest.request('POST', '/tooling/sobjects/PlatformEventChannel', {
        FullName: d.name,
        Metadata: { channelType: d.type, label: d.label ?? d.name.replace(/__chn$/, '') },
      });
      out.push({ what: d.name, action: 'created' });
    } else if (have.record.ChannelType.toLowerCase() !== d.type) {
      out.push({
        what: d.name,
        action: 'drift',
        detail: `the org's channel is of type ${have.record.ChannelType}, the config says ${d.type}; a channel's type cannot be changed (delete it in Salesforce, or fix the config)`,
      });
      continue;
    } else out.push({ what: d.name, action: 'unchanged' });
    out.push(...(await applyMembers(rest, d, have?.members ?? [], opts.prune === true)));
  }
  return out;
}

async function applyMembers(rest: RestClient, d: Declared, have: MemberRecord[], prune: boolean): Promise<ChannelAction[]> {
  const out: ChannelAction[] = [];
  for (const m of d.members) {
    const what = `${d.name} ${m.entity}`;
    const metadata = { eventChannel: d.name, selectedEntity: m.entity, ...(m.filter ? { filterExpression: m.filter } : {}) };
    const cur = have.find((h) => h.SelectedEntity === m.entity);
    if (!cur) {
      await rest.request('POST', '/tooling/sobjects/PlatformEventChannelMember', {
        FullName: memberName(d.name, m.entity),
        Metadata: metadata,
      });
      out.push({ what, action: 'created', detail: m.filter ? `filter: ${m.filter}` : 'no filter' });
    } else if ((cur.FilterExpression ?? '') !== (m.filter ?? '')) {
      await rest.request('PATCH', `/tooling/sobjects/PlatformEventChannelMember/${cur.Id}`, { Metadata: metadata });
      out.push({ what, action: 'updated', detail: `filter: ${cur.FilterExpression ?? '(none)'} -> ${m.filter ?? '(none)'}` });
    } else out.push({ what, action: 'unchanged' });
  }
  for (const h of have) {
    if (d.members.some((m) => m.entity === h.SelectedEntity)) continue;
    const what = `${d.name} ${h.SelectedEntity}`;
    if (prune) {
      await rest.request('DELETE', `/tooling/sobjects/PlatformEventChannelMember/${h.Id}`);
      out.push({ what, action: 'deleted' });
    } else out.push({ what, action: 'drift', detail: 'in the org, not in the config (left alone; --prune deletes it)' });
  }
  return out;
}
