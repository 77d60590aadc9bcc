/**
 * Writing into Salesforce (the emulator): platform events over PublishStream and Publish, and
 * records through sObject Collections and Bulk API 2.0 ingest, with per-event outcomes, the
 * publishing allocation, and changeOrigin from Sforce-Call-Options.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orgSchema } from '../../src/config/schema.js';
import { FileDeadLetterStore } from '../../src/deadletter/file-store.js';
import type { Envelope } from '../../src/envelope.js';
import { OrgServices } from '../../src/orgs.js';
import { salesforceSinkConfigSchema } from '../../src/sinks/salesforce/config.js';
import { SalesforceSink } from '../../src/sinks/salesforce/salesforce-sink.js';
import { captureLogger, emulatorOrg, makeBridge } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';

function ndjson(dir: string, rows: unknown[]): string {
  const path = join(dir, 'in.ndjson');
  writeFileSync(path, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return path;
}

function generic(i: number, payload: unknown): Envelope {
  return {
    v: 1,
    org: 'x',
    channel: 'test',
    replayId: String(i),
    eventId: `e${i}`,
    schemaId: null,
    eventTime: null,
    receivedAt: '',
    kind: 'generic',
    payload,
  };
}

const ORDER_MAPPING = '{ "OrderNumber__c": payload.order, "Amount__c": payload.amount }';

describe('Salesforce sinks (emulator)', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  async function runFileRoute(rows: unknown[], sink: Record<string, unknown>, extra: Record<string, unknown> = {}) {
    const dir = tempDir();
    const { bridge } = makeBridge(
      t,
      dir,
      [{ name: 'in', source: { type: 'file', path: ndjson(dir, rows) }, sinks: [sink], ...extra }],
      {},
      'warn',
    );
    await bridge.start();
    await until(() => bridge.status().routes[0]?.state === 'ended' || bridge.status().routes[0]?.state === 'failed', 60_000, 'route end');
    const status = bridge.status().routes[0];
    await bridge.stop();
    const dead = await new FileDeadLetterStore({ type: 'file', dir: join(dir, 'dead-letters'), fsync: true }).list();
    return { status, dead };
  }

  for (const rpc of ['stream', 'unary'] as const) {
    it(`publishes each event once, in order, through ${rpc === 'stream' ? 'PublishStream' : 'Publish'}`, async () => {
      const before = (await t.published('/event/Order_Event__e')).length;
      const rows = Array.from({ length: 450 }, (_, i) => ({ order: `${rpc}-${i}`, amount: i + 0.5 }));
      const { status, dead } = await runFileRoute(rows, {
        type: 'salesforce',
        org: 'emu',
        topic: '/event/Order_Event__e',
        mapping: ORDER_MAPPING,
        rpc,
      });
      expect(status?.state).toBe('ended');
      expect(dead).toEqual([]);
      const got = (await t.published('/event/Order_Event__e')).slice(before);
      expect(got.map((e) => e.fields.OrderNumber__c)).toEqual(rows.map((r) => r.order));
      expect(got[3]?.fields.Amount__c).toBe(3.5);
    });
  }

  it('rejects an event whose field does not fit the schema, naming the field, and publishes the rest', async () => {
    const before = (await t.published('/event/Order_Event__e')).length;
    const rows = [
      { order: 'ok-1', amount: 1 },
      { order: 'bad-type', amount: 'lots' },
      { order: 'ok-2', amount: 2 },
    ];
    const { dead } = await runFileRoute(
      rows,
      { type: 'salesforce', org: 'emu', topic: '/event/Order_Event__e', mapping: ORDER_MAPPING },
      {
        sinkOutage: { mode: 'dead-letter', after: 0 },
      },
    );
    const unknownField = await runFileRoute([{ order: 'x' }], {
      type: 'salesforce',
      org: 'emu',
      topic: '/event/Order_Event__e',
      mapping: '{ "OrderNumbr__c": payload.order }',
    });
    expect((await t.published('/event/Order_Event__e')).slice(before).map((e) => e.fields.OrderNumber__c)).toEqual(['ok-1', 'ok-2']);
    expect(dead).toHaveLength(1);
    expect(dead[0]?.error).toMatch(/field Amount__c of Order_Event__e cannot hold "lots"/);
    expect(unknownField.dead[0]?.error).toMatch(/field OrderNumbr__c is not on Order_Event__e/);
  });

  it('retries a refused publish, and stays away without calling Salesforce while the hourly allocation is spent', async () => {
    const orgs = new OrgServices({ emu: orgSchema.parse(emulatorOrg(t)) }, captureLogger('error').log);
    const { log, capture } = captureLogger('error');
    const sink = new SalesforceSink(
      salesforceSinkConfigSchema.parse({ type: 'salesforce', org: 'emu', topic: '/event/Order_Event__e', mapping: ORDER_MAPPING }),
      { route: 'r', log, sinkName: 'salesforce#0' },
      orgs,
    );
    try {
      await sink.open();
      await t.admin('publish/refuse', { next: 1 });
      const first = await sink.write([generic(1, { order: 'refused', amount: 1 }), generic(2, { order: 'through', amount: 2 })]);
      expect(first.map((o) => o.status)).toEqual(['retry', 'delivered']);
      expect((first[0] as { error: string }).error).toMatch(/PLATFORM_EVENT_PUBLISHING_UNAVAILABLE/);
      expect((await sink.write([generic(1, { order: 'refused', amount: 1 })]))[0]?.status).toBe('delivered');

      await t.admin('publish/allocation', { max: 0 });
      const spent = await sink.write([generic(3, { order: 'over', amount: 3 })]);
      expect(spent[0]).toMatchObject({ status: 'retry', retryAfterMs: 300_000 });
      expect(capture.text()).toMatch(/hourly platform-event publishing allocation is spent/);
      const calls = t.emu.pubsub.stats().publishRequests;
      const again = await sink.write([generic(3, { order: 'over', amount: 3 })]);
      expect(again[0]?.status).toBe('retry');
      expect((again[0] as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(290_000);
      expect(t.emu.pubsub.stats().publishRequests).toBe(calls); // stayed away: no call
    } finally {
      await t.admin('publish/allocation', { max: 250000 });
      await sink.close();
      orgs.close();
    }
  });

  it('upserts records through sObject Collections and Bulk API 2.0, with per-record outcomes and changeOrigin naming the client', async () => {
    const rows = Array.from({ length: 300 }, (_, i) => ({ key: `EXT-${i}`, name: `Upserted ${i}`, employees: i }));
    rows.push({ key: 'EXT-bad', name: 'Bad', employees: 1, nope: true } as never);
    const mapping =
      '$merge([{ "SLASerialNumber__c": payload.key, "Name": payload.name, "NumberOfEmployees": payload.employees }, payload.nope ? { "NoSuchField__c": 1 } : {}])';
    const sink = {
      type: 'salesforce-records',
      org: 'emu',
      object: 'Account',
      operation: 'upsert',
      externalIdField: 'SLASerialNumber__c',
      mapping,
      client: 'bridge-test',
    };
    const viaRest = await runFileRoute(rows, sink, { sinkOutage: { mode: 'dead-letter', after: 0 } });
    expect(viaRest.dead).toHaveLength(1);
    expect(viaRest.dead[0]?.error).toMatch(/INVALID_FIELD.*NoSuchField__c/);
    // Again, through Bulk: the same keys now update.
    const jobsBefore = t.emu.bulk.ingest.created;
    const updated = rows.slice(0, 300).map((r) => ({ ...r, name: `${r.name} v2` }));
    const viaBulk = await runFileRoute(updated, { ...sink, bulkAbove: 50 }, { maxInFlight: 500 });
    expect(viaBulk.dead).toEqual([]);
    expect(t.emu.bulk.ingest.created).toBeGreaterThan(jobsBefore);
    const tok = await t.token();
    const q = await t.http(
      'GET',
      `/services/data/v63.0/query?q=${encodeURIComponent("SELECT Id, Name, SLASerialNumber__c FROM Account WHERE Name LIKE 'Upserted%'")}`,
      { token: tok },
    );
    const names = new Map<string, string>(
      q.json.records.map((r: { SLASerialNumber__c: string; Name: string }) => [r.SLASerialNumber__c, r.Name]),
    );
    expect(names.size).toBe(300);
    expect(names.get('EXT-7')).toBe('Upserted 7 v2');
    const origins = (await t.published('/data/AccountChangeEvent')).slice(-600).map((e) => e.fields.ChangeEventHeader.changeOrigin);
    expect(new Set(origins)).toEqual(
      new Set(['com/salesforce/api/rest/63.0;client=bridge-test', 'com/salesforce/api/bulkapi/63.0;client=bridge-test']),
    );
  });

  it('reads the schema again when Salesforce adds a field, and publishes with it', async () => {
    const orgs = new OrgServices({ emu: orgSchema.parse(emulatorOrg(t)) }, captureLogger('error').log);
    const { log, capture } = captureLogger('info');
    const sink = new SalesforceSink(
      salesforceSinkConfigSchema.parse({
        type: 'salesforce',
        org: 'emu',
        topic: '/event/Order_Event__e',
        mapping: '{ "OrderNumber__c": payload.order, "Priority__c": payload.priority }',
      }),
      { route: 'r', log, sinkName: 'salesforce#0' },
      orgs,
    );
    try {
      await sink.open();
      const before = await sink.write([generic(1, { order: 'no-field-yet', priority: 'high' })]);
      expect(before[0]).toMatchObject({ status: 'rejected', error: expect.stringMatching(/field Priority__c is not on Order_Event__e/) });
      const oldSchema = sink.stats().schemaId;
      // Another event without the new field: published with the old schema, whose response names the new one.
      await t.admin('schema/change', { target: 'Order_Event__e', field: { name: 'Priority__c', type: 'string' } });
      expect((await sink.write([generic(2, { order: 'old-schema' })]))[0]?.status).toBe('delivered');
      expect(capture.text()).toMatch(/the event schema changed in Salesforce/);
      expect((await sink.write([generic(3, { order: 'with-field', priority: 'high' })]))[0]?.status).toBe('delivered');
      expect(sink.stats().schemaId).not.toBe(oldSchema);
      const last = (await t.published('/event/Order_Event__e')).at(-1);
      expect(last?.fields).toMatchObject({ OrderNumber__c: 'with-field', Priority__c: 'high' });
    } finally {
      await sink.close();
      orgs.close();
    }
  });

  it('check names what is wrong with a Salesforce sink', async () => {
    const { configSchema } = await import('../../src/registry.js');
    const config = configSchema.parse({
      orgs: { emu: emulatorOrg(t) },
      routes: [
        {
          name: 'x',
          source: { type: 'file', path: '/dev/null' },
          sinks: [
            { type: 'salesforce', org: 'nope', topic: '/event/A__e', mapping: '{ "a": ' },
            { type: 'salesforce-records', org: 'emu', object: 'Account', operation: 'upsert' },
          ],
        },
      ],
    });
    const { configProblems } = await import('../../src/config-file.js');
    const problems = configProblems(config);
    expect(problems.join('\n')).toMatch(/sinks\[0\]\.org: "nope" is not under orgs/);
    expect(problems.join('\n')).toMatch(/sinks\[0\]\.mapping: /);
    expect(problems.join('\n')).toMatch(/sinks\[1\]\.externalIdField: required for operation upsert/);
  });
});
