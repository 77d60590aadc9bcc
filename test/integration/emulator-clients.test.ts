/**
 * The emulator as Salesforce's own clients speak to it (issue: official clients unmodified):
 * CometD's first connect and `timeout: 0`, the bare token EMP-Connector sends, filtered PushTopic
 * subscriptions, platform events' CreatedDate over CometD, published events' system fields and
 * correlation keys, and LastModifiedDate in every UPDATE change event. Raw protocol calls, no
 * bridge code in between.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authMetadata, createPubSubClient, unary } from '../../src/salesforce/pubsub-client.js';
import { makeBridge } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';

describe('emulator, as the official clients use it', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator({ cometdConnectTimeoutMs: 5000 });
  });
  afterAll(async () => t?.stop());

  async function cometd(messages: unknown[], authorization: string) {
    const t0 = Date.now();
    const r = await t.http('POST', '/cometd/63.0', { body: messages, headers: { authorization } });
    return { replies: r.json as Array<Record<string, any>>, ms: Date.now() - t0, status: r.status };
  }

  async function handshake(authorization: string): Promise<string> {
    const { replies } = await cometd(
      [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: '1' }],
      authorization,
    );
    expect(replies[0]?.successful, JSON.stringify(replies)).toBe(true);
    return replies[0]?.clientId as string;
  }

  it('takes the bare access token as EMP-Connector sends it, and answers a first connect (and timeout 0) at once', async () => {
    const token = await t.token();
    const clientId = await handshake(token); // no "Bearer " in front
    const first = await cometd([{ channel: '/meta/connect', clientId, connectionType: 'long-polling', id: '2' }], token);
    expect(first.replies.at(-1)).toMatchObject({ channel: '/meta/connect', successful: true });
    expect(first.ms).toBeLessThan(2000); // the hold is 5 s
    const noWait = await cometd(
      [{ channel: '/meta/connect', clientId, connectionType: 'long-polling', id: '3', advice: { timeout: 0 } }],
      token,
    );
    expect(noWait.replies.at(-1)).toMatchObject({ successful: true });
    expect(noWait.ms).toBeLessThan(2000);
    // A later plain connect is held, as a long poll should be (until the hold ends).
    const held = await cometd([{ channel: '/meta/connect', clientId, connectionType: 'long-polling', id: '4' }], `Bearer ${token}`);
    expect(held.ms).toBeGreaterThanOrEqual(4000);
  });

  it('delivers only the matching records on a filtered PushTopic subscription', async () => {
    const token = await t.token();
    const name = `Energy${randomUUID().slice(0, 6)}`;
    const created = await t.http('POST', '/services/data/v63.0/sobjects/PushTopic', {
      token,
      body: { Name: name, Query: 'SELECT Id, Name, Industry FROM Account', ApiVersion: 63, NotifyForFields: 'Referenced' },
    });
    expect(created.status).toBe(201);
    const clientId = await handshake(`Bearer ${token}`);
    const channel = `/topic/${name}?Industry=Energy`;
    const sub = await cometd(
      [{ channel: '/meta/subscribe', clientId, subscription: channel, id: '2', ext: { replay: { [channel]: -1 } } }],
      `Bearer ${token}`,
    );
    expect(sub.replies[0], JSON.stringify(sub.replies)).toMatchObject({ successful: true, subscription: channel });
    await t.admin('records/create', { object: 'Account', count: 3, fields: { Industry: 'Energy' } });
    await t.admin('records/create', { object: 'Account', count: 4, fields: { Industry: 'Banking' } });
    const got = await cometd([{ channel: '/meta/connect', clientId, connectionType: 'long-polling', id: '3' }], `Bearer ${token}`);
    const events = got.replies.filter((m) => m.channel === channel);
    expect(events).toHaveLength(3);
    for (const e of events) expect(e.data.sobject.Industry).toBe('Energy');
    // Replayed from the earliest, with the replay id keyed by the channel without its filter (EMP-Connector's replay extension).
    const again = await handshake(`Bearer ${token}`);
    await cometd(
      [{ channel: '/meta/subscribe', clientId: again, subscription: channel, id: '4', ext: { replay: { [`/topic/${name}`]: -2 } } }],
      `Bearer ${token}`,
    );
    const replayed = await cometd(
      [{ channel: '/meta/connect', clientId: again, connectionType: 'long-polling', id: '5' }],
      `Bearer ${token}`,
    );
    expect(replayed.replies.filter((m) => m.channel === channel).map((m) => m.data.sobject.Industry)).toEqual([
      'Energy',
      'Energy',
      'Energy',
    ]);
  });

  it('publishes with system fields (EventUuid, CreatedById, a correlation key for an event sent without id), CreatedDate ISO over CometD', async () => {
    const token = await t.token();
    const clientId = await handshake(`Bearer ${token}`);
    const channel = '/event/Order_Event__e';
    await cometd(
      [{ channel: '/meta/subscribe', clientId, subscription: channel, id: '2', ext: { replay: { [channel]: -1 } } }],
      `Bearer ${token}`,
    );
    const client = createPubSubClient({ endpoint: t.emu.info.pubsubEndpoint, ca: t.ca });
    try {
      const md = authMetadata({ accessToken: token, instanceUrl: t.emu.info.instanceUrl, orgId: t.emu.info.orgId });
      const topic = await unary<object, { schema_id: string }>(client, 'GetTopic', { topic_name: channel }, md);
      const type = t.emu.org.schemasById.get(topic.schema_id)?.type;
      const payload = type?.toBuffer({
        CreatedDate: 1,
        CreatedById: 'someone',
        EventUuid: null,
        Order_Number__c: 'ORD-1',
        City__c: 'Lyon',
        Amount__c: 5,
        OrderNumber__c: null,
        Status__c: null,
        Shipped__c: null,
      });
      const res = await unary<object, { results: Array<{ correlation_key: string; error: unknown }> }>(
        client,
        'Publish',
        { topic_name: channel, events: [{ id: '', schema_id: topic.schema_id, payload }] },
        md,
      );
      expect(res.results[0]?.error).toBeNull();
      expect(res.results[0]?.correlation_key).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      client.close();
    }
    const published = (await t.published(channel)).at(-1);
    expect(published?.fields).toMatchObject({ Order_Number__c: 'ORD-1', City__c: 'Lyon', CreatedById: t.emu.org.userId });
    expect(published?.fields.EventUuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(published?.fields.CreatedDate).toBeGreaterThan(1);
    const got = await cometd([{ channel: '/meta/connect', clientId, connectionType: 'long-polling', id: '3' }], `Bearer ${token}`);
    const e = got.replies.find((m) => m.channel === channel);
    expect(e?.data.payload.CreatedDate).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(e?.data.event.EventUuid).toBe(published?.fields.EventUuid);
  });

  it('answers the SOAP API login() the examples and EMP-Connector use, with the documented fault for bad credentials', async () => {
    const i = t.emu.info;
    const envelope = (user: string, pass: string) =>
      `<?xml version="1.0" encoding="utf-8"?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body><n1:login xmlns:n1="urn:partner.soap.sforce.com"><n1:username>${user}</n1:username><n1:password>${pass}</n1:password></n1:login></env:Body></env:Envelope>`;
    const call = async (version: string, body: string) => {
      const { request } = await import('node:https');
      return new Promise<{ status: number; text: string }>((resolve, reject) => {
        const r = request(
          new URL(`/services/Soap/u/${version}/`, i.loginUrl),
          { method: 'POST', ca: t.ca ?? undefined, headers: { 'content-type': 'text/xml; charset=UTF-8', soapaction: 'login' } },
          (res) => {
            let text = '';
            res.on('data', (c) => {
              text += c;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          },
        );
        r.on('error', reject);
        r.end(body);
      });
    };
    const ok = await call('59.0', envelope(i.username, i.password));
    expect(ok?.status).toBe(200);
    const session = /<sessionId>([^<]+)<\/sessionId>/.exec(ok?.text ?? '')?.[1] as string;
    expect(ok?.text).toContain(`<serverUrl>${i.instanceUrl}/services/Soap/u/59.0/${i.orgId}</serverUrl>`);
    expect(ok?.text).toContain(`<organizationId>${i.orgId}</organizationId>`);
    expect(ok?.text).toMatch(/<userId>005\w+<\/userId>/);
    // The session id works as a token: REST with Bearer, CometD bare (EMP-Connector's login path).
    expect((await t.http('GET', '/services/data/v63.0/limits', { token: session })).status).toBe(200);
    await handshake(session);
    const bad = await call('59.0', envelope(i.username, 'wrong'));
    expect(bad?.status).toBe(500);
    expect(bad?.text).toContain('<faultcode>sf:INVALID_LOGIN</faultcode>');
    expect(bad?.text).toContain('Invalid username, password, security token; or user locked out.');
    const retired = await call('65.0', envelope(i.username, i.password));
    expect(retired?.status).toBe(500);
    expect(retired?.text).toContain('login() is not available in API version 65.0');
  });

  it('lets jsforce log in with a username and password (SOAP login()) and stream platform events over TLS', async () => {
    const i = t.emu.info;
    expect(i.tls).toBe(true);
    const child = spawn(
      process.execPath,
      [
        fileURLToPath(new URL('../fixtures/jsforce-child.mjs', import.meta.url)),
        JSON.stringify({ loginUrl: i.loginUrl, username: i.username, password: i.password, channel: '/event/Order_Event__e' }),
      ],
      { env: { ...process.env, NODE_EXTRA_CA_CERTS: i.caCertPath as string }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lines: any[] = [];
    let stderr = '';
    child.stderr.on('data', (c) => {
      stderr += c;
    });
    createInterface({ input: child.stdout }).on('line', (l) => lines.push(JSON.parse(l)));
    try {
      await until(() => lines.some((l) => l.subscribed || l.error) || stderr.length > 0, 15_000, 'jsforce subscribed');
      expect(stderr).toBe('');
      expect(lines.filter((l) => l.error)).toEqual([]);
      expect(lines[0].login).toMatchObject({ organizationId: i.orgId, instanceUrl: i.instanceUrl });
      await t.admin('events/emit', { spec: 'platform:Order_Event__e', count: 10 });
      const events = () => lines.filter((l) => l.event).map((l) => l.event);
      await until(() => events().length === 10, 15_000, '10 platform events through jsforce');
      expect(events()[0].payload.CreatedDate).toMatch(/^\d{4}-\d\d-\d\dT/);
    } finally {
      child.kill();
    }
  });

  it('subscribes a single CometD route within 2 s of start (faye batches its first connect with the subscribe)', async () => {
    const dir = tempDir();
    const { bridge } = makeBridge(
      t,
      dir,
      [{ name: 'c', source: { type: 'cometd', org: 'emu', channel: '/data/CaseChangeEvent' }, sinks: [{ type: 'file', dir }] }],
      {},
      'warn',
    );
    const t0 = Date.now();
    await bridge.start();
    try {
      // The emulator holds a lone connect 5 s here: a batch held like one would take that long.
      await until(() => bridge.status().routes[0]?.sourceStats.subscribed === 1, 4000, 'the CometD route subscribed');
      expect(Date.now() - t0).toBeLessThanOrEqual(2000);
    } finally {
      await bridge.stop();
    }
  });

  it('takes dates and dateTimes as REST clients send them, and refuses one that does not parse', async () => {
    const token = await t.token();
    const made = await t.http('POST', '/services/data/v63.0/sobjects/Opportunity', {
      token,
      body: { Name: 'Dated', StageName: 'Prospecting', CloseDate: '2027-01-31' },
    });
    expect(made.status, made.text).toBe(201);
    const got = await t.http('GET', `/services/data/v63.0/sobjects/Opportunity/${made.json.id}`, { token });
    expect(got.json.CloseDate).toBe('2027-01-31');
    const bad = await t.http('POST', '/services/data/v63.0/sobjects/Opportunity', {
      token,
      body: { Name: 'Bad', StageName: 'Prospecting', CloseDate: 'soon' },
    });
    expect(bad.status).toBe(400);
    expect(bad.json[0]).toMatchObject({ errorCode: 'JSON_PARSER_ERROR', fields: ['CloseDate'] });
  });

  it('puts LastModifiedDate among the changed fields of every synthetic UPDATE', async () => {
    const before = (await t.published('/data/LeadChangeEvent')).length;
    await t.admin('events/emit', { spec: 'cdc:Lead', count: 40 });
    const events = (await t.published('/data/LeadChangeEvent')).slice(before).map((e) => e.fields);
    const updates = events.filter((f) => f.ChangeEventHeader.changeType === 'UPDATE');
    expect(updates.length).toBeGreaterThan(10);
    for (const u of updates) expect(u.LastModifiedDate).not.toBeNull();
  });
});
