/** Emulator behaviour and every injected fault, observed through real protocol clients. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importPKCS8, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulatorConfigSchema } from '../../src/emulator/config.js';
import { generateJwtSigningPair } from '../../src/emulator/tls.js';
import { createPubSubClient, PING_INTERVAL_MS, sfErrorCode, unary } from '../../src/salesforce/pubsub-client.js';
import { parseSchema } from '../../src/subscribers/pubsub/avro.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { pubsubClient, replayBytes, seqOf, subscribe } from '../helpers/pubsub.js';
import { tempDir } from '../helpers/tmp.js';

const CDC = '/data/AccountChangeEvent';

describe('emulator', () => {
  let t: TestEmulator;
  let ps: Awaited<ReturnType<typeof pubsubClient>>;

  beforeAll(async () => {
    t = await startEmulator({ keepaliveMs: 300, idleTimeoutMs: 1500, cometdConnectTimeoutMs: 1000 });
    ps = await pubsubClient(t);
  });
  afterAll(async () => {
    ps?.client.close();
    await t?.stop();
  });

  describe('OAuth', () => {
    const form = (extra: Record<string, string>) => ({ client_id: t.emu.info.clientId, client_secret: t.emu.info.clientSecret, ...extra });

    it('issues Salesforce-shaped tokens for client_credentials, password and refresh_token', async () => {
      for (const f of [
        form({ grant_type: 'client_credentials' }),
        form({ grant_type: 'password', username: t.emu.info.username, password: t.emu.info.password }),
        form({ grant_type: 'refresh_token', refresh_token: t.emu.info.refreshToken }),
      ]) {
        const r = await t.http('POST', '/services/oauth2/token', { form: f });
        expect(r.status, r.text).toBe(200);
        expect(r.json).toMatchObject({ instance_url: t.emu.info.instanceUrl, token_type: 'Bearer' });
        // Like real orgs: the token carries the 15-character org id; APIs return the 18-character one.
        expect(r.json.access_token.split('!')[0]).toBe(t.emu.info.orgId.slice(0, 15));
        expect(r.json.id).toMatch(/\/id\/00D\w{15}\/005\w{15}$/);
        expect(typeof r.json.issued_at).toBe('string');
        expect(typeof r.json.signature).toBe('string');
      }
      const info = await t.http('GET', '/services/oauth2/userinfo', { token: await t.token() });
      expect(info.json.organization_id).toBe(t.emu.info.orgId);
    });

    it('answers bad credentials with Salesforce errors', async () => {
      const cases: Array<[Record<string, string>, string]> = [
        [form({ grant_type: 'password', username: t.emu.info.username, password: 'nope' }), 'invalid_grant'],
        [{ ...form({ grant_type: 'client_credentials' }), client_secret: 'wrong' }, 'invalid_client'],
        [{ ...form({ grant_type: 'client_credentials' }), client_id: 'wrong' }, 'invalid_client_id'],
        [form({ grant_type: 'refresh_token', refresh_token: 'stale' }), 'invalid_grant'],
        [form({ grant_type: 'magic' }), 'unsupported_grant_type'],
      ];
      for (const [f, error] of cases) {
        const r = await t.http('POST', '/services/oauth2/token', { form: f });
        expect(r.status).toBe(400);
        expect(r.json.error).toBe(error);
        expect(typeof r.json.error_description).toBe('string');
      }
    });

    it('verifies JWT bearer assertions: signature, issuer, audience, subject, expiry', async () => {
      const pair = await generateJwtSigningPair();
      const noJwt = await t.http('POST', '/services/oauth2/token', {
        form: { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: 'x.y.z' },
      });
      expect(noJwt.json.error).toBe('invalid_client');
      t.emu.oauth.setJwtCertificate(pair.certPem);
      const key = await importPKCS8(pair.privateKeyPem, 'RS256');
      const sign = (claims: Record<string, unknown>, expSeconds = 180) =>
        new SignJWT(claims)
          .setProtectedHeader({ alg: 'RS256' })
          .setExpirationTime(Math.floor(Date.now() / 1000) + expSeconds)
          .sign(key);
      const good = { iss: t.emu.info.clientId, sub: t.emu.info.username, aud: t.emu.info.loginUrl };
      const post = async (assertion: string) =>
        (await t.http('POST', '/services/oauth2/token', { form: { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion } }))
          .json;
      expect((await post(await sign(good))).access_token).toMatch(/^00D\w{12}!/);
      expect(await post(await sign({ ...good, aud: 'https://login.salesforce.com' }))).toEqual({
        error: 'invalid_grant',
        error_description: 'audience is invalid',
      });
      expect((await post(await sign({ ...good, iss: 'other' }))).error).toBe('invalid_client_id');
      expect((await post(await sign({ ...good, sub: 'someone@else' }))).error).toBe('invalid_grant');
      expect((await post(await sign(good, -60))).error_description).toBe('expired authorization code');
      expect((await post(await sign(good, 3600))).error).toBe('invalid_grant');
      expect((await post('not-a-jwt')).error).toBe('invalid_grant');
      const other = await generateJwtSigningPair();
      const forged = await new SignJWT(good)
        .setProtectedHeader({ alg: 'RS256' })
        .setExpirationTime('3m')
        .sign(await importPKCS8(other.privateKeyPem, 'RS256'));
      expect((await post(forged)).error_description).toBe('invalid assertion');
    });
  });

  describe('Pub/Sub API', () => {
    it('never sends more events than requested, and reports pending credit', async () => {
      await t.admin('events/emit', { spec: 'cdc:Account', count: 50 });
      const s = subscribe(ps.client, await ps.md(), { topic_name: CDC, replay_preset: 'EARLIEST', num_requested: 5 });
      await until(() => s.events().length === 5);
      await new Promise((r) => setTimeout(r, 200));
      expect(s.events()).toHaveLength(5);
      expect(s.responses.at(-1).pending_num_requested).toBe(0);
      s.call.write({ num_requested: 500 }); // capped at 100 per request
      await until(() => s.events().length === 50);
      expect(s.responses.every((r) => r.events.length <= 100)).toBe(true);
      const ids = s.events().map((e) => seqOf(e.replay_id));
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      s.call.end();
    });

    it('sends keepalives with latest_replay_id while credit is outstanding, and closes idle streams without credit', async () => {
      const s = subscribe(ps.client, await ps.md(), { topic_name: '/data/ContactChangeEvent', replay_preset: 'LATEST', num_requested: 10 });
      await until(() => s.responses.length >= 2, 5000, 'keepalives');
      expect(s.responses[0].events).toHaveLength(0);
      expect(s.responses[0].latest_replay_id).toHaveLength(8);
      expect(s.responses[0].pending_num_requested).toBe(10);
      s.call.end();
      // Credit used up by one event, then nothing requested: the server closes the idle stream.
      const idle = subscribe(ps.client, await ps.md(), {
        topic_name: '/data/ContactChangeEvent',
        replay_preset: 'LATEST',
        num_requested: 1,
      });
      await t.subscribed('/data/ContactChangeEvent');
      await t.admin('events/emit', { spec: 'cdc:Contact', count: 1 });
      await until(() => idle.events().length === 1, 5000, 'the one event');
      await until(() => idle.ended || idle.error !== null, 6000, 'idle close');
      expect(idle.error).toBeNull();
    });

    it('refuses a first FetchRequest that asks for no events, as Salesforce does', async () => {
      const zero = subscribe(ps.client, await ps.md(), {
        topic_name: '/data/ContactChangeEvent',
        replay_preset: 'LATEST',
        num_requested: 0,
      });
      await until(() => zero.ended || zero.error !== null, 5000, 'refusal');
      expect(zero.error?.code).toBe(3); // INVALID_ARGUMENT
      expect(zero.error?.details).toMatch(/num_requested must be greater than 0/);
    });

    it('ends a connection that pings more often than a default Java gRPC server allows (GOAWAY too_many_pings)', async () => {
      // A client pinging every 200 ms: its third early ping ends the connection and its streams.
      const eager = createPubSubClient({
        endpoint: t.emu.info.pubsubEndpoint,
        ca: t.ca,
        plaintext: !t.emu.info.tls,
        channelOptions: { 'grpc.keepalive_time_ms': 200, 'grpc.keepalive_permit_without_calls': 1 },
      });
      try {
        const before = t.emu.pubsub.pingGoaways;
        const s = subscribe(eager, await ps.md(), { topic_name: CDC, replay_preset: 'LATEST', num_requested: 1 });
        await until(() => s.error !== null || s.ended, 10_000, 'the connection to be ended');
        // grpc-js reports streams ended by ENHANCE_YOUR_CALM as RESOURCE_EXHAUSTED.
        expect(s.error?.code).toBe(8);
        expect(t.emu.pubsub.pingGoaways).toBe(before + 1);
      } finally {
        eager.close();
      }
      // The bridge's own interval is one a default Java server accepts (and so does the emulator).
      expect(PING_INTERVAL_MS).toBeGreaterThanOrEqual(emulatorConfigSchema.parse({}).minPingIntervalMs);
    });

    it('rejects unknown topics and schemas with Salesforce error codes', async () => {
      const s = subscribe(ps.client, await ps.md(), { topic_name: '/data/NoSuchChangeEvent', num_requested: 1 });
      await until(() => s.error !== null);
      expect(s.error?.code).toBe(5); // NOT_FOUND
      expect(sfErrorCode(s.error)).toBe('sfdc.platform.eventbus.grpc.topic.not.found');
      await expect(unary(ps.client, 'GetSchema', { schema_id: 'nope' }, await ps.md())).rejects.toMatchObject({ code: 5 });
      const topic: any = await unary(ps.client, 'GetTopic', { topic_name: '/event/Order_Event__e' }, await ps.md());
      expect(topic).toMatchObject({ can_publish: true, can_subscribe: true, tenant_guid: t.emu.info.orgId });
    });

    it('expired tokens: UNAUTHENTICATED mid-stream with the auth error code, REST 401 INVALID_SESSION_ID', async () => {
      const md = await ps.md();
      const s = subscribe(ps.client, md, { topic_name: CDC, replay_preset: 'LATEST', num_requested: 10 });
      await until(() => s.responses.length >= 1, 5000);
      const old = await t.token();
      await t.admin('tokens/expire');
      await t.admin('events/emit', { spec: 'cdc:Account', count: 1 });
      await until(() => s.error !== null, 5000, 'unauthenticated');
      expect(s.error?.code).toBe(16);
      expect(sfErrorCode(s.error)).toBe('sfdc.platform.eventbus.grpc.service.auth.error');
      const r = await t.http('GET', '/services/data/v63.0/limits', { token: old });
      expect(r.status).toBe(401);
      expect(r.json[0].errorCode).toBe('INVALID_SESSION_ID');
    });

    it('drops every stream on demand', async () => {
      const s = subscribe(ps.client, await ps.md(), { topic_name: CDC, replay_preset: 'LATEST', num_requested: 10 });
      await until(() => s.responses.length >= 1, 5000);
      const r = await t.admin('streams/drop');
      expect(r.grpcStreams).toBeGreaterThanOrEqual(1);
      await until(() => s.error !== null);
      expect(s.error?.code).toBe(14); // UNAVAILABLE
    });

    it('rejects invalidated and expired replay ids; EARLIEST skips what retention dropped', async () => {
      const emitted = await t.admin('events/emit', { spec: 'cdc:Lead', count: 3 });
      const ch = '/data/LeadChangeEvent';
      const ok = subscribe(ps.client, await ps.md(), {
        topic_name: ch,
        replay_preset: 'CUSTOM',
        replay_id: replayBytes(emitted.firstReplayId),
        num_requested: 10,
      });
      await until(() => ok.events().length === 2);
      ok.call.end();

      const garbage = subscribe(ps.client, await ps.md(), {
        topic_name: ch,
        replay_preset: 'CUSTOM',
        replay_id: Buffer.from([1, 2, 3]),
        num_requested: 1,
      });
      await until(() => garbage.error !== null);
      expect(sfErrorCode(garbage.error)).toBe('sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted');

      await t.admin('clock', { advanceMs: 73 * 3600_000 });
      const newer = await t.admin('events/emit', { spec: 'cdc:Lead', count: 1 });
      const expired = subscribe(ps.client, await ps.md(), {
        topic_name: ch,
        replay_preset: 'CUSTOM',
        replay_id: replayBytes(emitted.firstReplayId),
        num_requested: 1,
      });
      await until(() => expired.error !== null);
      expect(expired.error?.code).toBe(3); // INVALID_ARGUMENT
      expect(sfErrorCode(expired.error)).toBe('sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted');
      const earliest = subscribe(ps.client, await ps.md(), { topic_name: ch, replay_preset: 'EARLIEST', num_requested: 10 });
      await until(() => earliest.events().length === 1);
      expect(seqOf(earliest.events()[0].replay_id)).toBe(newer.firstReplayId);
      earliest.call.end();

      await t.admin('replay/invalidate');
      const invalid = subscribe(ps.client, await ps.md(), {
        topic_name: ch,
        replay_preset: 'CUSTOM',
        replay_id: replayBytes(newer.firstReplayId),
        num_requested: 1,
      });
      await until(() => invalid.error !== null);
      expect(sfErrorCode(invalid.error)).toBe('sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted');
    });

    it('emits gap and overflow events and serves a changed schema under a new id', async () => {
      const ch = '/data/CaseChangeEvent';
      const s = subscribe(ps.client, await ps.md(), { topic_name: ch, replay_preset: 'LATEST', num_requested: 10 });
      await t.subscribed(ch); // a signal: the emulator holds the subscription
      await t.admin('events/gap', { object: 'Case', changeType: 'GAP_UPDATE' });
      await t.admin('events/overflow', { object: 'Case' });
      const before: any = await unary(ps.client, 'GetTopic', { topic_name: ch }, await ps.md());
      const changed = await t.admin('schema/change', { target: 'Case', field: { name: 'Tier__c', type: 'string' } });
      expect(changed.schemaId).not.toBe(before.schema_id);
      await t.admin('events/emit', { spec: 'cdc:Case', count: 1 });
      await until(() => s.events().length === 3);
      const [gap, overflow, after] = s.events();
      const decode = async (e: any) => {
        const info: any = await unary(ps.client, 'GetSchema', { schema_id: e.event.schema_id }, await ps.md());
        // The bridge's decoder: commit numbers exceed 2^53, which plain avsc refuses to decode into a number.
        return parseSchema(String(e.event.schema_id), info.schema_json).type.fromBuffer(e.event.payload) as any;
      };
      expect((await decode(gap)).ChangeEventHeader.changeType).toBe('GAP_UPDATE');
      expect((await decode(overflow)).ChangeEventHeader.changeType).toBe('GAP_OVERFLOW');
      expect(gap.event.schema_id).toBe(before.schema_id);
      expect(after.event.schema_id).toBe(changed.schemaId);
      expect(Object.keys(await decode(after))).toContain('Tier__c');
      s.call.end();
    });

    it('throttles delivery', async () => {
      await t.admin('throttle', { eventsPerSecond: 100 });
      try {
        const emitted = await t.admin('events/emit', { spec: 'cdc:Opportunity', count: 150 });
        const start = Date.now();
        const s = subscribe(ps.client, await ps.md(), {
          topic_name: '/data/OpportunityChangeEvent',
          replay_preset: 'CUSTOM',
          replay_id: replayBytes(emitted.firstReplayId - 1),
          num_requested: 100,
        });
        s.call.write({ num_requested: 100 });
        await until(() => s.events().length === 150, 10_000);
        expect(Date.now() - start).toBeGreaterThanOrEqual(450);
        s.call.end();
      } finally {
        await t.admin('throttle', { eventsPerSecond: 0 });
      }
    });

    it('managed subscriptions resume after the server-side commit', async () => {
      await t.admin('managed', { developerName: 'Orders', topic: '/event/Order_Event__e', start: 'EARLIEST' });
      await t.admin('events/emit', { spec: 'platform:Order_Event__e', count: 4 });
      const open = async () => {
        const call = ps.client.ManagedSubscribe(await ps.md());
        const got: any[] = [];
        call.on('data', (r: any) => got.push(r));
        call.on('error', () => undefined);
        call.write({ developer_name: 'Orders', num_requested: 2 });
        return { call, got, events: () => got.flatMap((r) => r.events) };
      };
      const a = await open();
      await until(() => a.events().length === 2);
      a.call.write({ commit_replay_id_request: { commit_request_id: 'c1', replay_id: a.events()[1].replay_id } });
      await until(() => a.got.some((r) => r.commit_response?.commit_request_id === 'c1'));
      a.call.end();
      const b = await open();
      await until(() => b.events().length === 2);
      expect(seqOf(b.events()[0].replay_id)).toBeGreaterThan(seqOf(a.events()[1].replay_id));
      b.call.end();
    });
  });

  describe('CometD', () => {
    const bayeux = async (msgs: unknown[], token?: string | null) =>
      (await t.http('POST', '/cometd/63.0', { body: msgs, token: token === undefined ? await t.token() : token })).json;

    it('speaks Bayeux with the replay extension and Salesforce errors', async () => {
      await t.admin('events/emit', { spec: 'cdc:Account', count: 3 });
      const [hs] = await bayeux([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);
      expect(hs).toMatchObject({ successful: true, ext: { replay: true } });
      const clientId = hs.clientId;
      const [bad] = await bayeux([{ channel: '/meta/subscribe', clientId, subscription: CDC, ext: { replay: { [CDC]: 12 } } }]);
      expect(bad.error).toBe(
        '400::The replayId {12} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events.',
      );
      const [sub] = await bayeux([{ channel: '/meta/subscribe', clientId, subscription: CDC, ext: { replay: { [CDC]: -2 } } }]);
      expect(sub.successful).toBe(true);
      const replies = await bayeux([{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }]);
      const events = replies.filter((m: any) => m.channel === CDC);
      expect(events.length).toBeGreaterThan(0);
      expect(events[0].data.payload.ChangeEventHeader.changedFields).toContain('Name');
      expect(typeof events[0].data.event.replayId).toBe('number');

      const [unauth] = await bayeux([{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }], 'not-a-token');
      expect(unauth).toMatchObject({ successful: false, error: '401::Authentication invalid', advice: { reconnect: 'none' } });
      const dropped = await t.admin('streams/drop');
      expect(dropped.cometdSessions).toBeGreaterThanOrEqual(1);
      const [unknown] = await bayeux([{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }]);
      expect(unknown).toMatchObject({ successful: false, error: '403::Unknown client', advice: { reconnect: 'handshake' } });
    });
  });

  describe('REST and Bulk API', () => {
    it('creates, reads, updates and deletes records, each with its CDC event', async () => {
      const token = await t.token();
      const before = (await t.ledger('/data/ContactChangeEvent')).length;
      const created = await t.http('POST', '/services/data/v63.0/sobjects/Contact', {
        token,
        body: { FirstName: 'Ada', LastName: 'Lovelace', MailingCity: 'London', Email: 'ada@example.com' },
      });
      expect(created.status, created.text).toBe(201);
      const id = created.json.id;
      expect(id).toMatch(/^003\w{15}$/);
      const got = await t.http('GET', `/services/data/v63.0/sobjects/Contact/${id}?fields=Id,FirstName,Email,MailingAddress`, { token });
      expect(got.json).toMatchObject({ Id: id, FirstName: 'Ada', Email: 'ada@example.com', MailingAddress: { City: 'London' } });
      expect(
        (await t.http('PATCH', `/services/data/v63.0/sobjects/Contact/${id}`, { token, body: { Email: null, MailingCity: 'Paris' } }))
          .status,
      ).toBe(204);
      const composite = await t.http(
        'GET',
        `/services/data/v63.0/composite/sobjects/Contact?ids=${id},003000000000000AAA&fields=Id,Email`,
        { token },
      );
      expect(composite.json).toEqual([{ attributes: expect.any(Object), Id: id, Email: null }, null]);
      const query = await t.http(
        'GET',
        `/services/data/v63.0/query?q=${encodeURIComponent("SELECT Id, LastName FROM Contact WHERE FirstName = 'Ada'")}`,
        { token },
      );
      expect(query.json.records).toHaveLength(1);
      expect((await t.http('DELETE', `/services/data/v63.0/sobjects/Contact/${id}`, { token })).status).toBe(204);
      const ledger = (await t.ledger('/data/ContactChangeEvent')).slice(before);
      expect(ledger.map((e) => e.changeType)).toEqual(['CREATE', 'UPDATE', 'DELETE']);

      const bad = await t.http('POST', '/services/data/v63.0/sobjects/Contact', { token, body: { Nope__c: 1 } });
      expect(bad.status).toBe(400);
      expect(bad.json[0]).toMatchObject({ errorCode: 'INVALID_FIELD' });
      const versions = await t.http('GET', '/services/data');
      expect(versions.json.at(-1).version).toBe('63.0');
      const limits = await t.http('GET', '/services/data/v63.0/limits', { token });
      expect(limits.json.DailyStreamingApiEvents.Max).toBeGreaterThan(0);
    });

    it('runs Bulk API 2.0 query jobs with CSV results and locator paging', async () => {
      const token = await t.token();
      for (let i = 0; i < 5; i++)
        await t.http('POST', '/services/data/v63.0/sobjects/Lead', { token, body: { LastName: `L${i}`, Company: 'Acme, Inc.' } });
      const job = await t.http('POST', '/services/data/v63.0/jobs/query', {
        token,
        body: { operation: 'query', query: "SELECT Id, LastName, Company FROM Lead WHERE Company = 'Acme, Inc.'" },
      });
      expect(job.status).toBe(200);
      const status = await t.http('GET', `/services/data/v63.0/jobs/query/${job.json.id}`, { token });
      expect(status.json).toMatchObject({ state: 'JobComplete', numberRecordsProcessed: 5 });
      const page1 = await t.http('GET', `/services/data/v63.0/jobs/query/${job.json.id}/results?maxRecords=3`, { token });
      expect(page1.text.split('\n')[0]).toBe('Id,LastName,Company');
      expect(page1.text).toContain('"Acme, Inc."');
      expect(page1.headers['sforce-locator']).toBe('3');
      const page2 = await t.http('GET', `/services/data/v63.0/jobs/query/${job.json.id}/results?maxRecords=3&locator=3`, { token });
      expect(page2.text.trim().split('\n')).toHaveLength(3);
      expect(page2.headers['sforce-locator']).toBe('null');
    });

    it('delays responses on demand', async () => {
      await t.admin('delay', { ms: 300 });
      try {
        const start = Date.now();
        await t.http('GET', '/services/data/v63.0/limits', { token: await t.token() });
        expect(Date.now() - start).toBeGreaterThanOrEqual(280);
      } finally {
        await t.admin('delay', { ms: 0 });
      }
    });

    it('answers malformed requests with errors, never a crash', async () => {
      const token = await t.token();
      expect(
        (
          await t.http('POST', '/services/data/v63.0/sobjects/Account', {
            token,
            headers: { 'content-type': 'application/json' },
            body: undefined,
          })
        ).status,
      ).toBe(201);
      const badJson = await t.http('POST', '/cometd/63.0', { token, headers: { 'content-type': 'application/json' } });
      expect(badJson.status).toBe(400);
      expect((await t.http('GET', '/services/data/v63.0/sobjects/Nope', { token })).status).toBe(404);
      expect(
        (await t.http('GET', `/services/data/v63.0/query?q=${encodeURIComponent('DELETE FROM Account')}`, { token })).json[0].errorCode,
      ).toBe('MALFORMED_QUERY');
      expect((await t.http('POST', '/admin/events/emit', { body: { spec: 'nonsense' } })).status).toBe(400);
      expect((await t.http('GET', '/services/data/v63.0/limits')).status).toBe(401);
    });
  });
  // Last in this file: it publishes enough events to change what the earlier tests' replays see.
  describe('Pub/Sub API totals', () => {
    it('counts at most 100 requested events per Subscribe in total, as Salesforce documents', async () => {
      const s = subscribe(ps.client, await ps.md(), {
        topic_name: '/data/OpportunityChangeEvent',
        replay_preset: 'LATEST',
        num_requested: 100,
      });
      s.call.write({ num_requested: 100 });
      s.call.write({ num_requested: 50 });
      await t.subscribed('/data/OpportunityChangeEvent');
      await t.admin('events/emit', { spec: 'cdc:Opportunity', count: 150 });
      await until(() => s.events().length >= 100, 5000, '100 events');
      await new Promise((r) => setTimeout(r, 300)); // a negative check: nothing beyond the cap arrives
      expect(s.events()).toHaveLength(100);
      expect(s.responses.at(-1).pending_num_requested).toBe(0);
      s.call.end();
    });
  });
});

describe('emulator persistence (--data-dir)', () => {
  it('keeps the event log, records and replay validity across a restart', async () => {
    const dir = tempDir();
    const a = await startEmulator({}, { dataDir: dir });
    const token = await a.token();
    const id = (await a.http('POST', '/services/data/v63.0/sobjects/Account', { token, body: { Name: 'Persisted' } })).json.id;
    const emitted = await a.admin('events/emit', { spec: 'cdc:Account', count: 20 });
    await a.stop();
    const b = await startEmulator({}, { dataDir: dir });
    try {
      expect((await b.ledger()).length).toBe(21);
      const rec = await b.http('GET', `/services/data/v63.0/sobjects/Account/${id}?fields=Name`, { token: await b.token() });
      expect(rec.json.Name).toBe('Persisted');
      const ps = await pubsubClient(b);
      const s = subscribe(ps.client, await ps.md(), {
        topic_name: CDC,
        replay_preset: 'CUSTOM',
        replay_id: replayBytes(emitted.firstReplayId),
        num_requested: 100,
      });
      await until(() => s.events().length === 19);
      s.call.end();
      ps.client.close();
      writeFileSync(join(dir, 'marker'), '');
    } finally {
      await b.stop();
    }
  });

  it('plaintext with a data directory that does not exist yet: creates it and logs events there', async () => {
    const dir = join(tempDir(), 'not', 'yet');
    const plain = await startEmulator({ plaintext: true }, { dataDir: dir });
    try {
      const r = await plain.admin('events/emit', { spec: 'cdc:Account', count: 2 });
      expect(r.firstReplayId).toBeGreaterThan(0);
      expect(readFileSync(join(dir, 'events.ndjson'), 'utf8').trim().split('\n').length).toBeGreaterThanOrEqual(2);
    } finally {
      await plain.stop();
    }
  });
});
