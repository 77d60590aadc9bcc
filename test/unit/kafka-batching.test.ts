import { describe, expect, it } from 'vitest';
import { BATCH_OVERHEAD, type Outgoing, pack, recordBytes, tooLarge } from '../../src/sinks/kafka/batching.js';
import { toRecord } from '../../src/sinks/kafka/record.js';
import { event } from '../helpers/fakes.js';

const rec = (index: number, bytes: number, topic = 't'): Outgoing => ({
  index,
  topic,
  bytes,
  message: { topic, value: Buffer.from('x'), headers: new Map() },
});

describe('kafka batching', () => {
  it('packs records in order into requests that stay under the topic limit', () => {
    const records = Array.from({ length: 10 }, (_, i) => rec(i, 300));
    const chunks = pack(records, () => 1000 + BATCH_OVERHEAD);
    expect(chunks.map((c) => c.map((r) => r.index))).toEqual([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]);
    for (const c of chunks) expect(c.reduce((n, r) => n + r.bytes, 0)).toBeLessThanOrEqual(1000);
  });

  it('uses the smallest limit of the topics in one request, and a count cap', () => {
    const limits: Record<string, number> = { big: 10_000 + BATCH_OVERHEAD, small: 500 + BATCH_OVERHEAD };
    const chunks = pack([rec(0, 400, 'big'), rec(1, 400, 'small'), rec(2, 400, 'big')], (t) => limits[t] as number);
    expect(chunks.map((c) => c.map((r) => r.index))).toEqual([[0], [1], [2]]);
    expect(pack([rec(0, 1), rec(1, 1), rec(2, 1)], () => 1e9, 2).map((c) => c.length)).toEqual([2, 1]);
  });

  it('a record larger than its topic allows is told apart; sizes count key, value and headers', () => {
    expect(tooLarge(rec(0, 2000), () => 1000 + BATCH_OVERHEAD)).toBe(true);
    expect(tooLarge(rec(0, 1000), () => 1000 + BATCH_OVERHEAD)).toBe(false);
    const bytes = recordBytes({
      topic: 't',
      key: Buffer.from('k'),
      value: Buffer.from('é'.repeat(10)),
      headers: new Map([[Buffer.from('h'), Buffer.from('v')]]),
    });
    expect(bytes).toBeGreaterThan(1 + 20 + 2);
  });

  it('an envelope becomes a record of bytes: JSON value, record-id key, headers as documented', () => {
    const changeHeader = {
      entity: 'Account',
      recordIds: ['001000000000001AAA'],
      changeType: 'UPDATE',
      changeOrigin: '',
      transactionKey: 't',
      sequenceNumber: 1,
      commitTimestamp: 1_700_000_000_000,
      commitUser: '005000000000001AAA',
      changedFields: ['Name'],
      nulledFields: [],
      diffFields: [],
    };
    const e = { ...event(7), kind: 'cdc' as const, changeHeader, payload: { Name: 'Ünïcode ✓' } };
    const r = toRecord(e, 't', 'auto', true);
    expect(r.value.toString('utf8')).toBe(JSON.stringify(e));
    expect(r.key?.toString('utf8')).toBe(e.changeHeader?.recordIds[0]);
    const headers = Object.fromEntries([...r.headers].map(([k, v]) => [k.toString('utf8'), v.toString('utf8')]));
    expect(headers).toMatchObject({
      'replay-id': e.replayId,
      channel: e.channel,
      'event-id': e.eventId,
      kind: e.kind,
      ce_id: e.eventId,
      ce_specversion: '1.0',
    });
    expect(headers['change-type']).toBe(e.changeHeader?.changeType);
    // Shared header bytes are the same for every event of a channel; per-event ones are not.
    const r2 = toRecord(event(8), 't', 'none', false);
    const find = (m: Map<Buffer, Buffer>, name: string) => [...m].find(([k]) => k.toString() === name)?.[1];
    expect(find(r2.headers, 'channel')).toBe(find(r.headers, 'channel'));
    expect(find(r2.headers, 'event-id')?.toString()).toBe(event(8).eventId);
    expect(r2.key).toBeUndefined();
    expect(recordBytes(r)).toBeGreaterThan(r.value.length + (r.key?.length ?? 0));
  });
});
