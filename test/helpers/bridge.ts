/** Build and run a Bridge in-process against a test emulator. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log.js';
import { Bridge } from '../../src/pipeline/bridge.js';
import { configSchema } from '../../src/registry.js';
import type { TestEmulator } from './emulator.js';

export interface LogCapture {
  lines(): Array<Record<string, unknown>>;
  text(): string;
}

export function captureLogger(level = 'debug') {
  const chunks: string[] = [];
  const stream = new Writable({
    write(c, _e, cb) {
      chunks.push(String(c));
      cb();
    },
  });
  const log = createLogger({ level, format: 'json', destination: stream });
  const capture: LogCapture = {
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
  };
  return { log, capture };
}

export function emulatorOrg(t: TestEmulator) {
  const i = t.emu.info;
  return {
    loginUrl: i.loginUrl,
    caCertFile: i.caCertPath ?? undefined,
    pubsubEndpoint: i.pubsubEndpoint,
    plaintext: !i.tls,
    auth: { flow: 'client_credentials', clientId: i.clientId, clientSecret: i.clientSecret },
  };
}

export function makeBridge(t: TestEmulator, dir: string, routes: unknown[], extra: Record<string, unknown> = {}, level = 'info') {
  const config = configSchema.parse({
    orgs: { emu: emulatorOrg(t) },
    replayStore: { type: 'file', path: join(dir, 'replay.json') },
    deadLetter: { type: 'file', dir: join(dir, 'dead-letters') },
    pipeline: { commitIntervalMs: 50 },
    routes,
    ...extra,
  });
  const { log, capture } = captureLogger(level);
  return { bridge: new Bridge(config, log), capture, config };
}

/** Every envelope the file sink wrote under `dir`, in file order. */
export function readSink(dir: string): any[] {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => n.endsWith('.ndjson'))
      .sort();
  } catch {
    return [];
  }
  return names.flatMap((f) => {
    // A file still being written may end in a partial line (no newline yet): leave it for later.
    const text = readFileSync(join(dir, f), 'utf8');
    const complete = text.slice(0, text.lastIndexOf('\n') + 1);
    return complete
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  });
}

export function b64(seq: number): string {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(seq));
  return b.toString('base64');
}
