/**
 * The emulator is faithful enough for the public Node Pub/Sub client (salesforce-pubsub-api-client,
 * unmodified, USER_SUPPLIED auth, TLS with the emulator's self-signed certificate): it subscribes,
 * receives and decodes CDC and platform events, publishes one, and never gets more than it asked for.
 */
import PubSubApiClient from 'salesforce-pubsub-api-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('emulator with the public salesforce-pubsub-api-client', () => {
  let t: TestEmulator;
  let client: any;

  beforeAll(async () => {
    t = await startEmulator();
    client = new (PubSubApiClient as any)(
      {
        authType: 'user-supplied',
        accessToken: await t.token(),
        instanceUrl: t.emu.info.instanceUrl,
        pubSubEndpoint: t.emu.info.pubsubEndpoint,
        rejectUnauthorizedSsl: false,
      },
      quiet,
    );
    await client.connect();
  });

  afterAll(async () => {
    client?.close();
    await t?.stop();
  });

  it('subscribes from EARLIEST, decodes CDC events with field names, and never receives more than requested', async () => {
    await t.admin('events/emit', { spec: 'cdc:Account', count: 250 });
    const received: any[] = [];
    let lastEvent = false;
    client.subscribeFromEarliestEvent(
      '/data/AccountChangeEvent',
      (_sub: unknown, type: string, data: any) => {
        if (type === 'event') received.push(data);
        if (type === 'lastEvent') lastEvent = true;
      },
      60,
    );
    await until(() => lastEvent, 15_000, 'lastEvent');
    await new Promise((r) => setTimeout(r, 300));
    expect(received).toHaveLength(60);
    const ledger = await t.ledger('/data/AccountChangeEvent');
    expect(received.map((e) => Number(e.replayId))).toEqual(ledger.slice(0, 60).map((l) => l.replayId));
    const header = received[0].payload.ChangeEventHeader;
    expect(header.entityName).toBe('Account');
    expect(header.changeType).toBe('CREATE');
    // Salesforce lists changed fields for updates only; the client decodes those bitmaps itself,
    // so our encoding must match its reading.
    expect(header.changedFields).toEqual([]);
    const update = received.find((e) => e.payload.ChangeEventHeader.changeType === 'UPDATE' && e.payload.BillingAddress);
    expect(update.payload.ChangeEventHeader.changedFields).toContain('BillingAddress.City');
  });

  it('publishes a platform event and receives it back', async () => {
    const got: any[] = [];
    client.subscribe(
      '/event/Order_Event__e',
      (_sub: unknown, type: string, data: any) => {
        if (type === 'event') got.push(data);
      },
      10,
    );
    await t.subscribed('/event/Order_Event__e'); // a signal: the emulator holds the subscription
    const result = await client.publish('/event/Order_Event__e', {
      CreatedDate: Date.now(),
      CreatedById: '0055g00000Emu01EAB',
      // avro-js (the client's Avro library) wants unions wrapped by branch name.
      OrderNumber__c: { string: 'A-1' },
      Amount__c: { double: 12.5 },
      Status__c: { string: 'New' },
      Shipped__c: { boolean: false },
    });
    expect(result.replayId).toBeGreaterThan(0);
    await until(() => got.length === 1, 10_000, 'published event');
    expect(got[0].payload.OrderNumber__c).toBe('A-1');
    expect(got[0].payload.Amount__c).toBe(12.5);
    expect(Number(got[0].replayId)).toBe(Number(result.replayId));
  });
});
