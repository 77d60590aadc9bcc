/**
 * HTTP ingest source: `POST /ingest/<route>` on its own listener, one JSON object or an array of
 * them per request. The caller is authenticated (bearer token or Standard Webhooks signature
 * headers) and the size checked before the body is read; each event must be a JSON object (400
 * names the first that is not); a request that does not fit the route's free credit gets 429 with
 * Retry-After. Accepted events go down the pipeline; the answer (200) waits until the route
 * committed past them, i.e. every sink accepted them. A position is the count of events taken.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { bearerProblem } from '../../bearer.js';
import { ENVELOPE_VERSION, type Envelope } from '../../envelope.js';
import { BridgeError, errorMessage } from '../../errors.js';
import type { StoredPosition } from '../../positions.js';
import { secretKey, verifySignature } from '../../standard-webhooks.js';
import type { Subscriber, SubscriberContext } from '../types.js';
import type { HttpSubscriberConfig } from './config.js';

/** Standard Webhooks: a signature's timestamp may be this far from now (replay protection). */
const TOLERANCE_S = 300;

interface Waiter {
  upTo: number;
  resolve: (ok: boolean) => void;
}

export class HttpSubscriber implements Subscriber {
  private ctx!: SubscriberContext;
  private server: Server | null = null;
  private credit = 0;
  private seq = 0;
  private committed = 0;
  private waiters: Waiter[] = [];
  private stopped = false;
  private readonly keys: Buffer[];
  private readonly counts = { requests: 0, accepted: 0, unauthorized: 0, tooLarge: 0, badRequest: 0, busy: 0 };

  constructor(private readonly c: HttpSubscriberConfig) {
    this.keys = (c.signingSecrets ?? []).map(secretKey);
  }

  describe(): string {
    return `HTTP ingest on ${this.c.listen} (${this.c.token ? 'bearer token' : 'Standard Webhooks signatures'}, ≤ ${this.c.maxBodyBytes} bytes a request)`;
  }

  stats(): Record<string, number> {
    return { ...this.counts, subscribed: this.server?.listening ? 1 : 0, waiting: this.waiters.length, port: this.port() };
  }

  async start(ctx: SubscriberContext): Promise<void> {
    this.ctx = ctx;
    if (ctx.from) {
      const n = Number(ctx.from.replayId);
      if (!Number.isSafeInteger(n) || n < 0)
        throw new BridgeError('HTTP_SOURCE', `http source: stored position "${ctx.from.replayId}" is not an event count`);
      this.seq = this.committed = n;
    }
    const [host, port] = [
      this.c.listen.slice(0, this.c.listen.lastIndexOf(':')),
      Number(this.c.listen.slice(this.c.listen.lastIndexOf(':') + 1)),
    ];
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => answer(res, 500, { error: errorMessage(err) }));
    });
    this.server.requestTimeout = this.c.ackTimeoutMs + 30_000;
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', (err) =>
        reject(new BridgeError('HTTP_SOURCE', `http source: cannot listen on ${this.c.listen}: ${errorMessage(err)}`)),
      );
      this.server?.listen(port, host, () => resolve());
    });
    ctx.log.info({ listen: this.c.listen, path: `/ingest/${ctx.key}` }, 'http source listening');
  }

  /** The port actually bound (listen on port 0 picks one). */
  private port(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  request(n: number): void {
    this.credit += n;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.counts.requests++;
    const path = (req.url ?? '').split('?')[0];
    if (path !== `/ingest/${encodeURIComponent(this.ctx.key)}` && path !== `/ingest/${this.ctx.key}`)
      return answer(res, 404, { error: `no such route: POST /ingest/${this.ctx.key}` });
    if (req.method !== 'POST') return answer(res, 405, { error: 'use POST' }, { allow: 'POST' });
    // Who is calling, and how much, before a byte of the body is read.
    const who = this.authenticate(req);
    if (who !== null) {
      this.counts.unauthorized++;
      return answer(res, 401, { error: who }, { 'www-authenticate': 'Bearer' }, true);
    }
    const length = Number(req.headers['content-length'] ?? Number.NaN);
    if (Number.isFinite(length) && length > this.c.maxBodyBytes) {
      this.counts.tooLarge++;
      return answer(res, 413, { error: `the body is ${length} bytes; this endpoint takes at most ${this.c.maxBodyBytes}` }, {}, true);
    }
    if (this.stopped) return answer(res, 503, { error: 'the bridge is stopping; try again' }, { 'retry-after': '5' }, true);
    const body = await readLimited(req, this.c.maxBodyBytes);
    if (body === null) {
      this.counts.tooLarge++;
      return answer(res, 413, { error: `the body is over ${this.c.maxBodyBytes} bytes` }, {}, true);
    }
    if (this.keys.length > 0 && !this.signed(req, body)) {
      this.counts.unauthorized++;
      return answer(res, 401, { error: 'the webhook-signature does not match the body' });
    }
    const parsed = parseEvents(body, this.c.maxEvents);
    if ('error' in parsed) {
      this.counts.badRequest++;
      return answer(res, 400, { error: parsed.error });
    }
    const events = parsed.events;
    if (events.length > this.credit) {
      this.counts.busy++;
      return answer(res, 429, { error: `the route has room for ${this.credit} events now, not ${events.length}` }, { 'retry-after': '1' });
    }
    this.credit -= events.length;
    const now = new Date().toISOString();
    const channel = this.c.channel ?? `http:${this.ctx.key}`;
    const envs = events.map((payload): Envelope => {
      const replayId = String(++this.seq);
      const id = typeof payload.id === 'string' ? payload.id : typeof payload.eventId === 'string' ? payload.eventId : null;
      return {
        v: ENVELOPE_VERSION,
        org: 'http',
        channel,
        replayId,
        eventId: id ?? randomUUID(),
        schemaId: null,
        eventTime: null,
        receivedAt: now,
        kind: 'generic',
        payload,
      };
    });
    const upTo = this.seq;
    const done = this.waitFor(upTo);
    this.ctx.emit(envs);
    this.counts.accepted += envs.length;
    const ok = await done;
    if (ok) return answer(res, 200, { accepted: envs.length, position: String(upTo) });
    return answer(
      res,
      503,
      {
        error: `not yet accepted by every sink within ${this.c.ackTimeoutMs} ms; the events are queued and will be delivered (retrying sends them again)`,
      },
      { 'retry-after': '30' },
    );
  }

  /** null when the caller may write, else why not. */
  private authenticate(req: IncomingMessage): string | null {
    if (this.c.token) {
      const problem = bearerProblem(req.headers.authorization, this.c.token);
      if (problem) return problem;
    }
    if (this.keys.length > 0) {
      const [id, ts, sig] = [req.headers['webhook-id'], req.headers['webhook-timestamp'], req.headers['webhook-signature']];
      if (typeof id !== 'string' || typeof ts !== 'string' || typeof sig !== 'string')
        return 'missing webhook-id, webhook-timestamp or webhook-signature (Standard Webhooks)';
      if (!/^\d+$/.test(ts) || Math.abs(Date.now() / 1000 - Number(ts)) > TOLERANCE_S)
        return 'webhook-timestamp is more than 5 minutes from now';
    }
    return null;
  }

  private signed(req: IncomingMessage, body: Buffer): boolean {
    const h = req.headers;
    return verifySignature(this.keys, String(h['webhook-id']), String(h['webhook-timestamp']), body, String(h['webhook-signature']));
  }

  private waitFor(upTo: number): Promise<boolean> {
    return new Promise((resolve) => {
      const w: Waiter = { upTo, resolve };
      this.waiters.push(w);
      setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) {
          this.waiters.splice(i, 1);
          resolve(false);
        }
      }, this.c.ackTimeoutMs).unref();
    });
  }

  onCommitted(position: StoredPosition): void {
    const n = Number(position.replayId);
    if (!Number.isFinite(n) || n <= this.committed) return;
    this.committed = n;
    const ready = this.waiters.filter((w) => w.upTo <= n);
    this.waiters = this.waiters.filter((w) => w.upTo > n);
    for (const w of ready) w.resolve(true);
  }

  async stop(): Promise<void> {
    this.stopped = true;
  }

  async close(): Promise<void> {
    this.stopped = true;
    for (const w of this.waiters.splice(0)) w.resolve(false);
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    s?.closeAllConnections();
  }
}

function answer(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, close = false): void {
  const text = JSON.stringify(body);
  // Refused before the body was read: close the connection rather than drain an unwanted upload.
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...(close ? { connection: 'close' } : {}),
    ...headers,
  });
  res.end(text);
}

/** The body, or null once it passes `max` bytes (the rest is not read). */
function readLimited(req: IncomingMessage, max: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        resolve(null);
        req.pause();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** One JSON object or an array of them; the error names the first bad element. */
function parseEvents(body: Buffer, maxEvents: number): { events: Array<Record<string, unknown>> } | { error: string } {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return { error: `the body is not JSON: ${errorMessage(err)}` };
  }
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) return { error: 'no events: send a JSON object or a non-empty array of them' };
  if (list.length > maxEvents) return { error: `${list.length} events in one request; this endpoint takes at most ${maxEvents}` };
  for (let i = 0; i < list.length; i++) {
    const e = list[i];
    if (!e || typeof e !== 'object' || Array.isArray(e))
      return {
        error: `${Array.isArray(v) ? `[${i}]` : 'the body'}: each event must be a JSON object, not ${Array.isArray(e) ? 'an array' : e === null ? 'null' : typeof e}`,
      };
  }
  return { events: list as Array<Record<string, unknown>> };
}
