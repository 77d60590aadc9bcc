/** The Pub/Sub subscriber end to end against the emulator: delivery, resume, every fault. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileReplayStore } from '../../src/replay/file/file-store.js';
import { makeBridge, readSink } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';

const schema = JSON.parse(readFileSync(new URL('../../docs/envelope.schema.json', import.meta.url), 'utf8'));
const ajv = new Ajv2020({ allErrors: true, strict: false });
(addFormats as unknown as (a: Ajv2020) => void)(ajv);
const validate = ajv.compile(schema);

const route = (name: string, topic: string, out: string, source: Record<string, unknown> = {}) => ({
  name,
  source: { type: 'pubsub', org: 'emu', topic, ...source },
  sinks: [{ type: 'file', dir: out }],
});

describe('Pub/Sub subscriber', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator({ keepaliveMs: 200 });
  });
  afterAll(async () => t?.stop());

  it('bridges CDC events in order into the file sink, commits, and resumes after a restart', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    await t.admin('events/emit', { spec: 'cdc:Opportunity', count: 2000 });
    const r = route('opps', '/data/OpportunityChangeEvent', out, { initial: 'earliest' });
    const a = makeBridge(t, dir, [r]);
    await a.bridge.start();
    await until(() => readSink(out).length === 2000, 20_000, '2000 events');
    await a.bridge.stop();
    const ledger = await t.ledger('/data/OpportunityChangeEvent');
    const got = readSink(out);
    expect(got.map((e) => e.replayId)).toEqual(ledger.map((l) => l.replayIdBase64));
    for (const e of got.slice(0, 50)) expect(validate(e), JSON.stringify(validate.errors)).toBe(true);
    expect(got[0]).toMatchObject({
      org: t.emu.info.orgId,
      channel: '/data/OpportunityChangeEvent',
      kind: 'cdc',
      changeHeader: { entity: 'Opportunity' },
    });
    const store = new FileReplayStore({ type: 'file', path: join(dir, 'replay.json'), fsync: true });
    await store.open();
    expect((await store.load('opps'))?.replayId).toBe(ledger.at(-1).replayIdBase64);

    await t.admin('events/emit', { spec: 'cdc:Opportunity', count: 300 });
    const b = makeBridge(t, dir, [r]);
    await b.bridge.start();
    await until(() => readSink(out).length === 2300, 20_000, 'resumed events');
    await new Promise((res) => setTimeout(res, 200));
    await b.bridge.stop();
    const all = readSink(out);
    expect(all).toHaveLength(2300);
    expect(new Set(all.map((e) => e.replayId)).size).toBe(2300);
  });

  it('decodes an update to exactly the changed fields, compound and nulled included', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const a = makeBridge(t, dir, [route('acct', '/data/AccountChangeEvent', out)]);
    await a.bridge.start();
    await t.subscribed('/data/AccountChangeEvent'); // a signal: the emulator holds the subscription
    const token = await t.token();
    const id = (
      await t.http('POST', '/services/data/v63.0/sobjects/Account', { token, body: { Name: 'Acme', Fax: '555-1', BillingCity: 'Paris' } })
    ).json.id;
    await t.http('PATCH', `/services/data/v63.0/sobjects/Account/${id}`, {
      token,
      body: { BillingCity: 'Lyon', Fax: null, Phone: '555-2' },
    });
    await until(() => readSink(out).length === 2, 10_000);
    await a.bridge.stop();
    const [created, updated] = readSink(out);
    expect(created.changeHeader.changeType).toBe('CREATE');
    expect(created.payload).toMatchObject({ Name: 'Acme', Fax: '555-1', BillingAddress: { City: 'Paris' } });
    expect(updated.changeHeader).toMatchObject({ changeType: 'UPDATE', recordIds: [id], nulledFields: ['Fax'] });
    expect([...updated.changeHeader.changedFields].sort()).toEqual(['BillingAddress.City', 'Fax', 'LastModifiedDate', 'Phone'].sort());
    expect(updated.payload).toEqual({ Phone: '555-2', Fax: null, BillingAddress: { City: 'Lyon' }, LastModifiedDate: expect.any(Number) });
    expect(typeof updated.changeHeader.commitNumber).toBe('string');
    expect(updated.eventTime).toBe(new Date(updated.changeHeader.commitTimestamp).toISOString());
  });

  it('uses EventUuid as the event id of platform events', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const a = makeBridge(t, dir, [route('orders', '/event/Order_Event__e', out)]);
    await a.bridge.start();
    await t.subscribed('/event/Order_Event__e'); // a signal: the emulator holds the subscription
    await t.http('POST', '/services/data/v63.0/sobjects/Order_Event__e', {
      token: await t.token(),
      body: { OrderNumber__c: 'O-1', Amount__c: 3.5 },
    });
    await until(() => readSink(out).length === 1, 10_000);
    await a.bridge.stop();
    const [e] = readSink(out);
    const [l] = await t.ledger('/event/Order_Event__e').then((x) => x.slice(-1));
    expect(e).toMatchObject({ kind: 'platform', eventId: l.eventId, payload: { OrderNumber__c: 'O-1', Amount__c: 3.5 } });
    expect(validate(e)).toBe(true);
  });
});
