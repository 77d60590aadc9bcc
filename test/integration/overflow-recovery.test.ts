/**
 * `overflow: recover` (issue 18 item 4): a transaction too large for change events leaves only a
 * GAP_OVERFLOW event in the stream; the route follows it with the entity's records changed since
 * its last delivered change event (Bulk API export), then goes on streaming, within its credit.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBridge, readSink } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';

describe('overflow recovery', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  it('a GAP_OVERFLOW is followed by the records the big transaction changed, then the stream goes on', async () => {
    await t.admin('records/create', { object: 'Account', count: 1500 });
    const dir = tempDir();
    const out = join(dir, 'out');
    const a = makeBridge(t, dir, [
      {
        name: 'acc',
        source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent', initial: 'earliest' },
        overflow: 'recover',
        maxInFlight: 200,
        sinks: [{ type: 'file', dir: out }],
      },
    ]);
    await a.bridge.start();
    await until(() => readSink(out).length >= 1500, 30_000, 'the creates');
    const mass = await t.admin('records/mass-update', { object: 'Account', count: 1200, fields: { Rating: 'Hot' } });
    const after: string[] = (await t.admin('records/create', { object: 'Account', count: 5, fields: { Rating: 'Cold' } })).ids;
    await until(
      () => readSink(out).filter((e) => e.kind === 'cdc' && after.includes(e.changeHeader.recordIds[0])).length >= 5,
      30_000,
      'events after the overflow',
    );
    const st = a.bridge.status().routes[0];
    await a.bridge.stop();
    const got = readSink(out);
    const kinds = got.map((e) => e.kind);
    const o = kinds.indexOf('overflow');
    expect(o).toBeGreaterThan(0);
    const recovered = got.slice(o + 1).filter((e) => e.kind === 'snapshot');
    const hot = new Set(recovered.filter((e) => e.payload.Rating === 'Hot').map((e) => e.changeHeader.recordIds[0]));
    for (const id of mass.ids) expect(hot.has(id), id).toBe(true);
    // The recovered records come right after the overflow event, before what the stream sent next.
    expect(kinds.slice(o + 1, o + 1 + recovered.length).every((k) => k === 'snapshot')).toBe(true);
    expect(st?.maxInFlightSeen).toBeLessThanOrEqual(200);
    expect(st?.creditViolations).toBe(0);
    expect(st?.sourceStats).toMatchObject({ overflowsRecovered: 1 });
  });
});
