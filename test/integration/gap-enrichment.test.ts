/**
 * `gaps: enrich` (issue 18 item 3): GAP_* change events reach the sinks with the records' current
 * fields, fetched through the Composite sObject Collections API with at most 200 ids per call
 * (N gap events -> ceil(N/200) calls), records deleted meanwhile marked as such, stream order kept.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBridge, readSink } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';

describe('gap enrichment', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  it('N gap events become enriched envelopes in ceil(N/200) composite calls; deleted records are marked', async () => {
    const tok = await t.token();
    const ids: string[] = [];
    for (let i = 0; i < 210; i++) {
      const r = await t.http('POST', '/services/data/v63.0/sobjects/Account', {
        token: tok,
        body: { Name: `Gap ${i}`, Industry: 'Energy' },
      });
      ids.push(r.json.id);
    }
    const before = t.emu.org.usage.compositeGets;
    // Retained before the bridge starts, so they arrive as a burst (several batches of up to 100).
    for (const id of ids) await t.admin('events/gap', { object: 'Account', changeType: 'GAP_UPDATE', recordIds: [id] });
    await t.admin('events/gap', { object: 'Account', changeType: 'GAP_DELETE', recordIds: ['001000000000000AAA'] });
    const dir = tempDir();
    const out = join(dir, 'out');
    const a = makeBridge(t, dir, [
      {
        name: 'gaps',
        source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent', initial: 'earliest' },
        gaps: 'enrich',
        sinks: [{ type: 'file', dir: out }],
      },
    ]);
    await a.bridge.start();
    await until(() => readSink(out).filter((e) => e.kind === 'gap').length >= 211, 30_000, 'all gap events');
    await a.bridge.stop();
    const got = readSink(out);
    const gaps = got.filter((e) => e.kind === 'gap');
    expect(gaps).toHaveLength(211);
    expect(t.emu.org.usage.compositeGets - before).toBe(Math.ceil(211 / 200));
    const byId = new Map(gaps.map((e) => [e.changeHeader.recordIds[0], e]));
    const first = byId.get(ids[0]);
    expect(first).toMatchObject({ enriched: true, payload: { Id: ids[0], Name: 'Gap 0', Industry: 'Energy' } });
    expect(Date.parse(first?.enrichedAt ?? '')).toBeGreaterThan(0);
    expect(byId.get('001000000000000AAA')?.payload).toEqual({ deleted: true });
    // Stream order is kept: replay ids strictly increase through the file.
    const seqs = got.map((e) => Buffer.from(e.replayId, 'base64').readBigUInt64BE());
    for (let i = 1; i < seqs.length; i++) expect((seqs[i] as bigint) > (seqs[i - 1] as bigint)).toBe(true);
    expect(a.bridge.status().routes[0]?.sourceStats.gapsEnriched).toBe(211);
  });
});
