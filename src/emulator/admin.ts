/**
 * The admin API (fault injection and inspection) under /admin. Every route answers JSON; the
 * ledger is NDJSON (one published event per line) so tests can prove nothing was lost.
 */
import type { ServerResponse } from 'node:http';
import type { EventBus } from './bus.js';
import type { Clock } from './clock.js';
import type { CometdServer } from './cometd.js';
import type { Faults } from './faults.js';
import { type Generator, parseEmitSpec } from './generator.js';
import type { OAuthServer } from './oauth.js';
import type { FieldType } from './objects.js';
import { type EmulatedOrg, OrgError } from './org.js';
import { injectedError, type PubSubServer } from './pubsub.js';
import { sendJson } from './respond.js';

export interface AdminDeps {
  bus: EventBus;
  org: EmulatedOrg;
  oauth: OAuthServer;
  pubsub: PubSubServer;
  cometd: CometdServer;
  faults: Faults;
  clock: Clock;
  generator: Generator;
}

const FIELD_TYPES: FieldType[] = ['string', 'boolean', 'int', 'long', 'double', 'datetime', 'date'];

export const ADMIN_ROUTES = [
  'GET  /admin/status',
  'GET  /admin/ledger[?channel=/data/AccountChangeEvent]',
  'GET  /admin/events?channel=/event/Order_Event__e (retained events with decoded fields, NDJSON)',
  'POST /admin/tokens/expire',
  'POST /admin/tokens/issue',
  'POST /admin/streams/drop {"refuseMs": 0}',
  'POST /admin/streams/freeze {"ms": 10000}',
  'POST /admin/streams/fail {"code": "sfdc.platform.eventbus.grpc.subscription.limit.exceeded", "next": 1}',
  'POST /admin/cometd/fail {"meta": "handshake", "error": "403::Organization concurrent user limit exceeded", "next": 1}',
  'POST /admin/managed/refuse-commits {"refuse": true}',
  'POST /admin/cometd/deny {"channel": "/topic/X", "error": "403::Restricted channel"}',
  'POST /admin/cometd/seek {"channel": "/data/AccountChangeEvent", "ms": 600000, "outcome": "invalid"}',
  'POST /admin/delay {"ms": 500}',
  'POST /admin/throttle {"eventsPerSecond": 100}',
  'POST /admin/replay/invalidate',
  'POST /admin/events/emit {"spec": "cdc:Account", "count": 1000}',
  'POST /admin/events/gap {"object": "Account", "changeType": "GAP_UPDATE"}',
  'POST /admin/records/create {"object": "Account", "count": 1000, "fields": {"Industry": "Energy"}}',
  'POST /admin/limits/reset',
  'POST /admin/publish/refuse {"next": 10}',
  'POST /admin/publish/allocation {"max": 0}',
  'POST /admin/records/mass-update {"object": "Account", "count": 500, "fields": {"Rating": "Hot"}}',
  'POST /admin/events/overflow {"object": "Account"}',
  'POST /admin/events/corrupt {"object": "Account"}',
  'POST /admin/events/blank-schema {"object": "Account", "channel": "/data/ChangeEvents", "unreadable": false}',
  'POST /admin/records/undelete {"ids": ["001…"]}',
  'POST /admin/schema/change {"target": "Account", "field": {"name": "Tier__c", "type": "string"}}',
  'POST /admin/clock {"advanceMs": 259200000}',
  'POST /admin/managed {"developerName": "Sub1", "topic": "/data/AccountChangeEvent", "start": "EARLIEST"}',
];

export class AdminApi {
  constructor(private readonly d: AdminDeps) {}

  async handle(method: string, path: string, url: URL, body: string, res: ServerResponse): Promise<void> {
    let input: Record<string, unknown> = {};
    if (body.trim()) {
      try {
        input = JSON.parse(body);
      } catch {
        throw new OrgError(400, 'JSON_PARSER_ERROR', 'admin: body is not valid JSON');
      }
    }
    const d = this.d;
    const key = `${method} ${path}`;
    switch (key) {
      case 'GET /admin':
      case 'GET /admin/status':
        return sendJson(res, 200, {
          orgId: d.org.orgId,
          latestReplayId: d.bus.latestSeq,
          published: d.bus.ledger.length,
          pubsub: d.pubsub.stats(),
          cometd: d.cometd.stats(),
          usage: d.org.usage,
          faults: { delayMs: d.faults.delayMs, throttle: d.faults.throttle, invalidBefore: d.bus.invalidBefore },
          clockOffsetMs: d.clock.now() - Date.now(),
          routes: ADMIN_ROUTES,
        });
      case 'GET /admin/ledger': {
        const ch = url.searchParams.get('channel');
        const rows = ch ? d.bus.ledger.filter((e) => e.channel === ch) : d.bus.ledger;
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        for (let i = 0; i < rows.length; i += 5000) {
          const chunk = rows.slice(i, i + 5000).map((e) => `${JSON.stringify({ ...e, replayIdBase64: replayB64(e.replayId) })}\n`);
          if (!res.write(chunk.join(''))) await new Promise((r) => res.once('drain', r));
        }
        res.end();
        return;
      }
      case 'GET /admin/events': {
        // What subscribers would read, decoded: lets tests check what publishers put on a channel.
        const ch = url.searchParams.get('channel') ?? '';
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        for (const e of d.bus.retained(ch)) {
          const schema = e.schemaId ? d.org.schemasById.get(e.schemaId) : undefined;
          const fields = e.payload && schema ? schema.type.fromBuffer(e.payload) : e.data;
          const line = `${JSON.stringify({ replayId: e.seq, eventId: e.eventId, fields }, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}\n`;
          if (!res.write(line)) await new Promise((r) => res.once('drain', r));
        }
        res.end();
        return;
      }
      case 'POST /admin/tokens/expire':
        return sendJson(res, 200, { expired: d.oauth.expireAll() });
      case 'POST /admin/tokens/issue':
        return sendJson(res, 200, { accessToken: d.oauth.issue() });
      case 'POST /admin/streams/drop': {
        // refuseMs: also refuse new subscriptions / handshakes for that long (a service outage).
        const refuseMs = input.refuseMs === undefined ? 0 : num(input.refuseMs, 'refuseMs');
        d.faults.refuseUntil = refuseMs > 0 ? Date.now() + refuseMs : 0;
        return sendJson(res, 200, { grpcStreams: d.pubsub.dropAll(), cometdSessions: d.cometd.dropAll(), refuseMs });
      }
      case 'POST /admin/cometd/deny': {
        // Subscribes to `channel` fail with `error` (empty: allowed again).
        const channel = String(input.channel ?? '');
        if (input.error) d.cometd.denied.set(channel, String(input.error));
        else d.cometd.denied.delete(channel);
        return sendJson(res, 200, { denied: Object.fromEntries(d.cometd.denied) });
      }
      case 'POST /admin/streams/fail': {
        // Open Pub/Sub streams end with this documented error code; the next `next` Subscribe calls fail with it too.
        const code = String(input.code ?? '');
        if (!code.startsWith('sfdc.platform.eventbus.grpc.'))
          throw new OrgError(400, 'INVALID_FIELD', 'code must be a Pub/Sub API error code (sfdc.platform.eventbus.grpc.…)');
        const next = input.next === undefined ? 0 : num(input.next, 'next');
        const err = injectedError(code);
        d.faults.subscribeErrors = Array.from({ length: next }, () => code);
        return sendJson(res, 200, { failedStreams: d.pubsub.failAll(err), next, status: err.code });
      }
      case 'POST /admin/cometd/seek': {
        // The next subscribe from a replay id on `channel` seeks for `ms` before delivering or (invalid) refusing it.
        const channel = String(input.channel ?? '');
        const outcome = input.outcome === 'deliver' ? 'deliver' : 'invalid';
        d.cometd.seeks.set(channel, { ms: num(input.ms, 'ms'), outcome });
        return sendJson(res, 200, { channel, ms: input.ms, outcome });
      }
      case 'POST /admin/cometd/fail': {
        // The next `next` handshakes (reason in ext.sfdc.failureReason) or connects fail with `error`.
        const meta = `/meta/${String(input.meta ?? '')}`;
        if (meta !== '/meta/handshake' && meta !== '/meta/connect')
          throw new OrgError(400, 'INVALID_FIELD', 'meta must be "handshake" or "connect"');
        const error = String(input.error ?? '');
        if (!/^\d{3}::/.test(error))
          throw new OrgError(400, 'INVALID_FIELD', 'error must be a Bayeux error such as "503::Server is too busy"');
        d.cometd.metaFailures.set(meta, { error, left: input.next === undefined ? 1 : num(input.next, 'next') });
        return sendJson(res, 200, { meta, error, next: d.cometd.metaFailures.get(meta)?.left });
      }
      case 'POST /admin/managed/refuse-commits':
        d.faults.refuseCommits = input.refuse === true;
        return sendJson(res, 200, { refuseCommits: d.faults.refuseCommits });
      case 'POST /admin/streams/freeze':
        // Streams stay open and take requests but send nothing (the "silent subscription").
        return sendJson(res, 200, { frozenStreams: d.pubsub.freezeAll(num(input.ms, 'ms')) });
      case 'POST /admin/delay':
        d.faults.delayMs = num(input.ms, 'ms');
        return sendJson(res, 200, { delayMs: d.faults.delayMs });
      case 'POST /admin/throttle':
        d.faults.setThrottle(num(input.eventsPerSecond, 'eventsPerSecond'));
        return sendJson(res, 200, { eventsPerSecond: d.faults.throttle });
      case 'POST /admin/replay/invalidate':
        d.bus.invalidBefore = d.bus.latestSeq + 1;
        d.org.saveStateLater();
        return sendJson(res, 200, { invalidBefore: d.bus.invalidBefore });
      case 'POST /admin/events/emit': {
        const spec = parseEmitSpec(String(input.spec ?? ''));
        const count = num(input.count ?? 1, 'count');
        let first: number | null = null;
        let last: number | null = null;
        for (let left = count; left > 0; ) {
          const n = Math.min(left, 10_000);
          const evs = d.generator.emit(spec, n);
          first ??= evs[0]?.seq ?? null;
          last = evs[evs.length - 1]?.seq ?? last;
          left -= n;
          if (left > 0) await new Promise((r) => setImmediate(r));
        }
        return sendJson(res, 200, { count, firstReplayId: first, lastReplayId: last });
      }
      case 'POST /admin/events/gap': {
        const ev = d.generator.gap(
          String(input.object ?? 'Account'),
          (input.changeType as 'GAP_UPDATE') ?? 'GAP_UPDATE',
          input.recordIds as string[] | undefined,
        );
        return sendJson(res, 200, { replayId: ev.seq, recordIds: ev.recordIds, changeType: ev.changeType });
      }
      case 'POST /admin/events/corrupt': {
        const ev = d.generator.corrupt(String(input.object ?? 'Account'));
        return sendJson(res, 200, { replayId: ev.seq });
      }
      case 'POST /admin/events/blank-schema': {
        const ev = d.generator.blankSchema(
          String(input.object ?? 'Account'),
          String(input.channel ?? '/data/ChangeEvents'),
          input.unreadable === true,
        );
        return sendJson(res, 200, { replayId: ev.seq, recordIds: ev.recordIds });
      }
      case 'POST /admin/records/mass-update': {
        // Records change with no change events but one GAP_OVERFLOW (a transaction too large for CDC).
        const ids = d.org.massUpdate(
          String(input.object ?? 'Account'),
          num(input.count ?? 1, 'count'),
          (input.fields ?? {}) as Record<string, unknown>,
        );
        return sendJson(res, 200, { count: ids.length, ids });
      }
      case 'POST /admin/publish/refuse':
        // The next N published events fail with a transient publishing error.
        d.faults.publishRefusals = Number(input.next ?? 1);
        return sendJson(res, 200, { publishRefusals: d.faults.publishRefusals });
      case 'POST /admin/publish/allocation':
        // The hourly publishing allocation (0 spends it: every publish is refused until the hour turns or this is raised).
        d.org.limitMax.HourlyPublishedPlatformEvents = Number(input.max ?? 250000);
        return sendJson(res, 200, { max: d.org.limitMax.HourlyPublishedPlatformEvents, used: d.org.usage.publishedThisHour });
      case 'POST /admin/limits/reset':
        // A new day: the daily allowances are whole again.
        d.org.usage.apiRequests = 0;
        d.org.usage.bulkJobs = 0;
        d.org.usage.deliveredEvents = 0;
        d.org.usage.streamingEvents = 0;
        d.org.usage.publishedThisHour = 0;
        return sendJson(res, 200, { usage: d.org.usage });
      case 'POST /admin/records/undelete': {
        // Records restored from the recycle bin (Salesforce's undelete call), each with its UNDELETE event.
        const ids = Array.isArray(input.ids) ? input.ids.map(String) : [];
        for (const id of ids) d.org.undeleteRecord(id);
        return sendJson(res, 200, { count: ids.length });
      }
      case 'POST /admin/records/create': {
        // Records created as through REST (each with its CREATE change event); Name numbered when not given.
        const object = String(input.object ?? 'Account');
        const count = num(input.count ?? 1, 'count');
        const fields = (input.fields ?? {}) as Record<string, unknown>;
        const ids: string[] = [];
        const numbered = d.org.object(object).fields.some((f) => f.name === 'Name' && f.type === 'string');
        for (let i = 0; i < count; i++) {
          ids.push(d.org.createRecord(object, { ...(numbered ? { Name: `${object} ${i}` } : {}), ...fields }).Id);
          if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
        }
        return sendJson(res, 200, { count, ids });
      }
      case 'POST /admin/events/overflow': {
        const ev = d.generator.overflow(String(input.object ?? 'Account'));
        return sendJson(res, 200, { replayId: ev.seq, changeType: ev.changeType });
      }
      case 'POST /admin/schema/change': {
        const field = input.field as { name?: string; type?: string } | undefined;
        if (!field?.name || !FIELD_TYPES.includes((field.type ?? 'string') as FieldType)) {
          throw new OrgError(400, 'INVALID_FIELD', `field needs a name and a type (${FIELD_TYPES.join(', ')})`);
        }
        const s = d.org.addField(String(input.target ?? ''), { name: field.name, type: (field.type ?? 'string') as FieldType });
        return sendJson(res, 200, { schemaId: s.id });
      }
      case 'POST /admin/clock':
        d.clock.advance(num(input.advanceMs, 'advanceMs'));
        return sendJson(res, 200, { now: new Date(d.clock.now()).toISOString() });
      case 'POST /admin/managed': {
        const m = d.org.createManaged(
          String(input.developerName ?? ''),
          String(input.topic ?? ''),
          input.start === 'LATEST' ? 'LATEST' : 'EARLIEST',
        );
        return sendJson(res, 200, m);
      }
      default:
        throw new OrgError(404, 'NOT_FOUND', `unknown admin route ${key}; routes: ${ADMIN_ROUTES.join('; ')}`);
    }
  }
}

function num(v: unknown, name: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new OrgError(400, 'INVALID_FIELD', `${name} must be a non-negative number`);
  return n;
}

function replayB64(seq: number): string {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(seq));
  return b.toString('base64');
}
