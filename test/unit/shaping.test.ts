/** Shaping rules (src/shaping/): filters, markers, field selection, masks, transforms. No services. */
import { describe, expect, it } from 'vitest';
import { FILTER_KINDS } from '../../src/config/schema.js';
import { type Envelope, EVENT_KINDS, JsonPayload } from '../../src/envelope.js';
import { expressionProblem } from '../../src/shaping/expression.js';
import { MASK } from '../../src/shaping/fields.js';
import { Shape } from '../../src/shaping/shape.js';

function cdc(changeType: string, payload: unknown, changed: string[] = [], entity = 'Account'): Envelope {
  return {
    v: 1,
    org: 'o',
    channel: `/data/${entity}ChangeEvent`,
    replayId: 'r',
    eventId: `e-${changeType}`,
    schemaId: 's',
    eventTime: null,
    receivedAt: '2026-01-01T00:00:00.000Z',
    kind: changeType.startsWith('GAP_') ? (changeType === 'GAP_OVERFLOW' ? 'overflow' : 'gap') : 'cdc',
    changeHeader: {
      entity,
      recordIds: ['001'],
      changeType,
      changeOrigin: '',
      transactionKey: '',
      sequenceNumber: 1,
      commitTimestamp: 0,
      commitUser: '',
      changedFields: changed,
      nulledFields: [],
      diffFields: [],
    },
    payload,
  };
}
const marker: Envelope = { ...cdc('CREATE', { storedReplayId: null }), kind: 'replay-gap', changeHeader: undefined };
const standIn: Envelope = { ...cdc('CREATE', { decodeError: 'bad', rawPayloadBase64: '' }), changeHeader: undefined };

async function run(config: object, events: Envelope[]) {
  const shape = Shape.of([{ at: 'the route', config }]);
  if (!shape) throw new Error('no shape');
  return shape.apply(events);
}

describe('shaping', () => {
  it('filter kinds are the envelope kinds plus undecodable', () => {
    expect([...FILTER_KINDS].sort()).toEqual([...EVENT_KINDS, 'undecodable'].sort());
  });

  it('structured conditions must all hold; changedFieldsAny covers compound parts', async () => {
    const events = [
      cdc('UPDATE', { Industry: 'x' }, ['Industry']),
      cdc('UPDATE', { Name: { FirstName: 'a' } }, ['Name.FirstName']),
      cdc('CREATE', { Industry: 'x' }),
      cdc('UPDATE', { Industry: 'x' }, ['Industry'], 'Contact'),
    ];
    const r = await run({ filter: { changeTypes: ['UPDATE'], changedFieldsAny: ['Industry', 'Name'], entities: ['Account'] } }, events);
    expect(r.out.map((e) => e.changeHeader?.changedFields[0])).toEqual(['Industry', 'Name.FirstName']);
    expect(r.filtered).toBe(2);
  });

  it('notFromClient drops the change events a named API client caused, and only those', async () => {
    const origin = (o: string) => {
      const e = cdc('UPDATE', {}, ['Name']);
      return { ...e, eventId: o, changeHeader: { ...(e.changeHeader as NonNullable<Envelope['changeHeader']>), changeOrigin: o } };
    };
    const events = [
      origin('com/salesforce/api/rest/63.0;client=sfbridge'),
      origin('com/salesforce/api/bulkapi/63.0;client=sfbridge'),
      origin('com/salesforce/api/rest/63.0;client=sfbridge-other'),
      origin('com/salesforce/api/soap/63.0'),
      origin(''),
    ];
    const r = await run({ filter: { notFromClient: 'sfbridge' } }, events);
    expect(r.out.map((e) => e.eventId)).toEqual(['com/salesforce/api/rest/63.0;client=sfbridge-other', 'com/salesforce/api/soap/63.0', '']);
    expect(r.filtered).toBe(2);
  });

  it('markers pass a filter unless it names their kind', async () => {
    const gap = cdc('GAP_UPDATE', null);
    const events = [marker, standIn, gap, cdc('CREATE', {})];
    const passing = await run({ filter: { changeTypes: ['UPDATE'] } }, events);
    expect(passing.out).toEqual([marker, standIn, gap]);
    // Named, a marker meets the whole filter: this gap event is a GAP_UPDATE, the filter wants GAP_CREATE.
    expect((await run({ filter: { kinds: ['gap', 'cdc'], changeTypes: ['GAP_CREATE', 'CREATE'] } }, events)).out).toEqual([
      marker,
      standIn,
      events[3],
    ]);
    // Any GAP_* type but GAP_OVERFLOW names gap events.
    expect((await run({ filter: { changeTypes: ['CREATE', 'GAP_CREATE'] } }, events)).out).toEqual([marker, standIn, events[3]]);
    expect((await run({ filter: { changeTypes: ['CREATE', 'GAP_OVERFLOW'] } }, events)).out).toEqual([marker, standIn, gap, events[3]]);
    // A stand-in is named as `undecodable`, not by its channel's kind.
    expect((await run({ filter: { kinds: ['replay-gap', 'gap', 'cdc'] } }, events)).out).toEqual([marker, standIn, gap, events[3]]);
    expect((await run({ filter: { kinds: ['cdc', 'undecodable'], changeTypes: ['CREATE'] } }, events)).out).toEqual([
      marker,
      gap,
      events[3],
    ]);
  });

  it('include, exclude and mask reach into compound fields and never change the original', async () => {
    const payload = { Name: { FirstName: 'Ada', LastName: 'L' }, Industry: 'Energy', Phone: '555', Fax: null };
    const e = cdc('CREATE', payload);
    const inc = await run({ fields: { include: ['Name.LastName', 'Industry', 'Missing'] } }, [e]);
    expect(inc.out[0]?.payload).toEqual({ Name: { LastName: 'L' }, Industry: 'Energy' });
    const exc = await run({ fields: { exclude: ['Name.FirstName', 'Phone'] }, mask: ['Industry', 'Fax'] }, [e]);
    expect(exc.out[0]?.payload).toEqual({ Name: { LastName: 'L' }, Industry: MASK, Fax: null });
    expect(e.payload).toEqual({ Name: { FirstName: 'Ada', LastName: 'L' }, Industry: 'Energy', Phone: '555', Fax: null });
    // Markers keep their payload.
    expect((await run({ fields: { include: ['X'] } }, [marker])).out[0]).toBe(marker);
  });

  it('reads a JSON payload (the Pub/Sub form) like a value', async () => {
    const line = Buffer.from('{"payload":{"Industry":"Energy","Name":"n"}}');
    const e = cdc('CREATE', null);
    const p = new JsonPayload();
    const withJson = p.bind({ ...e, payload: p }, line, line.indexOf('{', 1));
    const r = await run({ fields: { include: ['Industry'] }, transform: '{ "i": payload.Industry, "id": eventId }' }, [withJson]);
    expect(r.out[0]?.payload).toEqual({ i: 'Energy', id: 'e-CREATE' });
    expect(r.out[0]?.eventId).toBe('e-CREATE');
  });

  it('an expression filter uses JSONata truthiness; a throwing expression is a per-event failure', async () => {
    const events = [cdc('CREATE', { Industry: 'Energy' }), cdc('CREATE', { Industry: 'Retail' }), cdc('CREATE', { Industry: 3 })];
    const r = await run({ filter: { expression: 'payload.Industry = "Energy" or $number(payload.Industry) > 2' } }, events);
    expect(r.out.map((e) => (e.payload as { Industry: unknown }).Industry)).toEqual(['Energy', 3]);
    const t = await run({ transform: 'payload.Industry = 3 ? $error("three") : payload' }, events);
    expect(t.out).toHaveLength(2);
    expect(t.failed).toHaveLength(1);
    expect(t.failed[0]?.error).toMatch(/^the route transform failed on event e-CREATE: three/);
    expect(t.failed[0]?.event).toBe(events[2]);
  });

  it('nothing to shape is no Shape; a bad expression is refused with where it breaks', () => {
    expect(Shape.of([{ at: 'the route', config: {} }])).toBeNull();
    expect(expressionProblem('payload.(')).toMatch(/at character 9/);
    expect(expressionProblem('payload.Industry')).toBeNull();
  });

  it('a route without expressions shapes synchronously', () => {
    const shape = Shape.of([{ at: 'the route', config: { filter: { changeTypes: ['CREATE'] } } }]);
    expect(shape?.apply([cdc('CREATE', {})])).not.toBeInstanceOf(Promise);
  });
});
