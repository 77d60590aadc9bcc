/**
 * Reliability harness: the bridge as a child process (`sfbridge run`, so it can be SIGKILLed),
 * the emulator in-process with a data dir (so it can be restarted), and a ledger check that
 * compares what the emulator published with what a sink holds.
 */
import { appendFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';
import { emulatorOrg } from '../helpers/bridge.js';
import { type CliResult, ROOT, startCli } from '../helpers/cli.js';
import type { TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';

export const PROFILE = process.env.RELIABILITY_PROFILE === 'long' ? 'long' : 'short';
/** Sizes per profile: short runs in CI, long is `npm run test:reliability:long`. */
export const SIZE =
  PROFILE === 'long'
    ? { events: 100_000, kills: 25, cometdEvents: 30_000, outageMs: 30_000, webhookDownMs: 300_000, rate: 4000 }
    : { events: 20_000, kills: 20, cometdEvents: 6_000, outageMs: 30_000, webhookDownMs: 20_000, rate: 2500 };

export interface Tally {
  expected: number;
  delivered: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  unexpected: number;
  lostSample: number[];
}

/** Sequence number of an envelope's replay id: CometD ids are decimal, Pub/Sub ids base64 of a u64. */
export function seqOf(replayId: string): number {
  if (/^\d+$/.test(replayId)) return Number(replayId);
  return Number(Buffer.from(replayId, 'base64').readBigUInt64BE());
}

/**
 * Compare the ledger (what was published) with what a sink holds. Duplicates are extra copies;
 * out-of-order counts, per key (first record id, else event id), events whose first copy arrived
 * after the first copy of a later event of the same key.
 */
export function tally(ledger: Array<{ replayId: number }>, envelopes: any[]): Tally {
  const want = new Set(ledger.map((l) => l.replayId));
  const seen = new Map<number, number>();
  const lastByKey = new Map<string, number>();
  let outOfOrder = 0;
  let unexpected = 0;
  for (const e of envelopes) {
    if (e.kind === 'replay-gap') continue;
    const s = seqOf(e.replayId);
    if (!want.has(s)) {
      unexpected++;
      continue;
    }
    const n = seen.get(s) ?? 0;
    seen.set(s, n + 1);
    if (n > 0) continue;
    const key = e.changeHeader?.recordIds?.[0] ?? e.eventId;
    const prev = lastByKey.get(key);
    if (prev !== undefined && s < prev) outOfOrder++;
    else lastByKey.set(key, s);
  }
  const lost = [...want].filter((s) => !seen.has(s));
  let duplicated = 0;
  for (const n of seen.values()) duplicated += n - 1;
  return { expected: want.size, delivered: seen.size, lost: lost.length, duplicated, outOfOrder, unexpected, lostSample: lost.slice(0, 5) };
}

export interface ResultRow {
  scenario: string;
  path: string;
  events: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  recoveryMs: number | null;
  notes: string;
}

/** Record a scenario's tally (see `record`). */
export function recordTally(scenario: string, path: string, t: Tally, recoveryMs: number | null, notes = ''): void {
  record({ scenario, path, events: t.expected, lost: t.lost, duplicated: t.duplicated, outOfOrder: t.outOfOrder, recoveryMs, notes });
}

/** Append a row to reports/reliability-<profile>.ndjson (rendered into docs/reliability.md). */
export function record(row: ResultRow): void {
  const dir = join(ROOT, 'reports');
  mkdirSync(dir, { recursive: true });
  appendFileSync(
    join(dir, `reliability-${PROFILE}.ndjson`),
    `${JSON.stringify({ ...row, profile: PROFILE, at: new Date().toISOString() })}\n`,
  );
  console.log(
    `[reliability ${PROFILE}] ${row.scenario} (${row.path}): ${row.events} events, ${row.lost} lost, ${row.duplicated} duplicated, ${row.outOfOrder} out of order${row.recoveryMs !== null ? `, recovery ${row.recoveryMs} ms` : ''}${row.notes ? ` — ${row.notes}` : ''}`,
  );
}

/** Every envelope in a file sink's directory; a line still being written is skipped. */
export function readFiles(dir: string): any[] {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => n.endsWith('.ndjson'))
      .sort();
  } catch {
    return [];
  }
  const out: any[] = [];
  for (const f of names) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      if (!line) continue;
      try {
        out.push(JSON.parse(line));
      } catch {}
    }
  }
  return out;
}

/** A Pub/Sub or CometD source for one channel of the emulator, starting at LATEST. */
export function latestSource(path: 'pubsub' | 'cometd', channel: string): Record<string, unknown> {
  return path === 'pubsub'
    ? { type: 'pubsub', org: 'emu', topic: channel, initial: 'latest' }
    : { type: 'cometd', org: 'emu', channel, initial: 'latest' };
}

/** A bridge config file for one route from the emulator into the given sinks. */
export function writeConfig(
  dir: string,
  t: TestEmulator,
  source: Record<string, unknown>,
  sinks: unknown[],
  extra: Record<string, unknown> = {},
): string {
  const path = join(dir, 'bridge.json');
  writeFileSync(
    path,
    JSON.stringify({
      log: { level: 'info', format: 'json' },
      orgs: { emu: emulatorOrg(t) },
      replayStore: { type: 'file', path: join(dir, 'replay.json') },
      deadLetter: { type: 'file', dir: join(dir, 'dlq') },
      pipeline: { maxInFlight: 500, maxBatchEvents: 500, commitIntervalMs: 100, commitMaxEvents: 500 },
      routes: [{ name: 'r', source: source.type === 'file' ? source : { initial: 'earliest', ...source }, sinks }],
      ...extra,
    }),
  );
  return path;
}

/** The in-flight window: at most this many events can be re-delivered per crash or reconnect. */
export const WINDOW = 500 + 500;

/** Bridges still running when a test ends (it failed before stopping them) are killed. */
const live = new Set<BridgeProcess>();
afterEach(() => {
  for (const b of live) b.child?.kill('SIGKILL');
  live.clear();
});

export class BridgeProcess {
  child: ReturnType<typeof startCli>['child'] | null = null;
  result: Promise<CliResult> | null = null;
  stderr = '';
  starts = 0;
  constructor(private readonly cfg: string) {}

  /** Start and wait until the route runs (or the process exits). */
  async start(): Promise<void> {
    const r = startCli(['run', '-c', this.cfg], { env: { SFBRIDGE_LOG_LEVEL: 'info' } });
    this.child = r.child;
    this.result = r.result;
    live.add(this);
    void r.result.then(() => live.delete(this));
    this.starts++;
    let started = false;
    r.child.stderr?.on('data', (d) => {
      const s = String(d);
      this.stderr += s;
      if (s.includes('route starting')) started = true;
    });
    await until(() => started || r.child.exitCode !== null, 30_000, 'bridge start');
    if (r.child.exitCode !== null) throw new Error(`bridge exited at start: ${this.stderr.slice(-2000)}`);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 45_000): Promise<CliResult> {
    this.child?.kill(signal);
    const child = this.child;
    const timer = setTimeout(() => {
      console.error(`bridge did not exit ${timeoutMs} ms after ${signal}; killing it. Last log lines:\n${this.stderr.slice(-3000)}`);
      child?.kill('SIGKILL');
    }, timeoutMs);
    const r = (await this.result) as CliResult;
    clearTimeout(timer);
    this.child = null;
    return r;
  }

  /** Wait for a log line matching `re` (a signal such as "subscribed"), counting from `after` characters in. */
  async waitForLog(re: RegExp, timeoutMs = 30_000, after = 0): Promise<void> {
    await until(() => re.test(this.stderr.slice(after)) || this.child?.exitCode !== null, timeoutMs, `log line ${re}`);
    if (!re.test(this.stderr.slice(after))) throw new Error(`bridge exited before logging ${re}: ${this.stderr.slice(-2000)}`);
  }

  /** Log lines at error level or above (JSON logs). */
  errors(): string[] {
    return this.stderr.split('\n').filter((l) => /"level":("error"|"fatal"|50|60)/.test(l));
  }
}

/** Poll until `count()` reaches `n`; returns the time it took. */
export async function waitFor(count: () => number | Promise<number>, n: number, timeoutMs: number, what: string): Promise<number> {
  const start = Date.now();
  for (;;) {
    const c = await count();
    if (c >= n) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: ${c} of ${n} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A TCP proxy in front of a service (Redis, PostgreSQL) that a test can cut: `cut(ms)` drops
 * every connection and refuses new ones for `ms`, like a server or network outage.
 */
export class CuttableProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(port = 0): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => this.server?.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  async cut(ms: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server?.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
    await new Promise((r) => setTimeout(r, ms));
    await this.start(this.port);
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}

/** Every ledger event is among `envelopes`, and each record's changes come in stream order (the sinks' read-back check). */
export function expectLedgerInRecordOrder(ledger: Array<{ replayId: number }>, envelopes: any[]): void {
  const seqs = new Set(envelopes.map((e) => seqOf(e.replayId)));
  for (const l of ledger) expect(seqs.has(l.replayId), `ledger event ${l.replayId}`).toBe(true);
  const last = new Map<string, number>();
  for (const e of envelopes) {
    const id = e.changeHeader.recordIds[0];
    const s = seqOf(e.replayId);
    expect(s > (last.get(id) ?? 0), `order of ${id}`).toBe(true);
    last.set(id, s);
  }
}

/** `count` change events of `object` retained on the emulator and served at `rate` per second (0: unthrottled); their ledger entries. */
export async function retainedStream(t: TestEmulator, object: string, count: number, rate: number) {
  const channel = `/data/${object}ChangeEvent`;
  const before = (await t.ledger(channel)).length;
  await t.admin('events/emit', { spec: `cdc:${object}`, count });
  await t.admin('throttle', { eventsPerSecond: rate });
  return { channel, ledger: (await t.ledger(channel)).slice(before) };
}
