/**
 * The embedded default replay store: one JSON file holding every subscription's position.
 * Crash safety: each commit writes a temp file, fsyncs it, renames it over the old one and fsyncs
 * the directory, so after SIGKILL at any instant the file is either the old or the new version.
 * A file that does not parse is refused with a clear message: starting from scratch would silently
 * replay or skip data.
 */
import { constants } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { BridgeError } from '../../errors.js';
import { ensureDir, symlinkRefused, writeFileAtomic } from '../../state-files.js';
import type { CommitRequest, ReplayStore, StoredPosition } from '../types.js';

export const fileStoreConfigSchema = z.strictObject({
  type: z.literal('file'),
  /** Path of the JSON file (created on first commit). */
  path: z.string().min(1).default('./data/replay.json'),
  /** fsync every commit (turn off only for tests and benchmarks of everything else). */
  fsync: z.boolean().default(true),
});
export type FileStoreConfig = z.infer<typeof fileStoreConfigSchema>;

const fileFormat = z.strictObject({
  version: z.literal(1),
  positions: z.record(
    z.string(),
    z.strictObject({
      replayId: z.string(),
      eventTime: z.string().nullable(),
      committedAt: z.string(),
    }),
  ),
});

export class FileReplayStore implements ReplayStore {
  private readonly path: string;
  private positions = new Map<string, StoredPosition>();
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly config: FileStoreConfig) {
    this.path = resolve(config.path);
  }

  describe(): string {
    return `file ${this.path}${this.config.fsync ? '' : ' (fsync off)'}`;
  }

  async open(): Promise<void> {
    await ensureDir(dirname(this.path), 'replay store');
    this.positions = await readPositions(this.path);
  }

  async load(key: string): Promise<StoredPosition | undefined> {
    return this.positions.get(key);
  }

  async list(): Promise<StoredPosition[]> {
    return [...this.positions.values()].sort((a, b) => a.key.localeCompare(b.key));
  }

  async commit(key: string, position: CommitRequest): Promise<StoredPosition> {
    const stored: StoredPosition = {
      key,
      replayId: position.replayId,
      eventTime: position.eventTime,
      committedAt: new Date().toISOString(),
    };
    await this.persist((positions) => positions.set(key, stored));
    return stored;
  }

  async delete(key: string): Promise<boolean> {
    let removed = false;
    await this.persist((positions) => {
      removed = positions.delete(key);
    });
    return removed;
  }

  async close(): Promise<void> {
    await this.writing;
  }

  /**
   * Serialise writes: each applies its change to the state left by the previous one (so commits of
   * different keys never overwrite each other) and replaces the whole file atomically.
   */
  private persist(change: (positions: Map<string, StoredPosition>) => void): Promise<void> {
    const run = this.writing.then(async () => {
      const next = new Map(this.positions);
      change(next);
      await writeFileAtomic(this.path, serialise(next), { fsync: this.config.fsync, what: 'replay store' });
      this.positions = next;
    });
    this.writing = run.catch(() => undefined);
    return run;
  }
}

function serialise(positions: Map<string, StoredPosition>): string {
  const out: z.infer<typeof fileFormat> = { version: 1, positions: {} };
  for (const [k, p] of [...positions.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    out.positions[k] = { replayId: p.replayId, eventTime: p.eventTime, committedAt: p.committedAt };
  }
  return `${JSON.stringify(out, null, 2)}\n`;
}

/** Read and validate the store file; missing means empty, anything unparsable is refused. */
export async function readPositions(path: string): Promise<Map<string, StoredPosition>> {
  let text: string;
  try {
    text = await readFile(path, { encoding: 'utf8', flag: constants.O_RDONLY | constants.O_NOFOLLOW });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw symlinkRefused(path, 'replay store');
    throw new BridgeError('REPLAY_STORE_UNAVAILABLE', `replay store: cannot read ${path}: ${(err as Error).message}`);
  }
  let parsed: z.infer<typeof fileFormat>;
  try {
    parsed = fileFormat.parse(JSON.parse(text));
  } catch (err) {
    const why = err instanceof SyntaxError ? `not valid JSON (${err.message})` : 'unexpected structure';
    throw new BridgeError(
      'REPLAY_STORE_CORRUPT',
      `replay store ${path} is corrupt: ${why}. Refusing to start from scratch; fix or move the file, or set positions with \`sfbridge replay set\``,
    );
  }
  const map = new Map<string, StoredPosition>();
  for (const [key, p] of Object.entries(parsed.positions)) map.set(key, { key, ...p });
  return map;
}
