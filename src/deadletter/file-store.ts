/**
 * File dead-letter store: one append-only NDJSON log (`dead-letters.ndjson`) of `add` and `remove`
 * records, fsync'd before `add` resolves. The bridge and the `sfbridge dlq` command may use it at
 * the same time, so every change takes a lock file, and the log is re-read on each list (it stays
 * small: dead letters are the exception). `remove` compacts the log once most of it is removed.
 * A torn last line (crash mid-append) is ignored; any other unreadable line is refused with its
 * line number, because guessing would lose dead letters.
 *
 * Integrity: each entry carries an HMAC-SHA256 (`mac`) keyed by `signingKey` from the config, or
 * by a random key the store creates once in `dead-letters.key` (0600). `list` marks entries whose
 * MAC does not match as `tampered`, and `sfbridge dlq replay` refuses them: an entry appended or
 * altered by someone who could write the file is not re-sent with a valid webhook signature.
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { constants } from 'node:fs';
import { link, readFile, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { BridgeError, RetriableError } from '../errors.js';
import { registerSecret } from '../log.js';
import { sleep } from '../retry.js';
import { ensureDir, O_CREATE_NEW, openNoFollow, symlinkRefused, writeFileAtomic } from '../state-files.js';
import { type DeadLetter, type DeadLetterFilter, type DeadLetterInput, type DeadLetterStore, matches } from './types.js';

export const fileDeadLetterConfigSchema = z.strictObject({
  type: z.literal('file'),
  /** Directory holding dead-letters.ndjson; created when missing. */
  dir: z.string().min(1).default('./data/dead-letters'),
  fsync: z.boolean().default(true),
  /**
   * Key for each entry's integrity MAC (e.g. "${file:/run/secrets/dlq-key}", 16+ characters).
   * Default: a random key kept in <dir>/dead-letters.key, created on first use.
   */
  signingKey: z.string().min(16, 'must be at least 16 characters').optional(),
});
export type FileDeadLetterConfig = z.infer<typeof fileDeadLetterConfigSchema>;

type LogRecord = { op: 'add'; entry: DeadLetter } | { op: 'remove'; ids: string[] };

const LOCK_STALE_MS = 10_000;

export class FileDeadLetterStore implements DeadLetterStore {
  readonly dir: string;
  readonly path: string;
  private readonly lockPath: string;
  private key: Buffer | null = null;
  private keyLoading: Promise<void> | null = null;

  constructor(private readonly config: FileDeadLetterConfig) {
    this.dir = resolve(config.dir);
    this.path = join(this.dir, 'dead-letters.ndjson');
    this.lockPath = join(this.dir, 'dead-letters.lock');
    if (config.signingKey) registerSecret(config.signingKey);
  }

  describe(): string {
    return `file ${this.path}`;
  }

  async open(): Promise<void> {
    await this.ensureKey();
    await this.readAll(); // refuse a corrupt log at start, not at the first failure
  }

  async add(inputs: DeadLetterInput[]): Promise<DeadLetter[]> {
    if (inputs.length === 0) return [];
    await this.ensureKey();
    const now = new Date().toISOString();
    const entries: DeadLetter[] = inputs.map((e) => {
      const entry: DeadLetter = { ...e, id: `dl_${randomUUID()}`, deadLetteredAt: now };
      entry.mac = this.mac(entry);
      return entry;
    });
    await this.locked(() => this.append(entries.map((entry) => ({ op: 'add', entry }))));
    return entries;
  }

  async list(filter?: DeadLetterFilter): Promise<DeadLetter[]> {
    await this.ensureKey();
    const all = await this.readAll();
    return [...all.entries.values()].filter((d) => matches(d, filter)).map((d) => (this.verify(d) ? d : { ...d, tampered: true }));
  }

  private mac(entry: DeadLetter): string {
    if (!this.key) throw new BridgeError('DLQ_UNAVAILABLE', 'dead-letter store used before open()');
    const { mac: _mac, tampered: _t, ...signed } = entry;
    return createHmac('sha256', this.key).update(JSON.stringify(signed)).digest('base64url');
  }

  private verify(entry: DeadLetter): boolean {
    if (typeof entry.mac !== 'string') return false;
    const want = Buffer.from(this.mac(entry));
    const got = Buffer.from(entry.mac);
    return want.length === got.length && timingSafeEqual(want, got);
  }

  /** The directory (0700) and the MAC key, once. */
  private ensureKey(): Promise<void> {
    this.keyLoading ??= (async () => {
      await ensureDir(this.dir, 'dead-letter store');
      this.key = this.config.signingKey ? Buffer.from(this.config.signingKey, 'utf8') : await this.localKey();
    })();
    this.keyLoading.catch(() => {
      this.keyLoading = null; // try again next time (e.g. the directory was not writable yet)
    });
    return this.keyLoading;
  }

  /** The store's own MAC key: created once (0600, never through a symlink), then read. */
  private async localKey(): Promise<Buffer> {
    const path = join(this.dir, 'dead-letters.key');
    // Written whole under a private name, then linked into place (link refuses an existing name):
    // a second process starting at the same moment never reads a half-written key.
    const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      const fh = await openNoFollow(temp, O_CREATE_NEW, 'dead-letter store');
      try {
        await fh.writeFile(randomBytes(32).toString('hex'));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await link(temp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await unlink(temp).catch(() => undefined);
    }
    try {
      const text = await readFile(path, { encoding: 'utf8', flag: constants.O_RDONLY | constants.O_NOFOLLOW });
      if (!/^[0-9a-f]{64}$/.test(text.trim())) throw new Error('not a 64-digit hex key');
      return Buffer.from(text.trim(), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw symlinkRefused(path, 'dead-letter store');
      throw new BridgeError('DLQ_UNAVAILABLE', `dead-letter store: cannot read its key ${path}: ${(err as Error).message}`);
    }
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
        const text = keep.map((entry) => `${JSON.stringify({ op: 'add', entry })}\n`).join('');
        await writeFileAtomic(this.path, text, { fsync: this.config.fsync, what: 'dead-letter store' });
      }
      return present.length;
    });
  }

  async close(): Promise<void> {}

  private async append(records: LogRecord[]): Promise<void> {
    try {
      await appendRecords(this.path, records, this.config.fsync);
    } catch (err) {
      if (err instanceof BridgeError) throw err;
      throw new RetriableError('DLQ_WRITE', `dead-letter store ${this.path}: ${(err as Error).message}`);
    }
  }

  private async readAll(): Promise<{ entries: Map<string, DeadLetter>; records: number }> {
    let text: string;
    try {
      text = await readFile(this.path, { encoding: 'utf8', flag: constants.O_RDONLY | constants.O_NOFOLLOW });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: new Map(), records: 0 };
      if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw symlinkRefused(this.path, 'dead-letter store');
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
        const fh = await openNoFollow(this.lockPath, O_CREATE_NEW, 'dead-letter store');
        await fh.writeFile(String(process.pid));
        await fh.close();
        break;
      } catch (err) {
        if (err instanceof BridgeError) throw err;
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

async function appendRecords(path: string, records: LogRecord[], fsync: boolean): Promise<void> {
  // Never through a symlink, always 0600: dead letters hold Salesforce data.
  const fh = await openNoFollow(path, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND, 'dead-letter store');
  try {
    // A torn last line (crash mid-append; never acknowledged) is cut off before appending.
    const { size } = await fh.stat();
    if (size > 0) {
      const tail = Buffer.alloc(Math.min(size, 1 << 20));
      await fh.read(tail, 0, tail.length, size - tail.length);
      if (tail[tail.length - 1] !== 0x0a) {
        const cut = tail.lastIndexOf(0x0a);
        await fh.truncate(cut < 0 ? size - tail.length : size - tail.length + cut + 1);
      }
    }
    await fh.appendFile(`${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
    if (fsync) await fh.sync();
  } finally {
    await fh.close();
  }
}
