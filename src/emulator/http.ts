/**
 * The emulator's HTTP(S) surface: OAuth, REST (sObjects, query, composite, limits, versions,
 * Bulk API 2.0 query jobs), the CometD endpoint and the admin API. Salesforce-shaped errors.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdminApi } from './admin.js';
import type { BulkJobs } from './bulk.js';
import type { CometdServer } from './cometd.js';
import type { Faults } from './faults.js';
import type { OAuthServer } from './oauth.js';
import { COMPOUND_FIELDS } from './objects.js';
import { type EmulatedOrg, managedMetadata, OrgError } from './org.js';
import { changeOriginOf, runCollection } from './record-writes.js';
import { sendJson } from './respond.js';
import { soapLogin } from './soap.js';

export interface HttpDeps {
  org: EmulatedOrg;
  oauth: OAuthServer;
  cometd: CometdServer;
  bulk: BulkJobs;
  admin: AdminApi;
  faults: Faults;
  apiVersions: string[];
  instanceUrl: () => string;
}

const MAX_BODY = 16 * 1024 * 1024;

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new OrgError(413, 'REQUEST_TOO_LARGE', 'request body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sfErrors(res: ServerResponse, status: number, errorCode: string, message: string, fields: string[] = []): void {
  sendJson(res, status, [{ message, errorCode, fields }]);
}

function parseJson(text: string): Record<string, unknown> {
  if (!text.trim()) return {};
  try {
    const v = JSON.parse(text);
    if (v && typeof v === 'object') return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new OrgError(400, 'JSON_PARSER_ERROR', 'The request body is not valid JSON');
}

export function createHandler(d: HttpDeps) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      await route(d, req, res);
    } catch (err) {
      if (err instanceof OrgError) return sfErrors(res, err.status, err.errorCode, err.message, err.fields);
      sfErrors(res, 500, 'UNKNOWN_EXCEPTION', `An unexpected error occurred: ${(err as Error).message}`);
    }
  };
}

async function route(d: HttpDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://emulator');
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const method = req.method ?? 'GET';
  // Salesforce's clock is the emulator's (tests move it forward): clients read it from Date.
  res.setHeader('date', new Date(d.org.clock.now()).toUTCString());

  if (path.startsWith('/admin')) return d.admin.handle(method, path, url, await readBody(req), res);

  if (path === '/services/oauth2/token' && method === 'POST') {
    d.org.usage.tokenRequests++;
    const form = new URLSearchParams(await readBody(req));
    for (const [k, v] of url.searchParams) if (!form.has(k)) form.set(k, v);
    const r = await d.oauth.token(form);
    return sendJson(res, r.status, r.body);
  }
  if (path === '/services/oauth2/revoke' && method === 'POST') {
    const form = new URLSearchParams(await readBody(req));
    d.oauth.revoke(form.get('token') ?? url.searchParams.get('token') ?? '');
    res.writeHead(200).end();
    return;
  }

  let soap: RegExpExecArray | null;
  if ((soap = /^\/services\/Soap\/u\/(\d+\.\d)(?:\/\w+)?$/.exec(path)) && method === 'POST')
    return soapLogin(d.oauth, d.instanceUrl(), soap[1] as string, await readBody(req), res);

  const token = /^(?:Bearer|OAuth)\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim();

  if (path.startsWith('/cometd/')) {
    if (method !== 'POST') return sendJson(res, 405, { error: 'use POST (Bayeux long-polling)' });
    const body = parseJsonAny(await readBody(req));
    const replies = await d.cometd.handle(body, req.headers.authorization);
    return sendJson(res, 200, replies);
  }

  if (path === '/services/data' && method === 'GET') {
    return sendJson(
      res,
      200,
      d.apiVersions.map((v) => ({ label: `API ${v}`, url: `/services/data/v${v}`, version: v })),
    );
  }

  // Everything below needs a valid session.
  const state = d.oauth.check(token);
  if (state !== 'ok') return sfErrors(res, 401, 'INVALID_SESSION_ID', 'Session expired or invalid');
  if (d.faults.delayMs > 0) await new Promise((r) => setTimeout(r, d.faults.delayMs));

  if (path === '/services/oauth2/userinfo' || /^\/id\/00D\w+\/005\w+$/.test(path)) return sendJson(res, 200, d.oauth.userInfo());

  const m = /^\/services\/data\/v(\d+\.\d)(\/.*)?$/.exec(path);
  if (!m) return sfErrors(res, 404, 'NOT_FOUND', 'The requested resource does not exist');
  const rest = m[2] ?? '/';
  const org = d.org;
  let r: RegExpExecArray | null;
  org.usage.apiRequests++;
  // Salesforce's Limit Info header, on every REST response but the versions URI.
  res.setHeader('Sforce-Limit-Info', `api-usage=${org.usage.apiRequests}/${org.limitMax.DailyApiRequests}`);

  if (rest === '/')
    return sendJson(res, 200, {
      sobjects: `/services/data/v${m[1]}/sobjects`,
      query: `/services/data/v${m[1]}/query`,
      limits: `/services/data/v${m[1]}/limits`,
    });
  if (rest === '/limits') return sendJson(res, 200, limits(org));
  if ((r = /^\/sobjects\/(\w+)\/describe$/.exec(rest)) && method === 'GET') {
    // The field list clients read to know what to ask for (a subset of Salesforce's describe).
    org.usage.describes++;
    const obj = org.object(r[1] as string);
    const fields: Array<{ name: string; type: string; compoundFieldName?: string | null }> = [
      { name: 'Id', type: 'id' },
      { name: 'IsDeleted', type: 'boolean' },
      { name: 'SystemModstamp', type: 'datetime' },
      // As Salesforce's describe: a compound field and each of its components (BillingCity…), the
      // components naming their compound in compoundFieldName.
      ...obj.fields.flatMap(
        (f): Array<{ name: string; type: string; compoundFieldName: string | null }> =>
          f.type === 'address' || f.type === 'name'
            ? [
                { name: f.name, type: f.type, compoundFieldName: null },
                ...COMPOUND_FIELDS[f.type].map((c) => ({
                  name: f.type === 'address' ? `${f.name.replace(/Address$/, '')}${c.name}` : c.name,
                  type: c.type,
                  compoundFieldName: f.name,
                })),
              ]
            : [{ name: f.name, type: f.type, compoundFieldName: null }],
      ),
    ];
    return sendJson(res, 200, { name: obj.name, keyPrefix: obj.keyPrefix, fields });
  }
  if (rest === '/tooling/query') {
    // Only what clients need: ManagedEventSubscription look-ups, custom channels and their members.
    const q = url.searchParams.get('q') ?? '';
    const rows = org.toolingQuery(q);
    return sendJson(res, 200, {
      size: rows.length,
      totalSize: rows.length,
      done: true,
      queryLocator: null,
      entityTypeName: /FROM\s+(\w+)/i.exec(q)?.[1] ?? null,
      records: rows,
    });
  }
  if (rest === '/query' || rest === '/queryAll') {
    const q = url.searchParams.get('q');
    if (!q) throw new OrgError(400, 'MALFORMED_QUERY', 'missing q parameter');
    const records = org.query(q, rest === '/queryAll');
    return sendJson(res, 200, { totalSize: records.length, done: true, records });
  }
  if ((r = /^\/composite\/sobjects\/(\w+)$/.exec(rest)) && method === 'GET') {
    org.usage.compositeGets++;
    const ids = (url.searchParams.get('ids') ?? '').split(',').filter(Boolean);
    if (ids.length > 200) throw new OrgError(400, 'EXCEEDED_ID_LIMIT', 'Exceeded max number of ids: 200');
    const fields = (url.searchParams.get('fields') ?? 'Id').split(',').filter(Boolean);
    const obj = org.object(r[1] as string);
    return sendJson(
      res,
      200,
      ids.map((id) => {
        const rec = org.records.get(id);
        if (!rec || rec.type !== obj.name) return null;
        const row: Record<string, unknown> = { attributes: { type: obj.name, url: `/services/data/v${m[1]}/sobjects/${obj.name}/${id}` } };
        for (const f of fields) row[f] = org.restField(rec, f);
        return row;
      }),
    );
  }
  if (rest.startsWith('/jobs/query')) return d.bulk.handle(method, rest, url, await readBody(req), res, m[1] as string);
  const callOptions = req.headers['sforce-call-options'];
  if (rest.startsWith('/jobs/ingest')) return d.bulk.ingest.handle(method, rest, await readBody(req), res, m[1] as string, callOptions);
  const origin = changeOriginOf('rest', m[1] as string, callOptions);
  if ((r = /^\/composite\/sobjects(?:\/(\w+)\/(\w+))?$/.exec(rest)) && method !== 'GET') {
    // sObject Collections writes: POST create, PATCH update (or upsert by /<Object>/<ExternalIdField>), DELETE ?ids=.
    const body = method === 'DELETE' ? {} : parseJson(await readBody(req));
    const op = method === 'POST' ? 'create' : method === 'DELETE' ? 'delete' : r[1] ? 'upsert' : 'update';
    const records =
      op === 'delete'
        ? (url.searchParams.get('ids') ?? '')
            .split(',')
            .filter(Boolean)
            .map((id) => ({ id }))
        : ((body.records as Array<Record<string, unknown>> | undefined) ?? []);
    const allOrNone = op === 'delete' ? url.searchParams.get('allOrNone') === 'true' : body.allOrNone === true;
    const results = runCollection(org, { op, records, allOrNone, object: r[1], externalIdField: r[2], origin });
    return sendJson(res, 200, results);
  }

  if ((r = /^\/tooling\/sobjects\/ManagedEventSubscription(?:\/(\w+))?$/.exec(rest))) {
    const id = r[1] ?? null;
    if (method === 'POST' && !id) {
      const m = org.writeManaged('create', null, parseJson(await readBody(req)) as never);
      return sendJson(res, 201, { id: m?.id, success: true, errors: [] });
    }
    if (method === 'PATCH' && id) {
      org.writeManaged('update', id, parseJson(await readBody(req)) as never);
      res.writeHead(204).end();
      return;
    }
    if (method === 'DELETE' && id) {
      org.writeManaged('delete', id, {});
      res.writeHead(204).end();
      return;
    }
    if (method === 'GET' && id) {
      const m = org.findManaged({ id });
      if (!m) throw new OrgError(404, 'NOT_FOUND', 'The requested resource does not exist');
      return sendJson(res, 200, { Id: m.id, DeveloperName: m.developerName, Metadata: managedMetadata(m) });
    }
    throw new OrgError(405, 'METHOD_NOT_ALLOWED', `${method} is not supported on ManagedEventSubscription here`);
  }
  if ((r = /^\/tooling\/sobjects\/(PlatformEventChannel|PlatformEventChannelMember)(?:\/(\w+))?$/.exec(rest))) {
    const [kind, id] = [r[1] === 'PlatformEventChannel' ? ('channel' as const) : ('member' as const), r[2]];
    if (method === 'POST' && !id) {
      const input = parseJson(await readBody(req)) as never;
      const made = kind === 'channel' ? org.channels.createChannel(input) : org.channels.createMember(input);
      org.saveStateLater();
      return sendJson(res, 201, { id: made.Id, success: true, errors: [] });
    }
    if (method === 'PATCH' && id && kind === 'member') {
      org.channels.updateMember(id, parseJson(await readBody(req)) as never);
      org.saveStateLater();
      res.writeHead(204).end();
      return;
    }
    if (method === 'DELETE' && id) {
      org.channels.delete(kind, id);
      org.saveStateLater();
      res.writeHead(204).end();
      return;
    }
    throw new OrgError(405, 'METHOD_NOT_ALLOWED', `${method} is not supported on ${r[1]} here`);
  }
  if ((r = /^\/sobjects\/PushTopic(?:\/(\w+))?$/.exec(rest))) {
    const id = r[1];
    if (method === 'POST' && !id) {
      const t = org.upsertPushTopic(parseJson(await readBody(req)) as never);
      return sendJson(res, 201, { id: t.Id, success: true, errors: [] });
    }
    if (method === 'PATCH' && id) {
      org.upsertPushTopic(parseJson(await readBody(req)) as never, id);
      res.writeHead(204).end();
      return;
    }
    if (method === 'DELETE' && id) {
      org.deletePushTopic(id);
      res.writeHead(204).end();
      return;
    }
    if (method === 'GET' && id) {
      const t = org.pushTopics.get(id);
      if (!t) throw new OrgError(404, 'NOT_FOUND', 'The requested resource does not exist');
      return sendJson(res, 200, { attributes: { type: 'PushTopic' }, ...t });
    }
  }
  if ((r = /^\/sobjects\/StreamingChannel\/push$/.exec(rest)) && method === 'POST') {
    // Generic streaming: { channel: "/u/Name", payload: "..." } (a simplified push resource).
    const body = parseJson(await readBody(req));
    const channel = String(body.channel ?? '');
    if (!/^\/u\/\w+$/.test(channel)) throw new OrgError(400, 'INVALID_FIELD', 'channel must look like /u/Name', ['channel']);
    const ev = org.publishGeneric(channel, String(body.payload ?? ''));
    return sendJson(res, 200, { fanoutCount: -1, replayId: ev.seq });
  }
  if ((r = /^\/sobjects\/(\w+__e)$/.exec(rest)) && method === 'POST') {
    const ev = org.publishPlatformEvent(r[1] as string, parseJson(await readBody(req)));
    return sendJson(res, 201, { id: `e00${String(ev.seq).padStart(15, '0')}`, success: true, errors: [] });
  }
  if ((r = /^\/sobjects\/(\w+)$/.exec(rest))) {
    const obj = org.object(r[1] as string);
    if (method === 'POST') {
      const rec = org.createRecord(obj.name, parseJson(await readBody(req)), origin);
      return sendJson(res, 201, { id: rec.Id, success: true, errors: [] });
    }
    if (method === 'GET') return sendJson(res, 200, { objectDescribe: { name: obj.name, keyPrefix: obj.keyPrefix }, recentItems: [] });
  }
  if ((r = /^\/sobjects\/(\w+)\/(\w{15,18})$/.exec(rest))) {
    const obj = org.object(r[1] as string);
    const id = r[2] as string;
    if (method === 'GET') {
      const rec = org.records.get(id);
      if (!rec || rec.type !== obj.name) throw new OrgError(404, 'NOT_FOUND', 'The requested resource does not exist');
      const fields = url.searchParams.get('fields')?.split(',') ?? ['Id', ...obj.fields.map((f) => f.name)];
      const row: Record<string, unknown> = { attributes: { type: obj.name, url: `/services/data/v${m[1]}/sobjects/${obj.name}/${id}` } };
      for (const f of fields) row[f] = org.restField(rec, f);
      return sendJson(res, 200, row);
    }
    if (method === 'PATCH') {
      org.updateRecord(obj.name, id, parseJson(await readBody(req)), origin);
      res.writeHead(204).end();
      return;
    }
    if (method === 'DELETE') {
      org.deleteRecord(obj.name, id, origin);
      res.writeHead(204).end();
      return;
    }
  }
  sfErrors(res, 404, 'NOT_FOUND', 'The requested resource does not exist');
}

function parseJsonAny(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new OrgError(400, 'JSON_PARSER_ERROR', 'The request body is not valid JSON');
  }
}

function limits(org: EmulatedOrg) {
  const l = (max: number, used = 0) => ({ Max: max, Remaining: Math.max(0, max - used) });
  return {
    DailyApiRequests: l(org.limitMax.DailyApiRequests, org.usage.apiRequests),
    DailyBulkV2QueryJobs: l(org.limitMax.DailyBulkV2QueryJobs, org.usage.bulkJobs),
    DailyDeliveredPlatformEvents: l(org.limitMax.DailyDeliveredPlatformEvents, org.usage.deliveredEvents),
    DailyStreamingApiEvents: l(org.limitMax.DailyStreamingApiEvents, org.usage.streamingEvents),
    HourlyPublishedPlatformEvents: l(org.limitMax.HourlyPublishedPlatformEvents, org.usage.publishedThisHour),
    HourlyPublishedStandardVolumePlatformEvents: l(50000),
    MonthlyPlatformEventsUsageEntitlement: l(1500000),
    StreamingApiConcurrentClients: l(2000),
  };
}
