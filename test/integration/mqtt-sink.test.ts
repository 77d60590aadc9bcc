/**
 * MQTT sink (issue 31) against the real Mosquitto on 127.0.0.1:1883: 10,000 CDC events at QoS 1,
 * read by mosquitto_sub (an independent client) subscribed before they are sent: every ledger
 * event, each record in order on its topic, nothing retained.
 *
 * mosquitto_sub writes to a file, not to a pipe into this process: this process also runs the
 * bridge and the emulator, and a pipe it is slow to drain would stall the reader until Mosquitto
 * drops messages past its queue (max_queued_messages), a failure of the test, not of the bridge.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
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
    const out = join(tempDir(), 'mosquitto_sub.out');
    const outFd = openSync(out, 'w');
    const sub = spawn(
      'mosquitto_sub',
      ['-h', host.hostname, '-p', host.port || '1883', '-q', '1', '-v', '-t', `${tag}/#`, '-i', `${tag}-reader`],
      { stdio: ['ignore', outFd, 'pipe'] },
    );
    closeSync(outFd);
    let subscribed = '';
    sub.stderr?.on('data', (d) => {
      subscribed += String(d);
    });
    const got: Array<{ topic: string; body: any }> = [];
    const reader = openSync(out, 'r');
    let offset = 0;
    let partial = '';
    const buf = Buffer.alloc(1 << 20);
    const utf8 = new StringDecoder('utf8'); // a character split between two reads stays whole
    /** Takes in the lines mosquitto_sub has written since the last call. */
    const readNew = () => {
      for (let n = readSync(reader, buf, 0, buf.length, offset); n > 0; n = readSync(reader, buf, 0, buf.length, offset)) {
        offset += n;
        const lines = (partial + utf8.write(buf.subarray(0, n))).split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) {
          const space = l.indexOf(' ');
          got.push({ topic: l.slice(0, space), body: JSON.parse(l.slice(space + 1)) });
        }
      }
      return got.length;
    };
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
    for (let i = 0; i < 100 && readNew() === 0; i++) {
      await t.admin('records/create', { object: 'Account', count: 1 });
      await new Promise((r) => setTimeout(r, 200));
    }
    await until(() => readNew() >= 1, 20_000, `a first message through mosquitto_sub ${subscribed}`);
    const before = (await t.ledger(CHANNEL)).length;
    // At a rate a single reader keeps up with: Mosquitto drops QoS 1 messages past a slow
    // subscriber's queue (max_queued_messages, 1000 by default), which says nothing of the bridge.
    await t.admin('throttle', { eventsPerSecond: 2500 });
    await t.admin('events/emit', { spec: 'cdc:Account', count: 10_000 });
    const ledger = (await t.ledger(CHANNEL)).slice(before);
    const seqsRead = () => new Set(got.map((m) => seqOf(m.body.replayId)));
    await until(
      () => {
        if (readNew() < 10_000) return false;
        const read = seqsRead(); // once per check: built per ledger event, the check took 20 s
        return ledger.every((l: { replayId: number }) => read.has(l.replayId));
      },
      90_000,
      '10,000 messages read',
    ).catch((err) => {
      const read = seqsRead();
      const missing = ledger.filter((l: { replayId: number }) => !read.has(l.replayId)).length;
      throw new Error(
        `${err.message}: ${got.length} read, ${missing} of the ledger missing; sink ${JSON.stringify(b.bridge.status().routes[0]?.sinks[0])}; ${mosquittoDrops(tag)}`,
      );
    });
    await t.admin('throttle', { eventsPerSecond: 0 });
    await b.bridge.stop();
    sub.kill();
    closeSync(reader);
    expectLedgerInRecordOrder(
      ledger,
      got.map((m) => m.body),
    );
    for (const m of got) {
      expect(m.topic).toBe(`${tag}/data/AccountChangeEvent`);
    }
  }, 150_000);
});

/** What Mosquitto's log says about this test's clients dropping messages, where the log is readable. */
function mosquittoDrops(tag: string): string {
  try {
    const lines = readFileSync('/var/log/mosquitto/mosquitto.log', 'utf8').split('\n');
    const drops = lines.filter((l) => l.includes(tag) && /drop/i.test(l));
    return drops.length ? `mosquitto: ${drops.slice(-3).join(' | ')}` : 'mosquitto logged no drops';
  } catch {
    return 'mosquitto log not readable';
  }
}
