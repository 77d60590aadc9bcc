/** The PostgreSQL mirror's planning (no database): change events to row changes, folded per row; values checked against columns. */
import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/envelope.js';
import { flatFieldName, flatten, toPg } from '../../src/sinks/postgres/columns.js';
import { fold, type NetRow, planEvent } from '../../src/sinks/postgres/mirror-plan.js';

function cdc(changeType: string, payload: unknown, extra: Partial<Envelope> = {}, nulled: string[] = []): Envelope {
  return {
    v: 1,
    org: 'o',
    channel: '/data/AccountChangeEvent',
    replayId: 'r',
    eventId: 'e',
    schemaId: null,
    eventTime: null,
    receivedAt: '',
    kind: changeType.startsWith('GAP_') ? 'gap' : 'cdc',
    changeHeader: {
      entity: 'Account',
      recordIds: ['001A'],
      changeType,
      changeOrigin: '',
      transactionKey: '',
      sequenceNumber: 1,
      commitTimestamp: 1000,
      commitNumber: '5',
      commitUser: '',
      changedFields: [],
      nulledFields: nulled,
      diffFields: [],
    },
    payload,
    ...extra,
  };
}

describe('postgres mirror plan', () => {
  it('flattens compound fields the way Salesforce names their parts', () => {
    const f = flatten({
      Name: { FirstName: 'Ada', LastName: 'L' },
      BillingAddress: { City: 'Paris' },
      Address: { Street: 's' },
      Loc__c: { Latitude: 1 },
      Industry: 'x',
      Notes__c: { diff: '@@' },
    });
    expect(Object.fromEntries(f.fields)).toEqual({
      FirstName: 'Ada',
      LastName: 'L',
      BillingCity: 'Paris',
      Street: 's',
      Loc__Latitude__s: 1,
      Industry: 'x',
    });
    expect(f.diffs).toEqual(['Notes__c']);
    expect(flatFieldName('BillingAddress.City')).toBe('BillingCity');
    expect(flatFieldName('Name.LastName')).toBe('LastName');
  });

  it('an UPDATE sets its fields and nulls its nulled fields; CREATE is a full record; DELETE removes', () => {
    const u = planEvent(cdc('UPDATE', { Industry: 'x' }, {}, ['Phone', 'BillingAddress.City']));
    expect('rows' in u && u.rows.get('001A')).toMatchObject({ op: 'upsert', full: false });
    if ('rows' in u)
      expect(Object.fromEntries((u.rows.get('001A') as { fields: Map<string, unknown> }).fields)).toEqual({
        Industry: 'x',
        Phone: null,
        BillingCity: null,
      });
    expect('rows' in planEvent(cdc('CREATE', { Name: 'n' })) && planEvent(cdc('CREATE', { Name: 'n' }))).toMatchObject({
      version: { ts: 1000, cn: '5', seq: 1 },
    });
    const d = planEvent(cdc('DELETE', null));
    expect('rows' in d && d.rows.get('001A')).toEqual({ op: 'delete' });
    const gap = planEvent(cdc('GAP_UPDATE', null));
    expect('rows' in gap && gap.rows.get('001A')).toEqual({ op: 'stale' });
    expect(planEvent({ ...cdc('CREATE', {}), kind: 'platform', changeHeader: undefined })).toHaveProperty('reject');
  });

  it('folds a row over a batch: fields merge, a delete then a create resets, stale marks stay until a full record', () => {
    const v = { ts: 1, cn: '0', seq: 0 };
    const up = (fields: Record<string, unknown>, full = false) => ({
      op: 'upsert' as const,
      fields: new Map(Object.entries(fields)),
      full,
      stale: false,
    });
    let n: NetRow = fold(undefined, 'a', v, up({ A: 1, B: 2 }));
    n = fold(n, 'a', { ...v, ts: 2 }, up({ B: 3 }));
    expect(Object.fromEntries(n.fields)).toEqual({ A: 1, B: 3 });
    expect(n.version.ts).toBe(2);
    n = fold(n, 'a', v, { op: 'delete' });
    expect(n.op).toBe('delete');
    n = fold(n, 'a', v, up({ C: 1 }, true));
    expect(n).toMatchObject({ op: 'upsert', reset: true, full: true });
    let s = fold(undefined, 'b', v, { op: 'stale' });
    s = fold(s, 'b', v, up({ A: 1 }));
    expect(s).toMatchObject({ op: 'upsert', stale: true });
    s = fold(s, 'b', v, up({ A: 2 }, true));
    expect(s.stale).toBe(false);
  });

  it('checks values against their column types, never truncating', () => {
    expect(toPg('12.5', 'numeric')).toBe('12.5');
    expect(() => toPg('many', 'numeric')).toThrow(/"many" is not a number/);
    expect(() => toPg('1.5', 'bigint')).toThrow(/not a whole number/);
    expect(toPg(1764950400000, 'timestamptz')).toBe('2025-12-05T16:00:00.000Z');
    expect(toPg('2026-11-29T10:00:00.000+0000', 'timestamptz')).toBe('2026-11-29T10:00:00.000Z');
    expect(toPg(20000, 'date')).toBe('2024-10-04');
    expect(toPg('true', 'boolean')).toBe(true);
    expect(() => toPg('yes', 'boolean')).toThrow(/not a boolean/);
    expect(toPg({ a: 1 }, 'text')).toBe('{"a":1}');
  });
});
