/**
 * A two-way setup: Account change events → Kafka → Account upserts back into Salesforce. The
 * upserts cause change events of their own, which name the writing client in changeOrigin; the
 * first route drops them with `filter: { notFromClient }`, so 1,000 changes make exactly 1,000
 * upserts and no echo loop.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBridge } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { service } from '../helpers/services.js';
import { tempDir } from '../helpers/tmp.js';

const kafka = service('kafka');
const CHANGES = 1000;

describe.skipIf(!kafka.url)(`two-way: Salesforce → Kafka → Salesforce ${kafka.reason ?? ''}`, () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  it('runs 1,000 changes without an echo loop', async () => {
    const brokers = (kafka.url as string).split(',');
    const topic = `accounts-${randomUUID().slice(0, 8)}`;
    const { bridge } = makeBridge(
      t,
      tempDir(),
      [
        {
          name: 'out',
          source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent', start: 'latest' },
          filter: { notFromClient: 'sfbridge-sync' },
          sinks: [{ type: 'kafka', brokers, topic, createTopics: { partitions: 1 } }],
        },
        {
          name: 'back',
          source: { type: 'kafka', brokers, topics: [topic], groupId: `g-${topic}` },
          sinks: [
            {
              type: 'salesforce-records',
              org: 'emu',
              object: 'Account',
              operation: 'upsert',
              externalIdField: 'SLASerialNumber__c',
              client: 'sfbridge-sync',
              // The Kafka record is the first route's envelope: mirror each changed account.
              mapping:
                '{ "SLASerialNumber__c": payload.changeHeader.recordIds[0], "Name": "Mirror of " & payload.changeHeader.recordIds[0] }',
            },
          ],
        },
      ],
      {},
      'warn',
    );
    await bridge.start();
    await t.subscribed('/data/AccountChangeEvent');
    const before = (await t.ledger('/data/AccountChangeEvent')).length;
    await t.admin('records/create', { object: 'Account', count: CHANGES, fields: { Industry: 'Energy' } });
    const routes = () => bridge.status().routes;
    const out = () => routes().find((r) => r.key === 'out');
    const back = () => routes().find((r) => r.key === 'back');
    // Every original went to Kafka and back; every mirror's change came back to the first route and was dropped.
    await until(
      () => (back()?.eventsCommitted ?? 0) >= CHANGES && (out()?.sinks[0]?.eventsFiltered ?? 0) >= CHANGES,
      60_000,
      'both directions',
    );
    await until(() => out()?.inFlight === 0 && back()?.inFlight === 0, 10_000, 'drained');
    expect(out()?.sinks[0]?.eventsWritten).toBe(CHANGES);
    expect(back()?.sinks[0]?.eventsWritten).toBe(CHANGES);
    const ledger = (await t.ledger('/data/AccountChangeEvent')).slice(before);
    expect(ledger).toHaveLength(2 * CHANGES); // the originals and the mirrors' creates, nothing more
    const mirrors = (await t.published('/data/AccountChangeEvent')).filter((e) =>
      e.fields.ChangeEventHeader.changeOrigin.endsWith(';client=sfbridge-sync'),
    );
    expect(mirrors).toHaveLength(CHANGES);
    await bridge.stop();
  }, 120_000);
});
