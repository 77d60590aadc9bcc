/** Test doubles for the pipeline's collaborators (the real ones have their own tests). */
import { ENVELOPE_VERSION, type Envelope } from '../../src/envelope.js';
import type { CommitRequest, ReplayStore, StoredPosition } from '../../src/replay/types.js';
import type { Sink } from '../../src/sinks/types.js';
import type { Subscriber, SubscriberContext } from '../../src/subscribers/types.js';

export function event(i: number, channel = '/data/AccountChangeEvent'): Envelope {
  return {
    v: ENVELOPE_VERSION,
    org: '00D000000000001AAA',
    channel,
    replayId: `r${i}`,
    eventId: `e${i}`,
    schemaId: null,
    eventTime: new Date(1_700_000_000_000 + i).toISOString(),
    receivedAt: new Date().toISOString(),
    kind: 'generic',
    payload: { i },
  };
}

/** Emits events 0..total-1, as fast as credit allows, in batches of `batch`. */
export class ScriptedSubscriber implements Subscriber {
  ctx!: SubscriberContext;
  credit = 0;
  next = 0;
  maxCreditHeld = 0;
  stopped = false;
  constructor(
    private readonly total: number,
    private readonly batch = 10,
    private readonly endWhenDone = false,
  ) {}
  describe() {
    return 'scripted';
  }
  async start(ctx: SubscriberContext) {
    this.ctx = ctx;
    if (ctx.from) this.next = Number(ctx.from.replayId.slice(1)) + 1;
  }
  request(n: number) {
    this.credit += n;
    this.maxCreditHeld = Math.max(this.maxCreditHeld, this.credit);
    queueMicrotask(() => this.pump());
  }
  pump() {
    while (!this.stopped && this.credit > 0 && this.next < this.total) {
      const n = Math.min(this.credit, this.batch, this.total - this.next);
      const events = Array.from({ length: n }, (_, k) => event(this.next + k));
      this.next += n;
      this.credit -= n;
      this.ctx.emit(events);
    }
    if (this.endWhenDone && this.next >= this.total) this.ctx.end();
  }
  async stop() {
    this.stopped = true;
  }
}

/** A sink whose writes the test resolves or rejects by hand (or automatically). */
export class ManualSink implements Sink {
  written: Envelope[] = [];
  pending: Array<{ batch: readonly Envelope[]; resolve: () => void; reject: (e: Error) => void }> = [];
  auto = false;
  failNext = 0;
  failWith: Error = Object.assign(new Error('boom'), { retriable: true });
  writes = 0;
  async open() {}
  write(batch: readonly Envelope[]): Promise<void> {
    this.writes++;
    if (this.failNext > 0) {
      this.failNext--;
      return Promise.reject(this.failWith);
    }
    if (this.auto) {
      this.written.push(...batch);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      this.pending.push({
        batch,
        resolve: () => {
          this.written.push(...batch);
          resolve();
        },
        reject,
      });
    });
  }
  /** Resolve the pending write at `index` (0 = oldest). */
  ack(index = 0) {
    const [p] = this.pending.splice(index, 1);
    if (!p) throw new Error('no pending write');
    p.resolve();
  }
  ackAll() {
    while (this.pending.length) this.ack(0);
  }
  async drain() {}
  async close() {}
  describe() {
    return 'manual';
  }
}

export class MemoryStore implements ReplayStore {
  positions = new Map<string, StoredPosition>();
  commits: CommitRequest[] = [];
  down = false;
  async open() {}
  async load(key: string) {
    return this.positions.get(key);
  }
  async commit(key: string, p: CommitRequest) {
    if (this.down) throw new Error('store unavailable');
    const s = { key, ...p, committedAt: new Date().toISOString() };
    this.commits.push(p);
    this.positions.set(key, s);
    return s;
  }
  async list() {
    return [...this.positions.values()];
  }
  async delete(key: string) {
    return this.positions.delete(key);
  }
  async close() {}
  describe() {
    return 'memory';
  }
}

export async function until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** `until` for a condition that needs I/O to tell (a database count). */
export async function untilAsync(cond: () => Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const tick = () => new Promise((r) => setTimeout(r, 20));

/** Capture what the code under test writes to stdout (CLI commands run in-process). */
export function captureStdout() {
  const orig = process.stdout.write.bind(process.stdout);
  let buf = '';
  process.stdout.write = ((c: string | Uint8Array) => {
    buf += String(c);
    return true;
  }) as typeof process.stdout.write;
  return {
    text: () => buf,
    clear: () => {
      buf = '';
    },
    restore: () => {
      process.stdout.write = orig;
    },
  };
}
