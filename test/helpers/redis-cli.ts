/** Read a Redis stream back with redis-cli (a client independent of the bridge's ioredis). */
import { spawnSync } from 'node:child_process';

/** Every entry's `envelope` field (layout envelope), parsed, in stream order. */
export function readStreamEnvelopes(url: string, key: string): any[] {
  const r = spawnSync('redis-cli', ['-u', url, '--raw', 'XRANGE', key, '-', '+'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`redis-cli failed: ${r.stderr}`);
  const lines = r.stdout.split('\n');
  const out: any[] = [];
  // --raw prints each entry as: id, field, value, field, value…; envelope entries have one pair.
  for (let i = 0; i + 2 < lines.length; i += 3) {
    if (lines[i + 1] !== 'envelope') throw new Error(`unexpected entry layout at line ${i}: ${lines[i + 1]}`);
    out.push(JSON.parse(lines[i + 2] as string));
  }
  return out;
}
