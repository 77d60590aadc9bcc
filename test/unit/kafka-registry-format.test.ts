/** The Kafka sink's registry formats without a registry: the Avro and JSON Schema envelopes, field differences, config checks. */
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { ExactLong } from '../../src/avro-long.js';
import type { Envelope } from '../../src/envelope.js';
import { avroEnvelopeType, payloadRecordOf } from '../../src/sinks/kafka/avro-envelope.js';
import { kafkaSinkConfigSchema } from '../../src/sinks/kafka/config.js';
import { envelopeJsonSchema } from '../../src/sinks/kafka/json-schema-envelope.js';
import { kafkaSinkProblems } from '../../src/sinks/kafka/kafka-sink.js';
import { fieldDifferences } from '../../src/sinks/kafka/schema-diff.js';

const address = {
  type: 'record',
  name: 'Address',
  fields: ['Street', 'City'].map((name) => ({ name, type: ['null', 'string'], default: null })),
};
// Shaped like Salesforce's change event schemas: header first, every field a union with null,
// a compound type defined once and referred to by name after.
const salesforce = {
  type: 'record',
  name: 'AccountChangeEvent',
  namespace: 'com.sforce.eventbus',
  fields: [
    { name: 'ChangeEventHeader', type: { type: 'record', name: 'ChangeEventHeader', fields: [{ name: 'entityName', type: 'string' }] } },
    { name: 'Name', type: ['null', 'string'], default: null },
    { name: 'AnnualRevenue', type: ['null', 'double'], default: null },
    { name: 'BigNumber__c', type: ['null', 'long'], default: null },
    { name: 'BillingAddress', type: ['null', address], default: null },
    { name: 'ShippingAddress', type: ['null', 'Address'], default: null },
  ],
};

function envelope(over: Partial<Envelope>): Envelope {
  return {
    v: 1,
    org: '00D000000000001AAA',
    channel: '/data/AccountChangeEvent',
    replayId: 'AAAAAAAAMDk=',
    eventId: 'e-1',
    schemaId: 'S1',
    eventTime: '2026-12-06T00:00:00.000Z',
    receivedAt: '2026-12-06T00:00:00.100Z',
    kind: 'cdc',
    changeHeader: {
      entity: 'Account',
      recordIds: ['001000000000001AAA'],
      changeType: 'UPDATE',
      changeOrigin: '',
      transactionKey: 't',
      sequenceNumber: 1,
      commitTimestamp: 1796515200000,
      commitNumber: '1725346778429841409',
      commitUser: '005000000000001AAA',
      changedFields: ['Name', 'BillingAddress.City'],
      nulledFields: [],
      diffFields: [],
    },
    payload: { Name: 'Acme', BillingAddress: { City: 'Lyon' }, BigNumber__c: '9007199254740993' },
    ...over,
  };
}

describe('Avro envelope', () => {
  const t = avroEnvelopeType('AccountChangeEvent', payloadRecordOf(salesforce));
  // A reader that keeps longs past 2^53 exact, as the bridge's own does.
  const reader = avro.Type.forSchema(JSON.parse(t.schemaText), {
    wrapUnions: false,
    registry: { long: ExactLong as unknown as avro.Type },
  });

  it("types the payload with Salesforce's record: absent fields null, compound fields nested, big longs exact", () => {
    const { bytes, typedMiss } = t.encode(envelope({}));
    expect(typedMiss).toBeUndefined();
    expect(t.fullName).toBe('sfbridge.envelope.AccountChangeEvent');
    const back = reader.fromBuffer(bytes) as Record<string, any>;
    expect(back.payload).toEqual({
      Name: 'Acme',
      AnnualRevenue: null,
      BigNumber__c: '9007199254740993',
      BillingAddress: { Street: null, City: 'Lyon' },
      ShippingAddress: null,
    });
    expect(back.changeHeader.commitNumber).toBe('1725346778429841409');
    expect(back).toMatchObject({ v: 1, kind: 'cdc', eventId: 'e-1', schemaId: 'S1', enriched: null });
    expect(
      JSON.parse(t.schemaText)
        .fields.find((f: any) => f.name === 'payload')
        .type[1].fields.map((f: any) => f.name),
    ).not.toContain('ChangeEventHeader');
  });

  it('writes payloads no Salesforce schema describes as JSON text in the string branch, saying why', () => {
    const shaped = t.encode(envelope({ payload: { Name: 'Acme', Extra: 1 } }));
    expect(shaped.typedMiss).toBe('field Extra is not in com.sforce.eventbus.AccountChangeEvent');
    expect(JSON.parse((reader.fromBuffer(shaped.bytes) as any).payload)).toEqual({ Name: 'Acme', Extra: 1 });
    const wrongType = t.encode(envelope({ payload: { AnnualRevenue: 'lots' } }));
    expect(wrongType.typedMiss).toMatch(/^field AnnualRevenue cannot hold "lots"/);
    const marker = t.encode(
      envelope({ kind: 'replay-gap', replayId: '', changeHeader: undefined, payload: { policy: 'earliest', reason: 'expired' } }),
    );
    expect(marker.typedMiss).toBeUndefined();
    const m = reader.fromBuffer(marker.bytes) as any;
    expect(m.changeHeader).toBeNull();
    expect(JSON.parse(m.payload)).toEqual({ policy: 'earliest', reason: 'expired' });
  });

  it('has only a string branch for channels without a schema', () => {
    const u = avroEnvelopeType('Envelope', null);
    const r = avro.Type.forSchema(JSON.parse(u.schemaText), { wrapUnions: false });
    expect((r.fromBuffer(u.encode(envelope({ kind: 'generic', payload: 'text' })).bytes) as any).payload).toBe('"text"');
  });
});

describe('JSON Schema envelope', () => {
  it('types the payload from the Avro record, named types resolved, longs as integer or decimal string', () => {
    const s = envelopeJsonSchema('AccountChangeEvent', payloadRecordOf(salesforce)) as any;
    expect(s.title).toBe('sfbridge.envelope.AccountChangeEvent');
    const p = s.properties.payload;
    expect(p.type).toEqual(['object', 'string', 'null']);
    expect(p.properties.Name).toEqual({ type: ['null', 'string'] });
    expect(p.properties.BigNumber__c).toEqual({ type: ['null', 'integer', 'string'] });
    expect(p.properties.ShippingAddress.anyOf[1].properties.City).toEqual({ type: ['null', 'string'] });
    expect(p.properties).not.toHaveProperty('ChangeEventHeader');
  });
});

describe('field differences named on a refusal', () => {
  it('names added, removed and retyped payload fields, ignoring how names are qualified', () => {
    const ours = avroEnvelopeType('AccountChangeEvent', payloadRecordOf(salesforce)).schemaText;
    const theirsRecord = payloadRecordOf(salesforce);
    theirsRecord.fields = theirsRecord.fields
      .filter((f) => f.name !== 'AnnualRevenue')
      .map((f) =>
        f.name === 'Name'
          ? { ...f, type: ['null', 'int'] }
          : f.name === 'ShippingAddress'
            ? { ...f, type: ['null', 'com.sforce.eventbus.Address'] }
            : f,
      );
    theirsRecord.fields.push({ name: 'Old__c', type: ['null', 'string'] });
    const theirs = avroEnvelopeType('AccountChangeEvent', theirsRecord).schemaText;
    expect(fieldDifferences(theirs, ours)).toEqual([
      'Name (null|int in the registry, null|string here)',
      'AnnualRevenue (added)',
      'Old__c (removed)',
    ]);
  });
});

describe('Kafka sink registry settings', () => {
  const ctx = { route: { key: 'r', sinks: 1 }, config: { replayStore: { type: 'file' } } } as any;
  it('names what is missing or does not go together', () => {
    const p = (o: Record<string, unknown>) =>
      kafkaSinkProblems(kafkaSinkConfigSchema.parse({ type: 'kafka', brokers: ['b:9092'], ...o }), ctx);
    expect(p({ format: 'avro' })).toContain('format: avro needs schemaRegistry.url (the Confluent-compatible registry the schemas go to)');
    expect(p({ keyFormat: 'avro' })).toContain('keyFormat: avro needs schemaRegistry.url');
    expect(p({ schemaRegistry: { url: 'http://r:8081' } })).toContain(
      'schemaRegistry: is used only with format avro or json-schema (format is json)',
    );
    expect(p({ format: 'avro', schemaRegistry: { url: 'http://r:8081' }, cloudEvents: true })[0]).toMatch(/^cloudEvents: /);
    expect(p({ format: 'json-schema', schemaRegistry: { url: 'http://u:p@r:8081' } })).toEqual([]);
    expect(() => kafkaSinkConfigSchema.parse({ type: 'kafka', brokers: ['b:9092'], schemaRegistry: { url: 'r:8081' } })).toThrow(
      /must be an http:\/\/ or https:\/\/ URL/,
    );
  });
});
