import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileDeadLetterStore } from '../../src/deadletter/file-store.js';
import type { DeadLetterInput } from '../../src/deadletter/types.js';
import { event } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';

const input = (i: number, route = 'r'): DeadLetterInput => ({
  route,
  sink: 'webhook#0',
  envelope: event(i),
  error: `boom ${i}`,
  attempts: 3,
  firstFailedAt: new Date(0).toISOString(),
});

const storeIn = (dir: string) => new FileDeadLetterStore({ type: 'file', dir, fsync: true });

describe('file dead-letter store', () => {
  it('adds, lists with filters, removes, and survives reopening', async () => {
    const dir = tempDir();
    const s = storeIn(dir);
    await s.open();
    const added = await s.add([input(1), input(2, 'other'), input(3)]);
    expect(added.map((d) => d.id.startsWith('dl_'))).toEqual([true, true, true]);
    expect((await s.list({ route: 'r' })).map((d) => d.envelope?.eventId)).toEqual(['e1', 'e3']);
    expect(await s.remove([added[0]!.id, 'dl_unknown'])).toBe(1);
    const again = storeIn(dir);
    await again.open();
    expect((await again.list()).map((d) => d.error)).toEqual(['boom 2', 'boom 3']);
  });

  it('ignores a torn last line (crash mid-append) and appends cleanly after it', async () => {
    const dir = tempDir();
    const s = storeIn(dir);
    await s.add([input(1)]);
    appendFileSync(join(dir, 'dead-letters.ndjson'), '{"op":"add","entry":{"id":"dl_torn"');
    expect(await s.list()).toHaveLength(1);
    await s.add([input(2)]);
    const lines = readFileSync(join(dir, 'dead-letters.ndjson'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
    expect((await s.list()).map((d) => d.envelope?.eventId)).toEqual(['e1', 'e2']);
  });

  it('refuses a corrupt line in the middle with its line number instead of dropping dead letters', async () => {
    const dir = tempDir();
    const s = storeIn(dir);
    await s.add([input(1)]);
    const path = join(dir, 'dead-letters.ndjson');
    writeFileSync(path, `not json\n${readFileSync(path, 'utf8')}`);
    await expect(storeIn(dir).open()).rejects.toThrow(
      /dead-letters\.ndjson line 1 is not valid JSON; move the file aside or fix that line/,
    );
  });

  it('compacts once most entries are removed, keeping the live ones', async () => {
    const dir = tempDir();
    const s = storeIn(dir);
    const added = await s.add(Array.from({ length: 100 }, (_, i) => input(i)));
    await s.remove(added.slice(0, 90).map((d) => d.id));
    const lines = readFileSync(join(dir, 'dead-letters.ndjson'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(10);
    expect((await s.list()).map((d) => d.envelope?.eventId)).toEqual(added.slice(90).map((d) => d.envelope?.eventId));
  });

  it('two writers at once (bridge and CLI) lose nothing', async () => {
    const dir = tempDir();
    const a = storeIn(dir);
    const b = storeIn(dir);
    await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => a.add([input(i)])),
      ...Array.from({ length: 20 }, (_, i) => b.add([input(100 + i)])),
    ]);
    expect(await a.list()).toHaveLength(40);
  });
});
