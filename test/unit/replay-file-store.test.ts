import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileReplayStore } from '../../src/replay/file/file-store.js';
import { tempDir } from '../helpers/tmp.js';

const store = (path: string) => new FileReplayStore({ type: 'file', path, fsync: true });

describe('file replay store', () => {
  it('commits, loads, lists and deletes positions, and survives reopening', async () => {
    const path = join(tempDir(), 'sub', 'replay.json');
    const s = store(path);
    await s.open();
    expect(await s.load('a')).toBeUndefined();
    await s.commit('a', { replayId: 'AAAAAAAAAAE=', eventTime: '2026-01-01T00:00:00.000Z' });
    await s.commit('b', { replayId: '42', eventTime: null });
    await s.commit('a', { replayId: 'AAAAAAAAAAI=', eventTime: '2026-01-01T00:00:01.000Z' });
    await s.close();

    const t = store(path);
    await t.open();
    const a = await t.load('a');
    expect(a).toMatchObject({ key: 'a', replayId: 'AAAAAAAAAAI=', eventTime: '2026-01-01T00:00:01.000Z' });
    expect(Number.isNaN(Date.parse(a?.committedAt ?? ''))).toBe(false);
    expect((await t.list()).map((p) => p.key)).toEqual(['a', 'b']);
    expect(await t.delete('b')).toBe(true);
    expect(await t.delete('b')).toBe(false);
    await t.close();
    const u = store(path);
    await u.open();
    expect((await u.list()).map((p) => p.key)).toEqual(['a']);
    // no temp files left behind
    expect(readdirSync(join(path, '..'))).toEqual(['replay.json']);
  });

  it('serialises concurrent commits so the last one wins', async () => {
    const path = join(tempDir(), 'replay.json');
    const s = store(path);
    await s.open();
    await Promise.all(Array.from({ length: 50 }, (_, i) => s.commit('k', { replayId: String(i), eventTime: null })));
    await s.close();
    const t = store(path);
    await t.open();
    expect((await t.load('k'))?.replayId).toBe('49');
  });

  it('keeps every key when commits of different keys run concurrently', async () => {
    const path = join(tempDir(), 'replay.json');
    const s = store(path);
    await s.open();
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.commit(`k${i}`, { replayId: String(i), eventTime: null })));
    await s.close();
    const t = store(path);
    await t.open();
    expect((await t.list()).map((p) => p.replayId).sort((a, b) => Number(a) - Number(b))).toEqual(
      Array.from({ length: 20 }, (_, i) => String(i)),
    );
  });

  it('refuses a corrupt file with a clear message instead of starting from scratch', async () => {
    const path = join(tempDir(), 'replay.json');
    writeFileSync(path, '{"version":1,"positions":{"a":{"replayId":"1"');
    await expect(store(path).open()).rejects.toThrow(
      /replay store .*replay\.json is corrupt: not valid JSON.*Refusing to start from scratch/,
    );
    writeFileSync(path, '{"version":2,"positions":{}}');
    await expect(store(path).open()).rejects.toThrow(/is corrupt: unexpected structure/);
    // the corrupt file is left untouched for the operator
    expect(readFileSync(path, 'utf8')).toBe('{"version":2,"positions":{}}');
  });

  it('reports an unwritable location as a clear error', async () => {
    const dir = tempDir();
    const blocker = join(dir, 'file');
    writeFileSync(blocker, 'x');
    await expect(store(join(blocker, 'replay.json')).open()).rejects.toThrow(/replay store: cannot create directory/);
  });
});
