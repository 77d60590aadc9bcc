/**
 * Issue 27: `/data/ChangeEvents` (every selected object on one channel), and the blank schema id
 * Salesforce has been seen sending there (forcedotcom/pub-sub-api#63, pozil#34). An event without
 * a schema id is decoded with the schema of its own topic (/data/<Object>ChangeEvent, from the
 * object named at the head of its payload); when no schema fits, that one event is dead-lettered
 * with its raw bytes and the reason, and the route keeps running.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileDeadLetterStore } from '../../src/deadletter/file-store.js';
import { makeBridge, readSink } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';

const CHANNEL = '/data/ChangeEvents';

describe('/data/ChangeEvents over three objects', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  /** 3,000 change events of Account, Contact and Opportunity, one of them (a Contact's) with a blank schema id. */
  async function traffic(unreadable: boolean): Promise<{ blank: { replayId: number; recordIds: string[] } }> {
    for (const object of ['Account', 'Contact', 'Opportunity']) await t.admin('events/emit', { spec: `cdc:${object}`, count: 500 });
    const blank = await t.admin('events/blank-schema', { object: 'Contact', channel: CHANNEL, unreadable });
    await t.admin('events/emit', { spec: 'cdc:Opportunity', count: 499 });
    for (const object of ['Account', 'Contact']) await t.admin('events/emit', { spec: `cdc:${object}`, count: 500 });
    return { blank };
  }

  it.each([false, true])(
    'unreadable payload: %s — every event delivered, the blank one by its topic or dead-lettered',
    async (unreadable) => {
      const dir = tempDir();
      const out = join(dir, 'out');
      const b = makeBridge(t, dir, [
        {
          name: `all-${unreadable}`,
          source: { type: 'pubsub', org: 'emu', topic: CHANNEL, initial: 'latest' },
          sinks: [{ type: 'file', dir: out }],
        },
      ]);
      await b.bridge.start();
      await t.subscribed(CHANNEL);
      const { blank } = await traffic(unreadable);
      await until(() => readSink(out).length >= 3000, 30_000, '3,000 events');
      const st = b.bridge.status().routes[0];
      await b.bridge.stop();

      const got = readSink(out);
      expect(got).toHaveLength(3000);
      expect(new Set(got.map((e) => e.replayId)).size).toBe(3000);
      const entities = new Set(got.filter((e) => e.changeHeader).map((e) => e.changeHeader.entity));
      expect([...entities].sort()).toEqual(['Account', 'Contact', 'Opportunity']);
      const blankEvent = got.find((e) => Number(Buffer.from(e.replayId, 'base64').readBigUInt64BE()) === blank.replayId);
      const dl = await new FileDeadLetterStore({ type: 'file', dir: join(dir, 'dead-letters'), fsync: true }).list();
      if (!unreadable) {
        // Decoded with the schema of /data/ContactChangeEvent, found through GetTopic.
        expect(blankEvent).toMatchObject({
          kind: 'cdc',
          changeHeader: { entity: 'Contact', changeType: 'CREATE', recordIds: blank.recordIds },
        });
        expect(blankEvent?.schemaId).toMatch(/^\S{10,}$/);
        expect(got.filter((e) => e.payload?.decodeError)).toHaveLength(0);
        expect(dl).toHaveLength(0);
        expect(st?.sourceStats).toMatchObject({ schemaFallbacks: 1, decodeErrors: 0 });
      } else {
        expect(blankEvent?.payload?.decodeError).toMatch(/blank schema id, and its payload names no object/);
        expect(got.filter((e) => e.changeHeader)).toHaveLength(2999);
        expect(dl).toHaveLength(1);
        expect(dl[0]).toMatchObject({ sink: 'decode', envelope: null });
        expect(dl[0]?.error).toMatch(/blank schema id/);
        expect(st?.sourceStats).toMatchObject({ schemaFallbacks: 0, decodeErrors: 1 });
      }
    },
  );
});
