/**
 * A source that reads events from an NDJSON file: for replaying exported events (a file sink's
 * output, a dead-letter export) and for the offline smoke demo. The position is the byte offset
 * just past a line, as a decimal string. Lines that are envelopes pass through with that position as
 * their replayId; any other JSON object becomes the payload of a `generic` event.
 */
import { open, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { z } from 'zod';
import { ENVELOPE_VERSION, type Envelope } from '../../envelope.js';
import { BridgeError } from '../../errors.js';
import { sleep } from '../../retry.js';
import type { SourceFacts, Subscriber, SubscriberContext } from '../types.js';

export const fileSubscriberConfigSchema = z.strictObject({
  type: z.literal('file'),
  path: z.string().min(1),
  /** Channel name for events that are not envelopes already (default `file:<name>`). */
  channel: z.string().optional(),
  /** Keep watching the file for new lines (like `tail -f`) instead of ending at its end. */
  follow: z.boolean().default(false),
  pollMs: z.number().int().positive().default(500),
  batchSize: z.number().int().positive().max(10_000).default(100),
});
export type FileSubscriberConfig = z.infer<typeof fileSubscriberConfigSchema>;

/** A file has no retention and no org; its route is keyed by its path. */
export function fileSourceFacts(c: FileSubscriberConfig): SourceFacts {
  return {
    key: c.path,
    org: null,
    channel: c.channel ?? null,
    retentionMs: null,
    maxInFlight: 500,
    exclusive: [],
    snapshot: false,
    backfill: false,
  };
}

interface Line {
  text: string;
  end: number;
}

export class FileSubscriber implements Subscriber {
  private readonly path: string;
  private readonly channel: string;
  private ctx!: SubscriberContext;
  private credit = 0;
  private offset = 0;
  private buffered: Line[] = [];
  private stopped = false;
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;

  constructor(private readonly config: FileSubscriberConfig) {
    this.path = resolve(config.path);
    this.channel = config.channel ?? `file:${basename(this.path)}`;
  }

  describe(): string {
    return `file ${this.path}${this.config.follow ? ' (follow)' : ''}`;
  }

  async start(ctx: SubscriberContext): Promise<void> {
    this.ctx = ctx;
    try {
      await stat(this.path);
    } catch (err) {
      throw new BridgeError('FILE_SOURCE', `file source: cannot read ${this.path}: ${(err as Error).message}`);
    }
    if (ctx.from) {
      const n = Number(ctx.from.replayId);
      if (!Number.isSafeInteger(n) || n < 0) {
        throw new BridgeError('FILE_SOURCE', `file source: stored position "${ctx.from.replayId}" for ${ctx.key} is not a byte offset`);
      }
      this.offset = n;
    }
    this.loop = this.run().catch((err) => ctx.fail(err));
  }

  request(n: number): void {
    this.credit += n;
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    const fh = await open(this.path, 'r');
    try {
      let pending = '';
      let readPos = this.offset;
      const buf = Buffer.alloc(1024 * 1024);
      while (!this.stopped) {
        if (this.credit === 0) {
          await this.waitForCredit();
          continue;
        }
        if (this.buffered.length === 0) {
          const { bytesRead } = await fh.read(buf, 0, buf.length, readPos);
          if (bytesRead === 0) {
            if (!this.config.follow) {
              if (pending.length > 0) this.ctx.log.warn({ file: this.path }, 'file source: last line has no newline; ignored');
              this.ctx.end();
              return;
            }
            await sleep(this.config.pollMs, this.abort.signal);
            continue;
          }
          // Work in bytes: the position must be a byte offset even with multi-byte characters.
          const chunk = buf.subarray(0, bytesRead);
          let lineStart = 0;
          for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, lineStart)) {
            const text = pending + chunk.toString('utf8', lineStart, i);
            const end = readPos + i + 1;
            pending = '';
            if (text.trim().length > 0) this.buffered.push({ text, end });
            lineStart = i + 1;
          }
          pending += chunk.toString('utf8', lineStart);
          readPos += bytesRead;
          continue;
        }
        const take = Math.min(this.credit, this.config.batchSize, this.buffered.length);
        const lines = this.buffered.splice(0, take);
        this.credit -= take;
        this.ctx.emit(lines.map((l) => this.toEnvelope(l)));
      }
    } finally {
      await fh.close();
    }
  }

  private waitForCredit(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        this.wake = null;
        resolve();
      };
      if (this.credit > 0 || this.stopped) this.wake();
    });
  }

  private toEnvelope(line: Line): Envelope {
    const now = new Date().toISOString();
    const replayId = String(line.end);
    let obj: unknown;
    try {
      obj = JSON.parse(line.text);
    } catch {
      obj = { raw: line.text };
    }
    if (isEnvelope(obj)) return { ...obj, replayId, receivedAt: now };
    const record = (obj && typeof obj === 'object' ? obj : { value: obj }) as Record<string, unknown>;
    const id = typeof record.eventId === 'string' ? record.eventId : typeof record.id === 'string' ? record.id : null;
    return {
      v: ENVELOPE_VERSION,
      org: 'file',
      channel: this.channel,
      replayId,
      eventId: id ?? `${basename(this.path)}:${replayId}`,
      schemaId: null,
      eventTime: null,
      receivedAt: now,
      kind: 'generic',
      payload: record,
    };
  }
}

function isEnvelope(x: unknown): x is Envelope {
  if (!x || typeof x !== 'object') return false;
  const o = x as Record<string, unknown>;
  return (
    o.v === ENVELOPE_VERSION &&
    typeof o.channel === 'string' &&
    typeof o.kind === 'string' &&
    typeof o.eventId === 'string' &&
    'payload' in o
  );
}
