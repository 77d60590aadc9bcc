/**
 * Hostile-input cases for the files the bridge writes (issue 14): a planted symlink is refused,
 * never followed; state files are 0600 and directories 0700 whatever the umask; two writers of
 * one file series are refused; forged or altered dead letters are detected.
 */
import { appendFileSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileDeadLetterStore } from '../../src/deadletter/file-store.js';
import { silentLogger } from '../../src/log.js';
import { FileReplayStore } from '../../src/replay/file/file-store.js';
import { FileSink, fileSinkConfigSchema } from '../../src/sinks/file/file-sink.js';
import { topicFor } from '../../src/sinks/kafka/kafka-sink.js';
import { event } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';

const sink = (dir: string, route = 'r', over: Record<string, unknown> = {}) =>
  new FileSink(fileSinkConfigSchema.parse({ type: 'file', dir, ...over }), { route, log: silentLogger() });
const mode = (p: string) => statSync(p).mode & 0o777;
const dlqInput = (i: number) => ({
  route: 'r',
  sink: 'webhook#0',
  envelope: event(i),
  error: 'x',
  attempts: 1,
  firstFailedAt: new Date(0).toISOString(),
});

describe('state files: symlinks are refused, never followed', () => {
  it('file sink: a link planted where the newest output file is does not truncate its target', async () => {
    const dir = tempDir();
    const victim = join(tempDir(), 'victim.txt');
    writeFileSync(victim, 'precious data without a final newline');
    symlinkSync(victim, join(dir, 'r-20260101T000000000Z.ndjson'));
    const s = sink(dir);
    await s.open();
    await expect(s.write([event(1)])).rejects.toThrow(/r-20260101T000000000Z\.ndjson is a symbolic link; refusing to follow it/);
    await s.close();
    expect(readFileSync(victim, 'utf8')).toBe('precious data without a final newline');
  });

  it('dead-letter store: a linked log file is refused', async () => {
    const dir = tempDir();
    const victim = join(tempDir(), 'victim.txt');
    writeFileSync(victim, 'keep me\n');
    symlinkSync(victim, join(dir, 'dead-letters.ndjson'));
    const s = new FileDeadLetterStore({ type: 'file', dir, fsync: true });
    await expect(s.open()).rejects.toThrow(/dead-letters\.ndjson is a symbolic link/);
    await expect(s.add([dlqInput(1)])).rejects.toThrow(/symbolic link/);
    expect(readFileSync(victim, 'utf8')).toBe('keep me\n');
  });

  it('replay store: a linked replay file is refused', async () => {
    const dir = tempDir();
    const victim = join(tempDir(), 'victim.json');
    writeFileSync(victim, '{"version":1,"positions":{}}');
    symlinkSync(victim, join(dir, 'replay.json'));
    const s = new FileReplayStore({ type: 'file', path: join(dir, 'replay.json'), fsync: true });
    await expect(s.open()).rejects.toThrow(/replay\.json is a symbolic link/);
  });
});

describe('state files: owner-only modes whatever the umask', () => {
  let old = 0;
  beforeEach(() => {
    old = process.umask(0);
  });
  afterEach(() => {
    process.umask(old);
  });

  it('file sink output, dead letters, their key and replay positions are 0600 in 0700 directories', async () => {
    const root = tempDir();
    const out = join(root, 'out');
    const s = sink(out);
    await s.open();
    await s.write([event(1)]);
    const dlqDir = join(root, 'dlq');
    const d = new FileDeadLetterStore({ type: 'file', dir: dlqDir, fsync: true });
    await d.open();
    await d.add([dlqInput(1)]);
    const r = new FileReplayStore({ type: 'file', path: join(root, 'state', 'replay.json'), fsync: true });
    await r.open();
    await r.commit('r', { replayId: '1', eventTime: null });
    const { readdirSync } = await import('node:fs');
    const outFile = readdirSync(out).find((n) => n.endsWith('.ndjson')) as string;
    expect(mode(out)).toBe(0o700);
    expect(mode(join(out, outFile))).toBe(0o600);
    expect(mode(dlqDir)).toBe(0o700);
    expect(mode(join(dlqDir, 'dead-letters.ndjson'))).toBe(0o600);
    expect(mode(join(dlqDir, 'dead-letters.key'))).toBe(0o600);
    expect(mode(join(root, 'state'))).toBe(0o700);
    expect(mode(join(root, 'state', 'replay.json'))).toBe(0o600);
    await s.close();
  });

  it('a file sink fileMode lets a reader group in', async () => {
    const out = join(tempDir(), 'out');
    const s = sink(out, 'r', { fileMode: '0640' });
    await s.open();
    await s.write([event(1)]);
    await s.close();
    const { readdirSync } = await import('node:fs');
    expect(mode(join(out, readdirSync(out)[0] as string))).toBe(0o640);
  });
});

describe('file sink: one writer per file series', () => {
  it('a second sink on the same series in this process is refused, naming both routes', async () => {
    const dir = tempDir();
    const a = sink(dir, 'x/y');
    const b = sink(dir, 'x.y');
    await a.open();
    await b.open();
    await a.write([event(1)]);
    await expect(b.write([event(2)])).rejects.toThrow(/routes "x\/y" and "x\.y" both write .*x\.y-\*\.ndjson/);
    await a.close();
    await b.write([event(2)]); // released: now b may write
    await b.close();
  });

  it('a live process holding the series is refused; a lock left by a dead one is taken over', async () => {
    const dir = tempDir();
    mkdirSync(dir, { recursive: true });
    const lock = join(dir, '.r.lock');
    writeFileSync(lock, JSON.stringify({ pid: process.ppid, host: hostname(), route: 'other' }));
    const s = sink(dir);
    await s.open();
    await expect(s.write([event(1)])).rejects.toThrow(new RegExp(`another sfbridge process \\(pid ${process.ppid}, route "other"\\)`));
    writeFileSync(lock, JSON.stringify({ pid: 2 ** 22 + 17, host: hostname(), route: 'crashed' }));
    await s.write([event(1)]);
    expect(JSON.parse(readFileSync(lock, 'utf8'))).toMatchObject({ pid: process.pid, route: 'r' });
    await s.close();
    expect(() => lstatSync(lock)).toThrow(/ENOENT/);
  });
});

describe('dead letters: forged or altered entries are detected', () => {
  it('marks an appended forgery and an edited entry as tampered, keeps genuine ones verified', async () => {
    const dir = tempDir();
    const s = new FileDeadLetterStore({ type: 'file', dir, fsync: true });
    await s.open();
    const [genuine, edited] = await s.add([dlqInput(1), dlqInput(2)]);
    const path = join(dir, 'dead-letters.ndjson');
    // An attacker appends an entry of their own and edits another one's payload.
    const forged = { ...genuine, id: 'dl_forged', envelope: { ...event(9), payload: { Amount: 1e9 } } };
    appendFileSync(path, `${JSON.stringify({ op: 'add', entry: forged })}\n`);
    writeFileSync(path, readFileSync(path, 'utf8').replace(`"id":"${edited?.id}"`, `"id":"${edited?.id}","extra":1`));
    const list = await new FileDeadLetterStore({ type: 'file', dir, fsync: true }).list();
    const byId = new Map(list.map((d) => [d.id, d]));
    expect(byId.get(genuine?.id as string)?.tampered).toBeUndefined();
    expect(byId.get(edited?.id as string)?.tampered).toBe(true);
    expect(byId.get('dl_forged')?.tampered).toBe(true);
  });

  it('a configured signingKey is used instead of the local key file', async () => {
    const dir = tempDir();
    const a = new FileDeadLetterStore({ type: 'file', dir, fsync: true, signingKey: 'k'.repeat(32) });
    await a.add([dlqInput(1)]);
    const other = new FileDeadLetterStore({ type: 'file', dir, fsync: true, signingKey: 'z'.repeat(32) });
    expect((await other.list())[0]?.tampered).toBe(true);
    expect((await a.list())[0]?.tampered).toBeUndefined();
  });
});

describe('kafka sink: topic names', () => {
  it('a template that yields a name Kafka refuses is a permanent error naming the template', () => {
    expect(() => topicFor('{route}', event(1), '..')).toThrow(/topic template "\{route\}" gives "\.\."/);
    expect(topicFor('sf.{route}', event(1), '..')).toBe('sf...');
  });
});
