/**
 * `fullRecord: true` (issue 29 item 3): UPDATE change events reach the sinks with the record's
 * current fields, fetched through the Composite sObject Collections API, ids batched across a
 * burst (1,000 updates -> ceil(1000/200) calls); under the API reserve they go on unenriched.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBridge, readSink } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';

const CHANNEL = '/data/AccountChangeEvent';

describe('full records on update', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  function route(out: string, extra: Record<string, unknown> = {}) {
    return [
      {
        name: 'full',
        source: { type: 'pubsub', org: 'emu', topic: CHANNEL, initial: 'latest' },
        sinks: [{ type: 'file', dir: out }],
        ...extra,
      },
    ];
  }

  /** 1,000 Accounts bridged by a first run, then updated while no bridge runs: a retained burst of 1,000 UPDATEs. */
  async function burstOfUpdates(dir: string, out: string, n: number): Promise<string[]> {
    const a = makeBridge(t, dir, route(out));
    await a.bridge.start();
    await t.subscribed(CHANNEL);
    const ids: string[] = (await t.admin('records/create', { object: 'Account', count: n, fields: { Industry: 'Before', Phone: '555' } }))
      .ids;
    await until(() => (a.bridge.status().routes[0]?.eventsCommitted ?? 0) >= n, 30_000, 'first run committed');
    await a.bridge.stop();
    const token = await t.token();
    for (const id of ids) {
      const r = await t.http('PATCH', `/services/data/v63.0/sobjects/Account/${id}`, { token, body: { Industry: `After ${id}` } });
      expect(r.status).toBe(204);
    }
    return ids;
  }

  it('1,000 updates in a burst carry every field, fetched in ceil(1000/200) Composite calls', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const ids = await burstOfUpdates(dir, out, 1000);
    const calls = t.emu.org.usage.compositeGets;
    const b = makeBridge(t, dir, route(out, { fullRecord: true }));
    await b.bridge.start();
    await until(() => readSink(out).filter((e) => e.changeHeader.changeType === 'UPDATE').length >= 1000, 30_000, '1,000 updates');
    const st = b.bridge.status().routes[0];
    await b.bridge.stop();
    const updates = readSink(out).filter((e) => e.changeHeader.changeType === 'UPDATE');
    expect(updates).toHaveLength(1000);
    expect(t.emu.org.usage.compositeGets - calls).toBe(Math.ceil(1000 / 200));
    expect(st?.sourceStats).toMatchObject({ fullRecords: 1000, fullRecordsNotFetched: 0, fullRecordCalls: 5 });
    const first = updates.find((e) => e.changeHeader.recordIds[0] === ids[0]);
    // Fields that did not change are there too, as of the fetch.
    expect(first).toMatchObject({ enriched: true, payload: { Id: ids[0], Industry: `After ${ids[0]}`, Phone: '555' } });
    expect(first?.changeHeader.changedFields).toContain('Industry');
    expect(Date.parse(first?.enrichedAt)).toBeGreaterThan(0);
    // Creates are untouched.
    expect(readSink(out).filter((e) => e.changeHeader.changeType === 'CREATE' && e.enriched)).toHaveLength(0);
  });

  it('listed fields only; under the API reserve the updates go on unenriched with the reason', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const ids = await burstOfUpdates(dir, out, 10);
    const b = makeBridge(t, dir, route(out, { fullRecord: { fields: ['Phone'] } }));
    await b.bridge.start();
    await until(() => readSink(out).filter((e) => e.changeHeader.changeType === 'UPDATE').length >= 10, 30_000, '10 updates');
    expect(readSink(out).find((e) => e.changeHeader.recordIds[0] === ids[0] && e.changeHeader.changeType === 'UPDATE')?.payload).toEqual({
      Id: ids[0],
      Phone: '555',
    });
    // The org's daily API requests nearly spent: 95% used leaves less than the default 10% reserve.
    t.emu.org.usage.apiRequests = Math.round(t.emu.org.limitMax.DailyApiRequests * 0.95);
    const token = await t.token();
    const updates = () => readSink(out).filter((e) => e.changeHeader.changeType === 'UPDATE').length;
    await t.http('PATCH', `/services/data/v63.0/sobjects/Account/${ids[1]}`, { token, body: { Industry: 'Late' } });
    await until(() => updates() >= 11, 30_000, 'one more update');
    await t.http('PATCH', `/services/data/v63.0/sobjects/Account/${ids[2]}`, { token, body: { Industry: 'Later' } });
    await until(() => updates() >= 12, 30_000, 'another update');
    const st = b.bridge.status().routes[0];
    await b.bridge.stop();
    t.emu.org.usage.apiRequests = 0;
    const late = readSink(out)
      .filter((e) => e.changeHeader.changeType === 'UPDATE')
      .slice(10);
    // The first is fetched (the client learns the usage from that response), the next is refused by the reserve.
    expect(late[0]).toMatchObject({ enriched: true, payload: { Phone: '555' } });
    const refused = late.filter((e) => e.enrichError);
    expect(refused).toHaveLength(1);
    expect(refused.at(-1)?.enrichError).toMatch(/DailyApiRequests is down to \d+ of \d+, under the 10% reserve/);
    expect(refused.at(-1)?.payload.Industry).toBe('Later');
    expect(st?.sourceStats.fullRecordsNotFetched).toBe(refused.length);
  });
});
