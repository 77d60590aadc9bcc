/**
 * Salesforce's documented and captured shapes (test/fixtures/salesforce, README there for the
 * sources) are the ground truth: the bridge's decoders must read each as documented, and the
 * emulator must produce the same shapes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_OBJECTS } from '../../src/emulator/objects.js';
import { cdcSchema, decodeFieldBitmap, encodeFieldBitmap, platformEventSchema, type SchemaEntry } from '../../src/emulator/schemas.js';
import { parseExact } from '../../src/subscribers/cometd/exact-json.js';
import { normaliseCometd } from '../../src/subscribers/cometd/normalise.js';
import { decodeBitmapFields, parseSchema } from '../../src/subscribers/pubsub/avro.js';
import { toEnvelope } from '../../src/subscribers/pubsub/decode.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';

const dir = join(import.meta.dirname, '../fixtures/salesforce');
const text = (name: string) => readFileSync(join(dir, name), 'utf8');
const json = (name: string) => JSON.parse(text(name));

function raw(payload: Buffer, schemaId: string) {
  const replay = Buffer.alloc(8);
  replay.writeBigUInt64BE(1048213n);
  return { event: { id: 'e-1', schema_id: schemaId, payload }, replay_id: replay };
}

/** The emulator's view of a fixture schema (field order, compound fields' own fields). */
function emulatorEntry(schema: { fields: Array<{ name: string; type: unknown }> }): SchemaEntry {
  const compound = new Map<string, string[]>();
  const records = new Map<string, string[]>();
  for (const f of schema.fields) {
    for (const t of Array.isArray(f.type) ? f.type : [f.type]) {
      const rec = t as { type?: string; name?: string; fields?: Array<{ name: string }> };
      if (rec?.type === 'record' && rec.fields)
        records.set(
          rec.name as string,
          rec.fields.map((x) => x.name),
        );
      const named = typeof t === 'string' ? records.get(t) : rec?.type === 'record' ? records.get(rec.name as string) : undefined;
      if (named && f.name !== 'ChangeEventHeader') compound.set(f.name, named);
    }
  }
  return { id: 'fixture', json: '', type: avro.Type.forSchema({ type: 'string' }), fieldNames: schema.fields.map((f) => f.name), compound };
}

describe('Salesforce fixtures', () => {
  it("bitmaps: Salesforce's documented changedFields decode to the schema's fields, and the emulator writes the same strings", () => {
    const f = json('pubsub-bitmaps.json');
    const schema = parseSchema('fixture', JSON.stringify(f.schema));
    expect(decodeBitmapFields(schema, f.changedFields)).toEqual(f.names);
    const entry = emulatorEntry(f.schema);
    expect(encodeFieldBitmap(entry, f.names)).toEqual(f.changedFields);
    expect(decodeFieldBitmap(entry, f.changedFields)).toEqual(f.names);
    // Whole bytes everywhere the emulator writes a bitmap (clients read two digits at a time).
    const account = cdcSchema(BUILTIN_OBJECTS.find((o) => o.name === 'Account') as (typeof BUILTIN_OBJECTS)[number]);
    for (const names of [['Name'], ['Phone', 'BillingAddress.City'], ['Description', 'ShippingAddress.Street']])
      for (const b of encodeFieldBitmap(account, names)) expect(b).toMatch(/^(\d+-)?0x([0-9A-F]{2})+$/);
  });

  it('platform event schema as GetSchema returns it (doc, uuid): decoded, and the emulator serves the same shape', () => {
    const schemaJson = text('platform-event-schema.json');
    const fixture = JSON.parse(schemaJson);
    const payload = avro.Type.forSchema(fixture, { wrapUnions: false }).toBuffer({
      CreatedDate: 1796400000000,
      CreatedById: '0055g00000ABCdeAAB',
      Carrier__c: 'DHL',
      Weight__c: 2.5,
    });
    const env = toEnvelope(raw(payload, fixture.uuid), parseSchema(fixture.uuid, schemaJson), '/event/Shipment_Event__e', '00D', 'now');
    expect(env).toMatchObject({ kind: 'platform', schemaId: fixture.uuid, eventTime: '2026-12-04T16:00:00.000Z' });
    expect(JSON.parse(JSON.stringify(env.payload))).toEqual({
      CreatedDate: 1796400000000,
      CreatedById: '0055g00000ABCdeAAB',
      Carrier__c: 'DHL',
      Weight__c: 2.5,
    });
    const served = JSON.parse(platformEventSchema({ name: 'Shipment_Event__e', fields: [{ name: 'Carrier__c', type: 'string' }] }).json);
    expect(served).toMatchObject({ type: 'record', namespace: 'com.sforce.eventbus', name: 'Shipment_Event__e' });
    for (const name of ['CreatedDate', 'CreatedById'])
      expect(served.fields.find((x: { name: string }) => x.name === name)).toEqual(
        fixture.fields.find((x: { name: string }) => x.name === name),
      );
    expect(served.uuid).toBe(platformEventSchema({ name: 'Shipment_Event__e', fields: [{ name: 'Carrier__c', type: 'string' }] }).id);
  });

  it('a change event whose compound Name is ["null","string",record] decodes either branch, and its bitmaps name the children', () => {
    const schemaJson = text('contact-change-event-schema.json');
    const type = avro.Type.forSchema(JSON.parse(schemaJson), { wrapUnions: false });
    const schema = parseSchema('contact', schemaJson);
    const header = (changedFields: string[]) => ({
      entityName: 'Contact',
      recordIds: ['0035g00000Qq1AbAAJ'],
      changeType: 'UPDATE',
      changeOrigin: 'com/salesforce/api/rest/63.0',
      transactionKey: 'k',
      sequenceNumber: 1,
      commitTimestamp: 1796400000000,
      commitNumber: 72657170033,
      commitUser: '0055g00000ABCdeAAB',
      nulledFields: [],
      diffFields: [],
      changedFields,
    });
    const asRecord = type.toBuffer({
      ChangeEventHeader: header(['0x14', '1-0x06']),
      Name: { Salutation: null, FirstName: 'Ada', LastName: 'Lovelace' },
      Email: 'ada@example.org',
      MailingAddress: null,
      LastModifiedDate: 1796400000000,
    });
    const a = toEnvelope(raw(asRecord, 'contact'), schema, '/data/ContactChangeEvent', '00D', 'now');
    expect(a.changeHeader).toMatchObject({
      changedFields: ['Email', 'LastModifiedDate', 'Name.FirstName', 'Name.LastName'],
      commitNumber: '72657170033',
    });
    expect(JSON.parse(JSON.stringify(a.payload))).toMatchObject({
      Name: { FirstName: 'Ada', LastName: 'Lovelace' },
      Email: 'ada@example.org',
    });
    const asString = type.toBuffer({
      ChangeEventHeader: header(['0x02']),
      Name: 'Ada Lovelace',
      Email: null,
      MailingAddress: null,
      LastModifiedDate: null,
    });
    const b = toEnvelope(raw(asString, 'contact'), schema, '/data/ContactChangeEvent', '00D', 'now');
    expect(b.changeHeader?.changedFields).toEqual(['Name']);
    expect(JSON.parse(JSON.stringify(b.payload))).toMatchObject({ Name: 'Ada Lovelace' });
  });

  describe('CometD change event', () => {
    let t: TestEmulator;
    beforeAll(async () => {
      t = await startEmulator();
    });
    afterAll(async () => t?.stop());

    it('is normalised as documented (names, exact commitNumber), and the emulator sends the same shape', async () => {
      const msg = parseExact(text('cometd-change-event.json')) as { channel: string; data: Record<string, unknown> };
      const env = normaliseCometd(msg.channel, msg.data, '00D', 'now');
      expect(env).toMatchObject({
        kind: 'cdc',
        replayId: '1048213',
        schemaId: 'Tq6Rk1ZYTcSkDr6GuYnFRw',
        changeHeader: {
          entity: 'Account',
          changeType: 'UPDATE',
          changedFields: ['Phone', 'BillingAddress.City', 'LastModifiedDate'],
          commitNumber: '1725346778429841409',
        },
      });

      // The emulator over the wire: handshake, subscribe from -2, one connect.
      const ids: string[] = (await t.admin('records/create', { object: 'Account', count: 1 })).ids;
      const token = await t.token();
      const r = await t.http('PATCH', `/services/data/v63.0/sobjects/Account/${ids[0]}`, {
        token,
        body: { Phone: '+44 20 7946 0000', BillingCity: 'Leeds' },
      });
      expect(r.status).toBe(204);
      const bayeux = async (m: Record<string, unknown>) =>
        (await t.http('POST', '/cometd/63.0', { token, body: [m] })).json as Array<Record<string, unknown>>;
      const [hs] = await bayeux({ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] });
      const clientId = hs?.clientId;
      await bayeux({ channel: '/meta/subscribe', clientId, subscription: msg.channel, ext: { replay: { [msg.channel]: -2 } } });
      const got = await bayeux({ channel: '/meta/connect', clientId, connectionType: 'long-polling' });
      const update = got.find(
        (m) => m.channel === msg.channel && ((m.data as any)?.payload?.ChangeEventHeader?.changeType as string) === 'UPDATE',
      ) as { channel: string; data: any };
      expect(Object.keys(update.data).sort()).toEqual(Object.keys(msg.data).sort());
      expect(Object.keys(update.data.event)).toEqual(Object.keys((msg.data as any).event));
      expect(Object.keys(update.data.payload.ChangeEventHeader).sort()).toEqual(
        Object.keys((msg.data as any).payload.ChangeEventHeader).sort(),
      );
      expect(update.data.payload.ChangeEventHeader.changedFields).toEqual(expect.arrayContaining(['Phone', 'BillingAddress.City']));
      expect(update.data.payload.BillingAddress).toEqual({ City: 'Leeds' });
      expect(normaliseCometd(update.channel, update.data, '00D', 'now').kind).toBe('cdc');
    });
  });
});
