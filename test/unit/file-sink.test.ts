import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { FileSink, type FileSinkConfig, fileSinkConfigSchema } from '../../src/sinks/file/file-sink.js';
import { event } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';

function sink(dir: string, over: Partial<FileSinkConfig> = {}, route = 'accounts') {
  const config = fileSinkConfigSchema.parse({ type: 'file', dir, ...over });
  return new FileSink(config, { route, log: silentLogger() });
}

function readAll(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean));
}

describe('file sink', () => {
  it('writes one JSON envelope per line, in order, into a per-route file', async () => {
    const dir = tempDir();
    const s = sink(dir);
    await s.open();
    await s.write([event(0), event(1)]);
    await s.write([event(2)]);
    await s.close();
    const files = readdirSync(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^accounts-\d{8}T\d{9}Z\.ndjson$/);
    expect(readAll(dir).map((l) => JSON.parse(l).eventId)).toEqual(['e0', 'e1', 'e2']);
  });

  it('rotates by size without splitting lines', async () => {
    const dir = tempDir();
    const s = sink(dir, { maxBytes: 1000 });
    await s.open();
    for (let i = 0; i < 20; i++) await s.write([event(i)]);
    await s.close();
    const files = readdirSync(dir);
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) {
      const text = readFileSync(join(dir, f), 'utf8');
      expect(text.endsWith('\n')).toBe(true);
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(1000);
    }
    expect(readAll(dir).map((l) => JSON.parse(l).eventId)).toEqual(Array.from({ length: 20 }, (_, i) => `e${i}`));
  });

  it('rotates by age', async () => {
    const dir = tempDir();
    const s = sink(dir, { maxAgeSeconds: 1 });
    vi.useFakeTimers({ toFake: ['Date'] }); // a controlled clock; file I/O keeps real timers
    try {
      await s.open();
      await s.write([event(0)]);
      vi.setSystemTime(Date.now() + 900);
      await s.write([event(1)]); // younger than maxAgeSeconds: the same file
      expect(readdirSync(dir).filter((f) => f.endsWith('.ndjson'))).toHaveLength(1);
      vi.setSystemTime(Date.now() + 200);
      await s.write([event(2)]);
      await s.close();
    } finally {
      vi.useRealTimers();
    }
    expect(readdirSync(dir)).toHaveLength(2);
  });

  it('splits by channel when asked', async () => {
    const dir = tempDir();
    const s = sink(dir, { splitBy: 'channel' });
    await s.open();
    await s.write([event(0, '/data/AccountChangeEvent'), event(1, '/event/Order_Event__e'), event(2, '/data/AccountChangeEvent')]);
    await s.close();
    const files = readdirSync(dir).sort();
    expect(files.map((f) => f.replace(/-\d{8}T.*$/, ''))).toEqual(['data.AccountChangeEvent', 'event.Order_Event__e']);
  });

  it('after a crash, cuts the partial last line and continues the same file', async () => {
    const dir = tempDir();
    const s = sink(dir);
    await s.open();
    await s.write([event(0), event(1)]);
    await s.close();
    const [file] = readdirSync(dir);
    appendFileSync(join(dir, file as string), '{"v":1,"eventId":"torn');
    const t = sink(dir);
    await t.open();
    await t.write([event(2)]);
    await t.close();
    expect(readdirSync(dir)).toEqual([file]);
    expect(readAll(dir).map((l) => JSON.parse(l).eventId)).toEqual(['e0', 'e1', 'e2']);
  });

  it('reports an unusable directory as a clear error', async () => {
    const dir = tempDir();
    appendFileSync(join(dir, 'blocker'), 'x');
    await expect(sink(join(dir, 'blocker', 'out')).open()).rejects.toThrow(/file sink: cannot create directory/);
  });
});
