/**
 * NDJSON file sink: one envelope per line, fsync before acknowledging (configurable), rotation by
 * size and age, one file series per route or per channel. Files are named
 * `<stream>-<UTC timestamp>.ndjson` and never renamed, so rotation cannot lose or split a line.
 * After a crash the newest file may end in a partial line (never acknowledged): it is cut off on
 * the next start. A failed write (e.g. disk full) is truncated back before the retry.
 */
import type { FileHandle } from 'node:fs/promises';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { type Envelope, envelopeBytes } from '../../envelope.js';
import { BridgeError, RetriableError } from '../../errors.js';
import { ensureDir, O_CREATE_NEW, O_READ_WRITE, openNoFollow } from '../../state-files.js';
import type { Sink, SinkContext } from '../types.js';
import { claimStream, releaseClaims } from './stream-claims.js';

export const fileSinkConfigSchema = z.strictObject({
  type: z.literal('file'),
  /** Directory for the files; created when missing. */
  dir: z.string().min(1),
  /** One file series per route (default) or per channel. */
  splitBy: z.enum(['route', 'channel']).default('route'),
  /** fsync before acknowledging a batch. Off trades durability for speed. */
  fsync: z.boolean().default(true),
  /** Start a new file when the current one would grow past this many bytes. */
  maxBytes: z
    .number()
    .int()
    .positive()
    .default(256 * 1024 * 1024),
  /** Start a new file when the current one is older than this many seconds (0 = never). */
  maxAgeSeconds: z.number().int().nonnegative().default(0),
  /** Mode of new files, octal (default owner-only: they hold Salesforce data); e.g. "0640" for a reader group. */
  fileMode: z
    .string()
    .regex(/^0?[0-7]{3}$/, 'must be an octal file mode such as "0600" or "0640"')
    .default('0600'),
});
export type FileSinkConfig = z.infer<typeof fileSinkConfigSchema>;

interface OpenFile {
  path: string;
  fh: FileHandle;
  size: number;
  openedAt: number;
}

export function safeFileName(name: string): string {
  return (
    name
      .replace(/^\/+/, '')
      .replace(/\//g, '.')
      .replace(/[^A-Za-z0-9_.-]/g, '_') || 'events'
  );
}

/** The file series a sink will write for a route, when known from the config (for `check`). */
export function fileSinkClaims(config: FileSinkConfig, route: { key: string; channel: string | null }): string[] {
  const stream = config.splitBy === 'channel' ? route.channel : route.key;
  return stream === null ? [] : [`${join(resolve(config.dir), safeFileName(stream))}-*.ndjson`];
}

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace('.', '');
}

/** Parse the timestamp back out of a file name (for age-based rotation after restart). */
function stampToMs(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z/.exec(s);
  if (!m) return Date.now();
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!);
}

export class FileSink implements Sink {
  private readonly dir: string;
  private readonly files = new Map<string, OpenFile>();

  constructor(
    private readonly config: FileSinkConfig,
    private readonly ctx: SinkContext,
  ) {
    this.dir = resolve(config.dir);
  }

  private bytesWritten = 0;

  stats(): Record<string, number> {
    return { bytesWritten: this.bytesWritten };
  }

  describe(): string {
    return `file ${this.dir} (per ${this.config.splitBy}${this.config.fsync ? ', fsync' : ''})`;
  }

  async open(): Promise<void> {
    await ensureDir(this.dir, 'file sink');
  }

  async write(batch: readonly Envelope[]): Promise<void> {
    const byStream = new Map<string, Buffer[]>();
    const routeStream = safeFileName(this.ctx.route);
    for (const e of batch) {
      const stream = this.config.splitBy === 'channel' ? safeFileName(e.channel) : routeStream;
      let lines = byStream.get(stream);
      if (!lines) byStream.set(stream, (lines = []));
      lines.push(envelopeBytes(e));
    }
    const touched: OpenFile[] = [];
    for (const [stream, lines] of byStream) {
      const buf = joinLines(lines);
      const file = await this.fileFor(stream, buf.length);
      const before = file.size;
      try {
        // A write can be short (the disk filled up mid-way): loop, and treat anything less than
        // the whole buffer as a failure — acknowledging a short write would lose the tail.
        for (let off = 0; off < buf.length; ) {
          const { bytesWritten } = await file.fh.write(buf, off, buf.length - off, before + off);
          if (bytesWritten <= 0) throw Object.assign(new Error('no space left on device (short write)'), { code: 'ENOSPC' });
          off += bytesWritten;
        }
        file.size = before + buf.length;
        this.bytesWritten += buf.length;
      } catch (err) {
        await file.fh.truncate(before).catch(() => undefined);
        throw writeError(file.path, err);
      }
      touched.push(file);
    }
    if (this.config.fsync) {
      for (const f of touched) {
        try {
          await f.fh.sync();
        } catch (err) {
          throw writeError(f.path, err);
        }
      }
    }
  }

  async drain(): Promise<void> {
    for (const f of this.files.values()) await f.fh.sync().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.drain();
    for (const f of this.files.values()) await f.fh.close().catch(() => undefined);
    this.files.clear();
    await releaseClaims(this);
  }

  /** The file to append `bytes` to for `stream`, rotating or recovering as needed. */
  private async fileFor(stream: string, bytes: number): Promise<OpenFile> {
    let file = this.files.get(stream);
    if (!file) {
      await claimStream(this.dir, stream, this, this.ctx.route);
      file = await this.reopenLatest(stream);
    }
    if (file && this.mustRotate(file, bytes)) {
      await file.fh.close().catch(() => undefined);
      file = undefined;
    }
    if (!file) {
      file = await this.create(stream);
    }
    this.files.set(stream, file);
    return file;
  }

  private mustRotate(file: OpenFile, bytes: number): boolean {
    if (file.size > 0 && file.size + bytes > this.config.maxBytes) return true;
    const maxAge = this.config.maxAgeSeconds * 1000;
    return maxAge > 0 && file.size > 0 && Date.now() - file.openedAt >= maxAge;
  }

  private async create(stream: string): Promise<OpenFile> {
    let now = Date.now();
    // Two rotations within one millisecond would share a name: step the stamp forward.
    for (;;) {
      const path = join(this.dir, `${stream}-${stamp(now)}.ndjson`);
      try {
        const fh = await openNoFollow(path, O_CREATE_NEW, 'file sink', Number.parseInt(this.config.fileMode, 8));
        return { path, fh, size: 0, openedAt: now };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
          now++;
          continue;
        }
        if (err instanceof BridgeError) throw err;
        throw writeError(path, err);
      }
    }
  }

  /** Continue the newest file of a stream after a restart, cutting off a partial last line. */
  private async reopenLatest(stream: string): Promise<OpenFile | undefined> {
    const prefix = `${stream}-`;
    const names = (await readdir(this.dir))
      .filter((n) => n.startsWith(prefix) && n.endsWith('.ndjson') && /^\d{8}T/.test(n.slice(prefix.length)))
      .sort();
    const latest = names[names.length - 1];
    if (!latest) return undefined;
    const path = join(this.dir, latest);
    const fh = await openNoFollow(path, O_READ_WRITE, 'file sink', Number.parseInt(this.config.fileMode, 8));
    const size = (await fh.stat()).size;
    const good = await lastCompleteLineEnd(fh, size);
    if (good < size) {
      this.ctx.log.warn(
        { file: path, cutBytes: size - good },
        'file sink: removing a partial line left by a crash (it was never acknowledged)',
      );
      await fh.truncate(good);
      await fh.sync();
    }
    return { path, fh, size: good, openedAt: stampToMs(latest.slice(prefix.length)) };
  }
}

/** The lines, each followed by a newline, in one buffer (one write per batch and stream). */
function joinLines(lines: readonly Buffer[]): Buffer {
  let size = 0;
  for (const l of lines) size += l.length + 1;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const l of lines) {
    at += l.copy(out, at);
    out[at++] = 0x0a;
  }
  return out;
}

/** Offset just past the last newline (0 when there is none). */
async function lastCompleteLineEnd(fh: FileHandle, size: number): Promise<number> {
  const chunk = 64 * 1024;
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - chunk);
    const buf = Buffer.alloc(end - start);
    await fh.read(buf, 0, buf.length, start);
    const idx = buf.lastIndexOf(0x0a);
    if (idx >= 0) return start + idx + 1;
    end = start;
  }
  return 0;
}

function writeError(path: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const hint = code === 'ENOSPC' ? ' (disk full: free space and the bridge resumes by itself)' : '';
  return new RetriableError('FILE_SINK_WRITE', `file sink: cannot write ${path}: ${(err as Error).message}${hint}`, err);
}
