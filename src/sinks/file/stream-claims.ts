/**
 * One writer per file series. Two sinks appending to the same `<dir>/<stream>-*.ndjson` would
 * overwrite each other's acknowledged lines (each tracks its own offset), so a sink claims a
 * stream before touching its files: in this process through a table, across processes through a
 * lock file `<dir>/.<stream>.lock` (O_EXCL, 0600, holding pid, host and route). A lock whose
 * process is gone (a crash) is taken over; a live one is refused with a message naming both.
 */
import { constants } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { BridgeError } from '../../errors.js';

const claimed = new Map<string, { owner: object; route: string }>();

interface LockBody {
  pid: number;
  host: string;
  route: string;
}

export function lockPathFor(dir: string, stream: string): string {
  return join(dir, `.${stream}.lock`);
}

/** Claim `stream` in `dir` for `owner` (a sink instance serving `route`); throws if another holds it. */
export async function claimStream(dir: string, stream: string, owner: object, route: string): Promise<void> {
  const path = lockPathFor(dir, stream);
  const mine = claimed.get(path);
  if (mine?.owner === owner) return;
  if (mine) {
    throw conflict(
      `routes "${mine.route}" and "${route}" both write ${join(dir, stream)}-*.ndjson`,
      'give the file sinks different `dir`s, or the routes names (or channels, with splitBy: channel) that make different file names',
    );
  }
  claimed.set(path, { owner, route });
  try {
    await takeLock(path, route, `${join(dir, stream)}-*.ndjson`);
  } catch (err) {
    claimed.delete(path);
    throw err;
  }
}

/** Release every claim `owner` holds (its lock files are removed). */
export async function releaseClaims(owner: object): Promise<void> {
  for (const [path, c] of [...claimed]) {
    if (c.owner !== owner) continue;
    claimed.delete(path);
    await unlink(path).catch(() => undefined);
  }
}

async function takeLock(path: string, route: string, series: string): Promise<void> {
  const body: LockBody = { pid: process.pid, host: hostname(), route };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW, 0o600);
      try {
        await fh.writeFile(JSON.stringify(body));
      } finally {
        await fh.close();
      }
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new BridgeError('FILE_SINK_LOCK', `file sink: cannot create lock file ${path}: ${(err as Error).message}`);
      }
    }
    const holder = await readHolder(path);
    if (holder && holder.host === body.host && holder.pid !== process.pid && alive(holder.pid)) {
      throw conflict(
        `another sfbridge process (pid ${holder.pid}, route "${holder.route}") is writing ${series}`,
        'stop it, or give this sink a different `dir`',
      );
    }
    if (holder && holder.host !== body.host) {
      throw conflict(
        `lock file ${path} is held by host ${holder.host} (pid ${holder.pid}, route "${holder.route}")`,
        'if that process is gone, delete the lock file',
      );
    }
    // Left by a process that is gone (or unreadable garbage): take it over.
    await unlink(path).catch(() => undefined);
  }
  throw conflict(`could not take lock file ${path}`, 'check who else writes to this directory');
}

async function readHolder(path: string): Promise<LockBody | null> {
  try {
    const b = JSON.parse(await readFile(path, { encoding: 'utf8', flag: constants.O_RDONLY | constants.O_NOFOLLOW })) as LockBody;
    return typeof b.pid === 'number' && typeof b.host === 'string' ? b : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function conflict(what: string, fix: string): BridgeError {
  return new BridgeError('FILE_SINK_CONFLICT', `file sink: ${what}; two writers would overwrite each other's events. Fix: ${fix}`, {
    retriable: false,
  });
}
