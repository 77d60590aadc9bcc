/**
 * jsforce's CometD streaming client (faye underneath) subscribes to a PushTopic on the emulator
 * with a replay id and receives exactly the events after it, then live ones.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';

const require = createRequire(import.meta.url);
const jsforce = require('jsforce');
const { StreamingExtension } = require('jsforce/lib/api/streaming');

describe('emulator with jsforce streaming (PushTopic over CometD)', () => {
  let t: TestEmulator;
  const clients: any[] = [];

  beforeAll(async () => {
    // Plain HTTP: jsforce's HTTP stack cannot be pointed at a private CA from inside a test.
    t = await startEmulator({ plaintext: true });
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await t?.stop();
  });

  it('delivers PushTopic events after a stored replay id, then live events', async () => {
    const token = await t.token();
    const topic = await t.http('POST', '/services/data/v63.0/sobjects/PushTopic', {
      token,
      body: { Name: 'TechAccounts', Query: "SELECT Id, Name, Industry FROM Account WHERE Industry = 'Tech'", ApiVersion: 63.0 },
    });
    expect(topic.status).toBe(201);
    const names = ['A1', 'A2', 'A3'];
    for (const Name of names) {
      expect((await t.http('POST', '/services/data/v63.0/sobjects/Account', { token, body: { Name, Industry: 'Tech' } })).status).toBe(201);
    }
    await t.http('POST', '/services/data/v63.0/sobjects/Account', { token, body: { Name: 'Other', Industry: 'Retail' } });
    const ledger = await t.ledger('/topic/TechAccounts');
    expect(ledger).toHaveLength(3);

    const conn = new jsforce.Connection({ instanceUrl: t.emu.info.instanceUrl, accessToken: token, version: '63.0' });
    const client = conn.streaming.createClient([new StreamingExtension.Replay('/topic/TechAccounts', ledger[0].replayId)]);
    clients.push(client);
    const got: any[] = [];
    await client.subscribe('/topic/TechAccounts', (msg: any) => got.push(msg));
    await until(() => got.length === 2, 15_000, 'replayed events');
    expect(got.map((m) => m.sobject.Name)).toEqual(['A2', 'A3']);
    expect(got.map((m) => m.event.replayId)).toEqual([ledger[1].replayId, ledger[2].replayId]);
    expect(got[0].event.type).toBe('created');

    const id = (await t.http('POST', '/services/data/v63.0/sobjects/Account', { token, body: { Name: 'A4', Industry: 'Tech' } })).json.id;
    await until(() => got.length === 3, 15_000, 'live event');
    expect(got[2].sobject).toMatchObject({ Id: id, Name: 'A4', Industry: 'Tech' });

    // An update of a referenced field notifies; an update of an unrelated field does not.
    await t.http('PATCH', `/services/data/v63.0/sobjects/Account/${id}`, { token, body: { Phone: '555' } });
    await t.http('PATCH', `/services/data/v63.0/sobjects/Account/${id}`, { token, body: { Name: 'A4b' } });
    await until(() => got.length === 4, 15_000, 'update event');
    expect(got[3].event.type).toBe('updated');
    expect(got[3].sobject.Name).toBe('A4b');
  });

  it('replays everything retained with -2', async () => {
    const token = await t.token();
    const conn = new jsforce.Connection({ instanceUrl: t.emu.info.instanceUrl, accessToken: token, version: '63.0' });
    const client = conn.streaming.createClient([new StreamingExtension.Replay('/topic/TechAccounts', -2)]);
    clients.push(client);
    const got: any[] = [];
    await client.subscribe('/topic/TechAccounts', (msg: any) => got.push(msg));
    await until(() => got.length >= 5, 15_000, 'all retained events');
    expect(got.map((m) => m.sobject.Name)).toEqual(['A1', 'A2', 'A3', 'A4', 'A4b']);
  });
});
