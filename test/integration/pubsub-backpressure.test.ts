/**
 * Back-pressure: 100,000 retained CDC events and a slow sink. The subscriber only requests what
 * the pipeline has room for, so events in flight never exceed the credit and memory stays flat.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulatorOrg } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { tempDir } from '../helpers/tmp.js';

const EVENTS = 100_000;
const CREDIT = 500;

describe('Pub/Sub back-pressure', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator({ ledger: false });
    for (let i = 0; i < EVENTS / 50_000; i++) await t.admin('events/emit', { spec: 'cdc:Account', count: 50_000 });
  }, 120_000);
  afterAll(async () => t?.stop());

  it(`holds at most ${CREDIT} events in flight with a slow sink; the bridge process stays under 256 MB`, async () => {
    const dir = tempDir();
    const child = spawn(
      process.execPath,
      [
        fileURLToPath(new URL('../fixtures/backpressure-child.mjs', import.meta.url)),
        JSON.stringify({ org: emulatorOrg(t), events: EVENTS, credit: CREDIT, perSecond: 40_000, dir }),
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(0);
    const r = JSON.parse(out.trim().split('\n').at(-1) as string);
    console.log(`backpressure: ${JSON.stringify(r)}`);
    expect(r.count).toBe(EVENTS);
    expect(r.maxInFlightSeen).toBeLessThanOrEqual(CREDIT);
    expect(r.creditViolations).toBe(0);
    // Requested-but-not-received plus in flight never exceeds the credit either.
    expect(r.outstandingMax).toBeLessThanOrEqual(CREDIT);
    expect(r.committed).toBe(r.last);
    expect(r.rssMaxMB).toBeLessThan(256);
  }, 150_000);
});
