/**
 * Crash safety: the real CLI bridges a file source into the file sink with the file replay store
 * and is SIGKILLed at random moments. After every kill the replay file must parse, and every event
 * up to the committed position must already be in the sink (commit only after ack). At the end the
 * sink holds every event at least once.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPositions } from '../../src/replay/file/file-store.js';
import { runCli, startCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const EVENTS = 100_000;
const KILLS = 12;

function sinkIds(out: string): string[] {
  let names: string[] = [];
  try {
    names = readdirSync(out)
      .filter((n) => n.endsWith('.ndjson'))
      .sort();
  } catch {
    return [];
  }
  const ids: string[] = [];
  for (const f of names) {
    const text = readFileSync(join(out, f), 'utf8');
    const complete = text.slice(0, text.lastIndexOf('\n') + 1);
    for (const line of complete.split('\n')) if (line) ids.push(JSON.parse(line).eventId);
  }
  return ids;
}

describe('crash safety (SIGKILL)', () => {
  it(`loses nothing across ${KILLS} SIGKILLs at random moments`, async () => {
    const dir = tempDir();
    const input = join(dir, 'in.ndjson');
    const ends: number[] = [];
    let offset = 0;
    const lines: string[] = [];
    for (let i = 0; i < EVENTS; i++) {
      const line = `${JSON.stringify({ id: `ev-${i}`, payload: 'x'.repeat(100) })}\n`;
      offset += Buffer.byteLength(line);
      ends.push(offset);
      lines.push(line);
    }
    writeFileSync(input, lines.join(''));
    const out = join(dir, 'out');
    const replay = join(dir, 'replay.json');
    const cfg = (follow: boolean) => {
      const p = join(dir, `bridge-${follow}.yaml`);
      writeFileSync(
        p,
        `replayStore: { type: file, path: ${replay} }
pipeline: { maxInFlight: 300, maxBatchEvents: 100, commitIntervalMs: 20, commitMaxEvents: 200 }
routes:
  - name: crash
    source: { type: file, path: ${input}, follow: ${follow}, batchSize: 50 }
    sinks: [{ type: file, dir: ${out}, maxBytes: 2000000 }]
`,
      );
      return p;
    };
    const followCfg = cfg(true);
    const progress: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      const { child, result } = startCli(['run', '-c', followCfg], { env: { SFBRIDGE_LOG_LEVEL: 'info' } });
      // Kill at a random moment while events flow (or, once in a while, during startup).
      if (k % 4 !== 3) {
        let started = false;
        child.stderr?.on('data', (d) => {
          if (String(d).includes('bridge running')) started = true;
        });
        while (!started && child.exitCode === null) await new Promise((r) => setTimeout(r, 5));
      }
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 250));
      child.kill('SIGKILL');
      const r = await result;
      expect(r.signal).toBe('SIGKILL');

      // The replay file is never corrupt, and never ahead of the sink.
      const positions = await readPositions(replay);
      const committed = positions.get('crash');
      const ids = new Set(sinkIds(out));
      if (committed) {
        const upTo = ends.indexOf(Number(committed.replayId));
        expect(upTo, `committed offset ${committed.replayId} is a line end`).toBeGreaterThanOrEqual(0);
        for (let i = 0; i <= upTo; i++) {
          if (!ids.has(`ev-${i}`)) throw new Error(`kill ${k}: ev-${i} is committed but not in the sink`);
        }
        progress.push(upTo + 1);
      } else {
        progress.push(0);
      }
    }
    // Progress was made between kills (the kills landed while events were flowing).
    expect(progress[progress.length - 1]).toBeGreaterThan(0);

    const final = await runCli(['run', '-c', cfg(false)], { env: { SFBRIDGE_LOG_LEVEL: 'warn' } });
    expect(final.code, final.stderr).toBe(0);
    const all = sinkIds(out);
    const unique = new Set(all);
    const missing = Array.from({ length: EVENTS }, (_, i) => `ev-${i}`).filter((id) => !unique.has(id));
    expect(missing).toEqual([]);
    const duplicates = all.length - unique.size;
    // Duplicates come only from events written but not yet committed at each kill.
    expect(duplicates).toBeLessThanOrEqual(KILLS * (300 + 200 + 100));
    console.log(`crash test: ${KILLS} kills, committed progress per kill ${progress.join(',')}, ${duplicates} duplicates`);
  }, 180_000);
});
