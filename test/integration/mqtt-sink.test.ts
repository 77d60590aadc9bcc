/**
 * MQTT sink (issue 31) against the real Mosquitto on 127.0.0.1:1883: 10,000 CDC events at QoS 1,
 * read by mosquitto_sub (an independent client) subscribed before they are sent: every ledger
 * event, each record in order on its topic, nothing retained.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBridge } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';
import { expectLedgerInRecordOrder, seqOf } from '../reliability/harness.js';

const MQTT = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const CHANNEL = '/data/AccountChangeEvent';

describe('mqtt sink', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  it('10,000 change events at QoS 1: every ledger event, each record in order, read by mosquitto_sub', async () => {
    const tag = `it-${randomUUID().slice(0, 8)}`;
    const host = new URL(MQTT);
    const sub = spawn('mosquitto_sub', [
      '-h',
      host.hostname,
      '-p',
      host.port || '1883',
      '-q',
      '1',
      '-v',
      '-t',
      `${tag}/#`,
      '-i',
      `${tag}-reader`,
    ]);
    const got: Array<{ topic: string; body: any }> = [];
    createInterface({ input: sub.stdout }).on('line', (l) => {
      const space = l.indexOf(' ');
      got.push({ topic: l.slice(0, space), body: JSON.parse(l.slice(space + 1)) });
    });
    let subscribed = '';
    sub.stderr.on('data', (d) => {
      subscribed += String(d);
    });
    // mosquitto_sub has no "subscribed" signal of its own: events go until one arrives, then the 10,000.
    const b = makeBridge(t, tempDir(), [
      {
        name: 'mqtt',
        source: { type: 'pubsub', org: 'emu', topic: CHANNEL, initial: 'latest' },
        sinks: [{ type: 'mqtt', url: MQTT, topic: `${tag}/{channel}` }],
      },
    ]);
    await b.bridge.start();
    await t.subscribed(CHANNEL);
    for (let i = 0; i < 100 && got.length === 0; i++) {
      await t.admin('records/create', { object: 'Account', count: 1 });
      await new Promise((r) => setTimeout(r, 200));
    }
    await until(() => got.length >= 1, 20_000, `a first message through mosquitto_sub ${subscribed}`);
    const before = (await t.ledger(CHANNEL)).length;
    // At a rate a single reader keeps up with: Mosquitto drops QoS 1 messages past a slow
    // subscriber's queue (max_queued_messages, 1000 by default), which says nothing of the bridge.
    await t.admin('throttle', { eventsPerSecond: 2500 });
    await t.admin('events/emit', { spec: 'cdc:Account', count: 10_000 });
    const ledger = (await t.ledger(CHANNEL)).slice(before);
    const seqsRead = () => new Set(got.map((m) => seqOf(m.body.replayId)));
    await until(
      () => got.length >= 10_000 && ledger.every((l: { replayId: number }) => seqsRead().has(l.replayId)),
      60_000,
      '10,000 messages read',
    ).catch((err) => {
      const read = seqsRead();
      const missing = ledger.filter((l: { replayId: number }) => !read.has(l.replayId)).length;
      throw new Error(
        `${err.message}: ${got.length} read, ${missing} of the ledger missing; sink ${JSON.stringify(b.bridge.status().routes[0]?.sinks[0])}`,
      );
    });
    await t.admin('throttle', { eventsPerSecond: 0 });
    await b.bridge.stop();
    sub.kill();
    expectLedgerInRecordOrder(
      ledger,
      got.map((m) => m.body),
    );
    for (const m of got) {
      expect(m.topic).toBe(`${tag}/data/AccountChangeEvent`);
    }
  });
});
