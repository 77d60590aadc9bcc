/**
 * File dead-letter store: one append-only NDJSON log (`dead-letters.ndjson`) of `add` and `remove`
 * records, fsync'd before `add` resolves. The bridge and the `sfbridge dlq` command may use it at
 * the same time, so every change takes a lock file, and the log is re-read on each list (it stays
 * small: dead letters are the exception). `remove` compacts the log once most of it is removed.
 * A torn last line (crash mid-append) is ignored; any other unreadable line is refused with its
 * line number, because guessing would lose dead letters.
 */
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { BridgeError, RetriableError } from '../errors.js';
import { sleep } from '../retry.js';
import { type DeadLetter, type DeadLetterFilter, type DeadLetterInput, type DeadLetterStore, matches } from './types.js';

export const fileDeadLetterConfigSchema = z.strictObject({
  type: z.literal('file'),
  /** Directory holding dead-letters.ndjson; created when missing. */
  dir: z.string().min(1).default('./data/dead-letters'),
  fsync: z.boolean().default(true),
});
export type FileDeadLetterConfig = z.infer<typeof fileDeadLetterConfigSchema>;

type LogRecord = { op: 'add'; entry: DeadLetter } | { op: 'remove'; ids: string[] };

const LOCK_STALE_MS = 10_000;

export class FileDeadLetterStore implements DeadLetterStore {
  readonly dir: string;
  readonly path: string;
  private readonly lockPath: string;

  constructor(private readonly config: FileDeadLetterConfig) {
    this.dir = resolve(config.dir);
    this.path = join(this.dir, 'dead-letters.ndjson');
    this.lockPath = join(this.dir, 'dead-letters.lock');
  }

  describe(): string {
    return `file ${this.path}`;
  }

  async open(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
    } catch (err) {
      throw new BridgeError('DLQ_UNAVAILABLE', `dead-letter store: cannot create ${this.dir}: ${(err as Error).message}`);
    }
    await this.readAll(); // refuse a corrupt log at start, not at the first failure
  }

  async add(inputs: DeadLetterInput[]): Promise<DeadLetter[]> {
    if (inputs.length === 0) return [];
    const now = new Date().toISOString();
    const entries = inputs.map((e) => ({ ...e, id: `dl_${randomUUID()}`, deadLetteredAt: now }));
    await this.locked(() => this.append(entries.map((entry) => ({ op: 'add', entry }))));
    return entries;
  }

  async list(filter?: DeadLetterFilter): Promise<DeadLetter[]> {
    const all = await this.readAll();
    return [...all.entries.values()].filter((d) => matches(d, filter));
  }

  async remove(ids: string[]): Promise<number> {
    if (ids.length === 0) return 0;
    return this.locked(async () => {
      const before = await this.readAll();
      const present = ids.filter((id) => before.entries.has(id));
      if (present.length === 0) return 0;
      await this.append([{ op: 'remove', ids: present }]);
      // Compact when the log is mostly removed entries: rewrite live entries, rename over.
      const live = before.entries.size - present.length;
      if (before.records > 64 && live * 4 < before.records) {
        const gone = new Set(present);
        const keep = [...before.entries.values()].filter((d) => !gone.has(d.id));
        const tmp = `${this.path}.tmp`;
        await writeRecords(
          tmp,
          keep.map((entry) => ({ op: 'add', entry })),
          this.config.fsync,
          'w',
        );
        await rename(tmp, this.path);
      }
      return present.length;
    });
  }

  async close(): Promise<void> {}

  private async append(records: LogRecord[]): Promise<void> {
    try {
      await writeRecords(this.path, records, this.config.fsync, 'a');
    } catch (err) {
      throw new RetriableError('DLQ_WRITE', `dead-letter store ${this.path}: ${(err as Error).message}`);
    }
  }

  private async readAll(): Promise<{ entries: Map<string, DeadLetter>; records: number }> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: new Map(), records: 0 };
      throw new BridgeError('DLQ_UNAVAILABLE', `dead-letter store: cannot read ${this.path}: ${(err as Error).message}`);
    }
    const entries = new Map<string, DeadLetter>();
    const lines = text.split('\n');
    const complete = lines.length - 1; // what follows the last newline is empty or a torn append
    let records = 0;
    for (let i = 0; i < complete; i++) {
      const line = lines[i] as string;
      if (line === '') continue;
      let rec: LogRecord;
      try {
        rec = JSON.parse(line);
      } catch {
        throw new BridgeError(
          'DLQ_CORRUPT',
          `dead-letter store ${this.path} line ${i + 1} is not valid JSON; move the file aside or fix that line (nothing was changed)`,
        );
      }
      records++;
      if (rec.op === 'add' && rec.entry && typeof rec.entry.id === 'string') entries.set(rec.entry.id, rec.entry);
      else if (rec.op === 'remove' && Array.isArray(rec.ids)) for (const id of rec.ids) entries.delete(id);
      else throw new BridgeError('DLQ_CORRUPT', `dead-letter store ${this.path} line ${i + 1} is not a dead-letter record`);
    }
    return { entries, records };
  }

  /** Cross-process mutual exclusion with an O_EXCL lock file; a lock older than 10 s is stale. */
  private async locked<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const fh = await open(this.lockPath, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY);
        await fh.writeFile(String(process.pid));
        await fh.close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new RetriableError('DLQ_WRITE', `dead-letter store: cannot lock ${this.lockPath}: ${(err as Error).message}`);
        }
        const age = await stat(this.lockPath).then(
          (s) => Date.now() - s.mtimeMs,
          () => 0,
        );
        if (age > LOCK_STALE_MS) await unlink(this.lockPath).catch(() => {});
        else await sleep(2 + Math.random() * Math.min(50, 2 * attempt));
      }
    }
    try {
      return await fn();
    } finally {
      await unlink(this.lockPath).catch(() => {});
    }
  }
}

async function writeRecords(path: string, records: LogRecord[], fsync: boolean, flags: 'a' | 'w'): Promise<void> {
  const fh = await open(path, flags === 'a' ? 'a+' : 'w');
  try {
    // A torn last line (crash mid-append; never acknowledged) is cut off before appending.
    if (flags === 'a') {
      const { size } = await fh.stat();
      if (size > 0) {
        const tail = Buffer.alloc(Math.min(size, 1 << 20));
        await fh.read(tail, 0, tail.length, size - tail.length);
        if (tail[tail.length - 1] !== 0x0a) {
          const cut = tail.lastIndexOf(0x0a);
          await fh.truncate(cut < 0 ? size - tail.length : size - tail.length + cut + 1);
        }
      }
    }
    await fh.appendFile(records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    if (fsync) await fh.sync();
  } finally {
    await fh.close();
  }
}
