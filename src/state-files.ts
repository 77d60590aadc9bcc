/**
 * Every file the bridge writes (replay positions, dead letters, sink output, locks) goes through
 * here, so the same rules hold everywhere: files are created 0600 and directories 0700 whatever
 * the umask (they hold Salesforce data and positions), and a symlink where a file should be is
 * refused rather than followed (a planted link must not make the bridge truncate another file).
 */
import { closeSync, constants, fsyncSync, openSync } from 'node:fs';
import { type FileHandle, mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BridgeError, RetriableError } from './errors.js';

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/** Create `dir` (and parents) as 0700; an existing directory keeps its mode. */
export async function ensureDir(dir: string, what: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
  } catch (err) {
    throw new BridgeError('STATE_DIR', `${what}: cannot create directory ${dir}: ${(err as Error).message}`);
  }
}

/**
 * Open without following a symlink at `path` (O_NOFOLLOW). A file this process creates gets
 * `mode`; an existing one is narrowed to it, so files left by an older version under a lax umask
 * are fixed on the next start.
 */
export async function openNoFollow(path: string, flags: number, what: string, mode = FILE_MODE): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await open(path, flags | constants.O_NOFOLLOW, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw symlinkRefused(path, what);
    throw err;
  }
  if (flags & (constants.O_WRONLY | constants.O_RDWR)) {
    await fh.chmod(mode).catch(() => undefined);
  }
  return fh;
}

export function symlinkRefused(path: string, what: string): BridgeError {
  return new BridgeError(
    'STATE_SYMLINK',
    `${what}: ${path} is a symbolic link; refusing to follow it (it could point at any file). Remove the link; the bridge creates its own files`,
  );
}

export const O_READ_WRITE = constants.O_RDWR;
export const O_CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;

/**
 * Replace `path` atomically: write a temp file (0600, never following links), fsync it, rename it
 * over, fsync the directory. After a crash at any instant the file is the old or the new version.
 */
export async function writeFileAtomic(path: string, content: string, opts: { fsync: boolean; what: string; mode?: number }): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  try {
    const fh = await openNoFollow(tmp, O_CREATE_NEW, opts.what, opts.mode ?? FILE_MODE);
    try {
      await fh.writeFile(content, 'utf8');
      if (opts.fsync) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    if (opts.fsync) fsyncDir(dirname(path));
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    if (err instanceof BridgeError) throw err;
    throw new RetriableError('STATE_WRITE', `${opts.what}: cannot write ${path}: ${(err as Error).message}`, err);
  }
}

/** A rename is durable only once the directory entry is. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
