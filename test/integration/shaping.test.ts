/**
 * Shaping (issue 29): per-sink filters and field selection over one route, positions that move
 * when the filter drops the tail, and a JSONata transform that throws on one event: dead-lettered
 * on a dead-letter route, a one-line stop on a block route.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { FileDeadLetterStore } from '../../src/deadletter/file-store.js';
import { makeBridge, readSink } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { captureStdout, until } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';

const CHANNEL = '/data/AccountChangeEvent';

describe('shaping', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  async function patch(id: string, body: Record<string, unknown>) {
    const r = await t.http('PATCH', `/services/data/v63.0/sobjects/Account/${id}`, { token: await t.token(), body });
    expect(r.status).toBe(204);
  }

  it('one route, two sinks: the filtered sink gets exactly the matching updates with only the fields asked for; the other gets everything; the position is the last event', async () => {
    const dir = tempDir();
    const [picked, all] = [join(dir, 'picked'), join(dir, 'all')];
    const b = makeBridge(t, dir, [
      {
        name: 'shaped',
        source: { type: 'pubsub', org: 'emu', topic: CHANNEL, initial: 'latest' },
        sinks: [
          {
            type: 'file',
            dir: picked,
            filter: { changeTypes: ['UPDATE'], changedFieldsAny: ['Industry'] },
            fields: { include: ['Id', 'Industry'] },
          },
          { type: 'file', dir: all },
        ],
      },
    ]);
    await b.bridge.start();
    await t.subscribed(CHANNEL);
    const ids: string[] = (await t.admin('records/create', { object: 'Account', count: 30, fields: { Industry: 'Retail' } })).ids;
    for (const id of ids.slice(0, 10)) await patch(id, { Industry: 'Energy' });
    for (const id of ids.slice(10, 20)) await patch(id, { Name: `renamed ${id}` });
    // The stream ends with events the first sink filters out.
    for (const id of ids.slice(25)) {
      const r = await t.http('DELETE', `/services/data/v63.0/sobjects/Account/${id}`, { token: await t.token() });
      expect(r.status).toBe(204);
    }
    await until(() => readSink(all).length >= 55, 20_000, 'all 55 events');
    await until(
      () => b.bridge.status().routes[0]?.committed?.replayId === readSink(all).at(-1)?.replayId,
      10_000,
      'the last position committed',
    );
    const st = b.bridge.status().routes[0];
    const metrics = await b.bridge.metrics.render();
    await b.bridge.stop();

    const everything = readSink(all);
    expect(everything).toHaveLength(55);
    expect(everything.map((e) => e.changeHeader.changeType).sort()).toEqual(
      [...Array(30).fill('CREATE'), ...Array(5).fill('DELETE'), ...Array(20).fill('UPDATE')].sort(),
    );
    const got = readSink(picked);
    expect(got).toHaveLength(10);
    expect(got.map((e) => e.changeHeader.recordIds[0])).toEqual(ids.slice(0, 10));
    for (const e of got) {
      expect(Object.keys(e.payload)).toEqual(['Industry']); // change events carry no Id field: recordIds has it
      expect(e.payload.Industry).toBe('Energy');
      expect(e.replayId).toBeTruthy();
    }
    expect(st?.sinks[0]).toMatchObject({ eventsFiltered: 45, eventsUnshaped: 0 });
    expect(st?.sinks[1]?.eventsFiltered).toBeUndefined();
    expect(metrics).toMatch(/sfbridge_sink_events_filtered_total\{[^}]*route="shaped"[^}]*sink="file#0"[^}]*\} 45\n/);
    expect(metrics).not.toMatch(/sfbridge_sink_events_filtered_total\{[^}]*sink="file#1"/);
    // The tail (deletes) was filtered out of the first sink, and the stored position still moved past it.
    expect(st?.committed?.replayId).toBe(everything.at(-1)?.replayId);
    expect(st?.eventsCommitted).toBe(55);
  });

  it('a transform that throws on 1 event in 1,000 dead-letters that one with the reason and delivers the rest', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const b = makeBridge(t, dir, [
      {
        name: 'mapped',
        source: { type: 'pubsub', org: 'emu', topic: CHANNEL, initial: 'latest' },
        sinkOutage: { mode: 'dead-letter' },
        transform: '$contains(payload.Name, "boom") ? $error("no booms here") : { "name": payload.Name, "industry": payload.Industry }',
        sinks: [{ type: 'file', dir: out }],
      },
    ]);
    await b.bridge.start();
    await t.subscribed(CHANNEL);
    const ids: string[] = (await t.admin('records/create', { object: 'Account', count: 999, fields: { Industry: 'Mapped' } })).ids;
    const boom: string = (await t.admin('records/create', { object: 'Account', count: 1, fields: { Name: 'boom 1' } })).ids[0];
    await until(() => (b.bridge.status().routes[0]?.eventsCommitted ?? 0) >= 1000, 30_000, '1,000 events committed');
    const st = b.bridge.status().routes[0];
    await b.bridge.stop();

    const got = readSink(out);
    expect(got).toHaveLength(999);
    expect(new Set(got.map((e) => e.changeHeader.recordIds[0]))).toEqual(new Set(ids));
    expect(got[0]).toMatchObject({ kind: 'cdc', channel: CHANNEL, payload: { name: 'Account 0', industry: 'Mapped' } });
    expect(got[0].eventId).toBeTruthy();
    const dl = await new FileDeadLetterStore({ type: 'file', dir: join(dir, 'dead-letters'), fsync: true }).list();
    expect(dl).toHaveLength(1);
    expect(dl[0]?.envelope?.changeHeader?.recordIds).toEqual([boom]);
    expect(dl[0]?.error).toMatch(/the route transform failed on event .*: no booms here/);
    expect(st?.sinks[0]).toMatchObject({ eventsUnshaped: 1, eventsDeadLettered: 1 });
    expect(dl[0]?.unshaped).toBe(true);

    // With the expression fixed, `dlq replay` shapes the dead letter as the sink now would, then writes it.
    const cfgPath = join(dir, 'cfg.yaml');
    writeFileSync(
      cfgPath,
      JSON.stringify({
        deadLetter: { type: 'file', dir: join(dir, 'dead-letters') },
        routes: [
          {
            name: 'mapped',
            source: { type: 'file', path: join(dir, 'unused.ndjson') },
            transform: '{ "name": payload.Name, "fixed": true }',
            sinks: [{ type: 'file', dir: out }],
          },
        ],
      }),
    );
    const stdout = captureStdout();
    const code = await main(['dlq', 'replay', '-c', cfgPath]);
    stdout.restore();
    expect(stdout.text()).toMatch(/replayed 1, still dead-lettered 0/);
    expect(code).toBe(0);
    const replayed = readSink(out).filter((e) => e.changeHeader.recordIds[0] === boom);
    expect(replayed).toHaveLength(1);
    expect(replayed[0]?.payload).toEqual({ name: 'boom 1', fixed: true });
  });

  it('on a block route, a transform that throws stops the route with one line naming it', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const b = makeBridge(
      t,
      dir,
      [
        {
          name: 'strict',
          source: { type: 'pubsub', org: 'emu', topic: CHANNEL, initial: 'latest' },
          sinks: [{ type: 'file', dir: out, transform: '$error("cannot map " & payload.Name)' }],
        },
      ],
      { onRouteFailure: 'stop' },
    );
    await b.bridge.start();
    await t.subscribed(CHANNEL);
    await t.admin('records/create', { object: 'Account', count: 1, fields: { Name: 'Acme' } });
    await until(() => b.bridge.status().routes[0]?.state === 'failed', 20_000, 'the route stops');
    const st = b.bridge.status().routes[0];
    await b.bridge.stop();
    expect(st?.error).toMatch(/^route "strict", sink file#0: sinks\[0\] transform failed on event \S+: cannot map Acme/);
    expect(st?.error).not.toContain('\n');
    expect(st?.committed).toBeNull();
    expect(readSink(out)).toHaveLength(0);
  });
});
