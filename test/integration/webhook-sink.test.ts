/**
 * The webhook sink against a local receiver that verifies every request with the public
 * `standardwebhooks` package: signatures and rotation, retries on 500/429/timeouts with per-key
 * order, 4xx to the dead-letter store, 410, dead-letter outage mode, and `sfbridge dlq replay`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { FileDeadLetterStore } from '../../src/deadletter/file-store.js';
import { ENVELOPE_VERSION, type Envelope } from '../../src/envelope.js';
import { Bridge } from '../../src/pipeline/bridge.js';
import { configSchema } from '../../src/registry.js';
import { captureLogger } from '../helpers/bridge.js';
import { captureStdout } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';
import { Receiver } from '../helpers/webhook-receiver.js';

const OLD_SECRET = `whsec_${Buffer.from('old-secret-0123456789abcdef').toString('base64')}`;
const SECRET = `whsec_${Buffer.from('new-secret-0123456789abcdef').toString('base64')}`;
const KEYS = 5;

function cdc(i: number): Envelope {
  const record = `001000000000${String(i % KEYS).padStart(3, '0')}AAA`;
  return {
    v: ENVELOPE_VERSION,
    org: '00D000000000001AAA',
    channel: '/data/AccountChangeEvent',
    replayId: String(i),
    eventId: `ev-${i}`,
    schemaId: 'schema-1',
    eventTime: new Date(1_700_000_000_000 + i).toISOString(),
    receivedAt: new Date().toISOString(),
    kind: 'cdc',
    changeHeader: {
      entity: 'Account',
      recordIds: [record],
      changeType: 'UPDATE',
      changeOrigin: '',
      transactionKey: `tx${i}`,
      sequenceNumber: 1,
      commitTimestamp: 1_700_000_000_000 + i,
      commitUser: '005000000000001AAA',
      changedFields: ['Name'],
      nulledFields: [],
      diffFields: [],
    },
    payload: { i, record },
  };
}

const receivers: Receiver[] = [];
afterEach(async () => {
  while (receivers.length) await (receivers.pop() as Receiver).stop();
});

async function receiver(secret = SECRET): Promise<Receiver> {
  const r = new Receiver(secret);
  await r.start();
  receivers.push(r);
  return r;
}

function configFor(dir: string, n: number, sink: Record<string, unknown>, route: Record<string, unknown> = {}) {
  const input = join(dir, 'in.ndjson');
  writeFileSync(input, Array.from({ length: n }, (_, i) => `${JSON.stringify(cdc(i))}\n`).join(''));
  return configSchema.parse({
    replayStore: { type: 'file', path: join(dir, 'replay.json') },
    deadLetter: { type: 'file', dir: join(dir, 'dlq') },
    pipeline: { commitIntervalMs: 20, maxBatchEvents: 50 },
    onRouteFailure: 'stop',
    routes: [{ name: 'r', source: { type: 'file', path: input, batchSize: 25 }, sinks: [{ type: 'webhook', ...sink }], ...route }],
  });
}

async function run(config: ReturnType<typeof configFor>) {
  const { log, capture } = captureLogger('warn');
  const bridge = new Bridge(config, log);
  await bridge.start();
  const states = await bridge.whenDone();
  const status = bridge.status();
  await bridge.stop();
  return { states, status, capture };
}

/** Each key's payload indexes, in the order they were delivered. */
function perKeyOrder(bodies: any[]): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const b of bodies) {
    const k = b.payload.record as string;
    m.set(k, [...(m.get(k) ?? []), b.payload.i]);
  }
  return m;
}

function committed(dir: string): string | null {
  try {
    return JSON.parse(readFileSync(join(dir, 'replay.json'), 'utf8')).positions.r?.replayId ?? null;
  } catch {
    return null;
  }
}

/** 20 events through a dead-letter route (schedule of two 10 ms retries) that ends with all 20 dead-lettered. */
async function deadLetterRouteOf20(dir: string, url: string) {
  const config = configFor(
    dir,
    20,
    { url, secrets: [SECRET], retrySchedule: ['10ms', '10ms'], concurrency: 1, orderKey: 'none' },
    { sinkOutage: { mode: 'dead-letter', after: '1h' } },
  );
  const { states } = await run(config);
  expect(states).toEqual(['ended']);
  const dl = await new FileDeadLetterStore({ type: 'file', dir: join(dir, 'dlq'), fsync: true }).list();
  expect(dl).toHaveLength(20);
  return dl;
}

describe('webhook sink', () => {
  it('signs with every secret (rotation), keeps webhook-id stable across retries, delivers everything in per-key order despite 500s', async () => {
    const dir = tempDir();
    const r = await receiver(SECRET); // the receiver already moved to the new secret
    // Every event fails twice with 500 before it is accepted.
    r.respond = (_a, n) => (n <= 2 ? { status: 500 } : { status: 204 });
    const config = configFor(dir, 200, { url: r.url, secrets: [OLD_SECRET, SECRET], retrySchedule: ['20ms'], concurrency: 4 });
    const { states, status } = await run(config);
    expect(states).toEqual(['ended']);
    expect(r.attempts.every((a) => a.verified)).toBe(true);
    expect(r.delivered).toHaveLength(200);
    expect(new Set(r.delivered.map((b) => b.eventId)).size).toBe(200);
    for (let i = 0; i < 200; i++) {
      const tries = r.attemptsFor(`ev-${i}`);
      expect(tries.map((a) => a.status)).toEqual([500, 500, 204]);
    }
    for (const [, order] of perKeyOrder(r.delivered)) expect(order).toEqual([...order].sort((a, b) => a - b));
    // The whole file was committed, but only after delivery.
    expect(committed(dir)).not.toBeNull();
    expect(status.routes[0]?.sinks[0]?.stats).toMatchObject({ delivered: 200 });
    expect(status.routes[0]?.sinks[0]).toMatchObject({ eventsDeadLettered: 0, eventsWritten: 200 });
  });

  it('a receiver that only knows another secret rejects every request (the signature really is checked)', async () => {
    const dir = tempDir();
    const r = await receiver(SECRET);
    r.respond = (a) => (a.verified ? { status: 200 } : { status: 401 });
    const config = configFor(dir, 3, { url: r.url, secrets: [OLD_SECRET], retrySchedule: ['10ms'] });
    await run(config);
    expect(r.attempts.length).toBe(3);
    expect(r.attempts.every((a) => !a.verified && /signature/i.test(a.verifyError ?? ''))).toBe(true);
    // 401 is a rejection: dead-lettered, not lost.
    const dl = await new FileDeadLetterStore({ type: 'file', dir: join(dir, 'dlq'), fsync: true }).list();
    expect(dl.map((d) => d.envelope?.eventId).sort()).toEqual(['ev-0', 'ev-1', 'ev-2']);
  });

  it('honours Retry-After on 429 and retries a timed-out attempt', async () => {
    const dir = tempDir();
    const r = await receiver();
    r.respond = (a, n) => {
      if (a.id === 'ev-0' && n === 1) return { status: 429, headers: { 'retry-after': '1' } };
      if (a.id === 'ev-1' && n === 1) return { status: 200, delayMs: 800 }; // longer than the timeout
      return { status: 200 };
    };
    const config = configFor(dir, 2, { url: r.url, secrets: [SECRET], retrySchedule: ['10ms'], timeout: '200ms', orderKey: 'none' });
    await run(config);
    const t0 = r.attemptsFor('ev-0');
    expect(t0.map((a) => a.status)).toEqual([429, 200]);
    expect((t0[1] as any).at - (t0[0] as any).at).toBeGreaterThanOrEqual(950);
    const t1 = r.attemptsFor('ev-1');
    expect(t1.length).toBeGreaterThanOrEqual(2);
    expect(r.delivered.map((b) => b.eventId).sort()).toContain('ev-1');
  });

  it('dead-letters what the receiver rejects (4xx), keeps going, and `dlq replay` delivers it once the receiver accepts it', async () => {
    const dir = tempDir();
    const r = await receiver();
    let reject = true;
    r.respond = (a) => (reject && (a.id === 'ev-3' || a.id === 'ev-7') ? { status: 422 } : { status: 200 });
    const config = configFor(dir, 10, { url: r.url, secrets: [SECRET], retrySchedule: ['10ms'] });
    const { states } = await run(config);
    expect(states).toEqual(['ended']);
    expect(r.delivered.map((b) => b.eventId).sort()).toEqual(['ev-0', 'ev-1', 'ev-2', 'ev-4', 'ev-5', 'ev-6', 'ev-8', 'ev-9']);
    expect(r.attemptsFor('ev-3')).toHaveLength(1); // no retry of a rejection
    const store = new FileDeadLetterStore({ type: 'file', dir: join(dir, 'dlq'), fsync: true });
    const dl = await store.list();
    expect(dl.map((d) => d.envelope?.eventId).sort()).toEqual(['ev-3', 'ev-7']);
    expect(dl[0]).toMatchObject({ route: 'r', sink: 'webhook#0', attempts: 1 });
    expect(dl[0]?.error).toMatch(/HTTP 422/);

    // The CLI needs the config as a file.
    const cfgPath = join(dir, 'cfg.yaml');
    writeFileSync(
      cfgPath,
      JSON.stringify({
        replayStore: { type: 'file', path: join(dir, 'replay.json') },
        deadLetter: { type: 'file', dir: join(dir, 'dlq') },
        routes: [
          {
            name: 'r',
            source: { type: 'file', path: join(dir, 'in.ndjson') },
            sinks: [{ type: 'webhook', url: r.url, secrets: [SECRET] }],
          },
        ],
      }),
    );
    const out = captureStdout();
    expect(await main(['dlq', 'list', '-c', cfgPath])).toBe(0);
    expect(out.text()).toMatch(/2 dead letter\(s\)/);
    // Still rejected: replay keeps them and says why (one attempt, no hours of retries).
    out.clear();
    expect(await main(['dlq', 'replay', '-c', cfgPath])).toBe(1);
    expect(out.text()).toMatch(/still dead-lettered 2/);
    expect(await store.list()).toHaveLength(2);
    reject = false;
    out.clear();
    expect(await main(['dlq', 'replay', '-c', cfgPath])).toBe(0);
    expect(out.text()).toMatch(/replayed 2, still dead-lettered 0/);
    out.restore();
    expect(await store.list()).toHaveLength(0);
    expect(r.delivered.map((b) => b.eventId).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `ev-${i}`).sort());
  });

  it('410 Gone on a blocking route stops the route without committing past the undelivered event', async () => {
    const dir = tempDir();
    const r = await receiver();
    r.respond = (a) => (a.id === 'ev-60' ? { status: 410 } : { status: 200 });
    const config = configFor(dir, 100, { url: r.url, secrets: [SECRET], retrySchedule: ['10ms'], concurrency: 1, orderKey: 'none' });
    const { states, status } = await run(config);
    expect(states).toEqual(['failed']);
    expect(status.routes[0]?.error).toMatch(/410 Gone.*sinkOutage\.mode: dead-letter/);
    // The committed position is a byte offset in the input; it must lie before event 60's line.
    const lines = readFileSync(join(dir, 'in.ndjson'), 'utf8').split('\n');
    const offsetOf60 = lines.slice(0, 60).reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
    expect(Number(committed(dir) ?? 0)).toBeLessThanOrEqual(offsetOf60);
    expect(r.attempts.filter((a) => a.id === 'ev-60')).toHaveLength(1);
  });

  it('on a dead-letter route, a receiver down past the schedule has its events dead-lettered and the route moves on', async () => {
    const dir = tempDir();
    const r = await receiver();
    r.respond = () => ({ status: 503 });
    const dl = await deadLetterRouteOf20(dir, r.url);
    // Three attempts each (a schedule of two retries), then set aside.
    for (let i = 0; i < 20; i++) expect(r.attemptsFor(`ev-${i}`)).toHaveLength(3);
    expect(dl[0]?.error).toMatch(/not delivered after 3 attempts; last error: HTTP 503/);
    expect(dl[0]?.attempts).toBe(3);
    expect(committed(dir)).not.toBeNull();
  });

  it('on a dead-letter route, a receiver that answers 410 Gone gets no further request; everything is dead-lettered', async () => {
    const dir = tempDir();
    const r = await receiver();
    r.respond = (a) => (a.id === 'ev-5' ? { status: 410 } : { status: 503 });
    const dl = await deadLetterRouteOf20(dir, r.url);
    // Before the 410 one attempt each (503); the 410 disables the endpoint; after it no request at all.
    expect(r.attemptsFor('ev-0')).toHaveLength(1);
    expect(r.attemptsFor('ev-5')).toHaveLength(1);
    expect(r.attemptsFor('ev-6')).toHaveLength(0);
    expect(dl.find((d) => d.envelope?.eventId === 'ev-9')?.error).toMatch(/endpoint disabled: .*410 Gone/);
    expect(committed(dir)).not.toBeNull();
  });

  it('cloudevents mode posts CloudEvents 1.0 structured events, signed like any other body', async () => {
    const dir = tempDir();
    const r = await receiver();
    const config = configFor(dir, 3, { url: r.url, secrets: [SECRET], body: 'cloudevents' });
    const { states } = await run(config);
    expect(states).toEqual(['ended']);
    expect(r.attempts.every((a) => a.verified)).toBe(true);
    expect(r.delivered).toHaveLength(3);
    for (const b of r.delivered) {
      expect(b).toMatchObject({ specversion: '1.0', id: b.data.eventId, datacontenttype: 'application/json' });
      expect(b.source).toBe(`salesforce://${b.data.org}${b.data.channel}`);
      expect(b.type).toBe(`com.salesforce.${b.data.kind}.${b.data.channel.split('/').pop()}`);
    }
    expect(r.contentTypes).toContain('application/cloudevents+json');
  });

  it('batch mode posts {"events": [...]} with a stable batch id', async () => {
    const dir = tempDir();
    const r = await receiver();
    r.respond = (_a, n) => (n === 1 ? { status: 500 } : { status: 200 });
    const config = configFor(dir, 30, { url: r.url, secrets: [SECRET], body: 'batch', maxBatchEvents: 10, retrySchedule: ['10ms'] });
    await run(config);
    const events = r.delivered.flatMap((b) => b.events.map((e: Envelope) => e.eventId));
    expect(events).toEqual(Array.from({ length: 30 }, (_, i) => `ev-${i}`));
    for (const id of new Set(r.attempts.map((a) => a.id))) {
      expect(id).toMatch(/^batch_[0-9a-f]{32}$/);
      expect(r.attemptsFor(id).map((a) => a.status)).toEqual([500, 200]);
    }
  });

  it('verifies TLS: an untrusted certificate fails the attempt with a message saying what to set', async () => {
    const dir = tempDir();
    const { startEmulator } = await import('../helpers/emulator.js');
    const t = await startEmulator(); // its HTTPS server uses a private CA
    try {
      const config = configFor(
        dir,
        1,
        { url: `${t.emu.info.loginUrl}/hook`, secrets: [SECRET], retrySchedule: ['10ms'] },
        { sinkOutage: { mode: 'dead-letter', after: 0 } },
      );
      await run(config);
      const dl = await new FileDeadLetterStore({ type: 'file', dir: join(dir, 'dlq'), fsync: true }).list();
      expect(dl[0]?.error).toMatch(/the receiver's TLS certificate is not trusted \(\w+\): set caCertFile/);
    } finally {
      await t.stop();
    }
  });
});
