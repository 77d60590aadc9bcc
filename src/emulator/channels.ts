/**
 * Custom channels, as Salesforce models them in the Tooling API: a PlatformEventChannel
 * (`Energy__chn`, channelType `data` for change events or `event` for platform events) and its
 * PlatformEventChannelMembers, each selecting one event entity with an optional filter expression
 * ("Filter Your Stream of Change Events with Channels"; "Filter Your Stream of Platform Events with
 * Custom Channels"). An event goes on a custom channel when a member selects its entity and the
 * member's filter (if any) matches: text compared case-insensitively, `ChangeEventHeader.<field>`
 * read from the event's header.
 */

import { newId } from './ids.js';
import { OrgError } from './org-error.js';
import { type Cond, matches, parseCondition, SoqlError } from './soql.js';

export interface ChannelDef {
  Id: string;
  DeveloperName: string;
  MasterLabel: string;
  ChannelType: 'data' | 'event';
}

export interface MemberDef {
  Id: string;
  DeveloperName: string;
  /** The channel's Id (a reference, as the Tooling API returns it). */
  EventChannel: string;
  SelectedEntity: string;
  FilterExpression: string | null;
}

type Input = { FullName?: unknown; Metadata?: Record<string, unknown> };

export class ChannelRegistry {
  readonly channels = new Map<string, ChannelDef>();
  readonly members = new Map<string, MemberDef>();
  private readonly filters = new Map<string, Cond | null>();

  constructor(
    /** Whether an event entity exists in the org (AccountChangeEvent, Order_Event__e). */
    private readonly entityExists: (entity: string, type: 'data' | 'event') => boolean,
  ) {}

  /** `/data/Energy__chn` or `/event/Alerts__chn` when such a channel exists. */
  typeOf(channel: string): 'data' | 'event' | undefined {
    const m = /^\/(data|event)\/([A-Za-z][A-Za-z0-9_]*)__chn$/.exec(channel);
    const c = m ? this.byName(`${m[2]}__chn`) : undefined;
    return c && c.ChannelType === m?.[1] ? c.ChannelType : undefined;
  }

  /** The custom channels an event of `entity` goes on, given its fields (`get`). */
  channelsFor(type: 'data' | 'event', entity: string, get: (field: string) => unknown): string[] {
    const out: string[] = [];
    for (const m of this.members.values()) {
      if (m.SelectedEntity !== entity) continue;
      const c = this.channels.get(m.EventChannel);
      if (!c || c.ChannelType !== type) continue;
      if (matches(this.filters.get(m.Id) ?? null, get, true)) out.push(`/${type}/${c.DeveloperName}__chn`);
    }
    return out;
  }

  createChannel(input: Input): ChannelDef {
    const name = String(input.FullName ?? '');
    const m = /^([A-Za-z][A-Za-z0-9_]*)__chn$/.exec(name);
    if (!m) throw new OrgError(400, 'INVALID_INPUT', `FullName must be a custom channel name ending in __chn, not "${name}"`);
    if (this.byName(name)) throw new OrgError(400, 'DUPLICATE_DEVELOPER_NAME', `a channel named ${name} already exists`);
    const type = String(input.Metadata?.channelType ?? '');
    if (type !== 'data' && type !== 'event') throw new OrgError(400, 'INVALID_INPUT', 'Metadata.channelType must be data or event');
    const c: ChannelDef = {
      Id: newId('0YL'),
      DeveloperName: m[1] as string,
      MasterLabel: String(input.Metadata?.label ?? m[1]),
      ChannelType: type,
    };
    this.channels.set(c.Id, c);
    return c;
  }

  createMember(input: Input): MemberDef {
    const md = input.Metadata ?? {};
    const channel = this.byName(String(md.eventChannel ?? ''));
    if (!channel) throw new OrgError(400, 'INVALID_INPUT', `no channel named "${String(md.eventChannel ?? '')}"`);
    const entity = String(md.selectedEntity ?? '');
    if (!this.entityExists(entity, channel.ChannelType))
      throw new OrgError(400, 'INVALID_INPUT', `${entity} is not an event entity a ${channel.ChannelType} channel can select`);
    if ([...this.members.values()].some((x) => x.EventChannel === channel.Id && x.SelectedEntity === entity))
      throw new OrgError(400, 'DUPLICATE_VALUE', `${channel.DeveloperName}__chn already has a member for ${entity}`);
    const m: MemberDef = {
      Id: newId('0v8'),
      DeveloperName: String(input.FullName ?? `${channel.DeveloperName}_chn_${entity}`),
      EventChannel: channel.Id,
      SelectedEntity: entity,
      FilterExpression: null,
    };
    this.setFilter(m, md.filterExpression);
    this.members.set(m.Id, m);
    return m;
  }

  /** EventChannel and SelectedEntity cannot be updated; the filter can. */
  updateMember(id: string, input: Input): void {
    const m = this.members.get(id);
    if (!m) throw new OrgError(404, 'NOT_FOUND', 'The requested resource does not exist');
    const md = input.Metadata ?? {};
    const channel = this.channels.get(m.EventChannel);
    if (md.eventChannel !== undefined && md.eventChannel !== `${channel?.DeveloperName}__chn`)
      throw new OrgError(400, 'INVALID_INPUT', 'the EventChannel of a channel member cannot be updated');
    if (md.selectedEntity !== undefined && md.selectedEntity !== m.SelectedEntity)
      throw new OrgError(400, 'INVALID_INPUT', 'the SelectedEntity of a channel member cannot be updated');
    this.setFilter(m, md.filterExpression);
  }

  delete(kind: 'channel' | 'member', id: string): void {
    if (kind === 'member') {
      if (!this.members.delete(id)) throw new OrgError(404, 'NOT_FOUND', 'The requested resource does not exist');
      this.filters.delete(id);
      return;
    }
    if (!this.channels.has(id)) throw new OrgError(404, 'NOT_FOUND', 'The requested resource does not exist');
    if ([...this.members.values()].some((m) => m.EventChannel === id))
      throw new OrgError(400, 'DELETE_FAILED', 'delete the channel members first');
    this.channels.delete(id);
  }

  /** State saved by the org (emulator --data-dir): channels and members as they were, filters parsed again. */
  restore(channels: ChannelDef[], members: MemberDef[]): void {
    for (const c of channels) this.channels.set(c.Id, c);
    for (const m of members) {
      this.members.set(m.Id, m);
      this.filters.set(m.Id, m.FilterExpression ? parseCondition(m.FilterExpression) : null);
    }
  }

  private setFilter(m: MemberDef, expr: unknown): void {
    if (expr === undefined || expr === null || expr === '') {
      m.FilterExpression = null;
      this.filters.set(m.Id, null);
      return;
    }
    try {
      this.filters.set(m.Id, parseCondition(String(expr)));
    } catch (err) {
      if (err instanceof SoqlError) throw new OrgError(400, 'INVALID_INPUT', `invalid filter expression: ${err.message}`);
      throw err;
    }
    m.FilterExpression = String(expr);
  }

  private byName(name: string): ChannelDef | undefined {
    const dev = name.replace(/__chn$/, '');
    for (const c of this.channels.values()) if (c.DeveloperName === dev) return c;
    return undefined;
  }
}
