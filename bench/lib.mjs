// Shared helpers for benchmarks: start the emulator as a separate process, talk to its admin API,
// report medians and write JSON results under bench/results/.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export async function startEmulatorProcess(args = []) {
  const child = spawn(process.execPath, [join(ROOT, 'bin/sfbridge.js'), 'emulator', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const info = await new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const line = buf.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line));
    });
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
  });
  const ca = info.caCertPath ? readFileSync(info.caCertPath) : null;
  const call = (method, path, body) =>
    new Promise((resolve, reject) => {
      const url = new URL(path, info.instanceUrl);
      const fn = url.protocol === 'https:' ? request : httpRequest;
      const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      const headers = { 'content-type': typeof body === 'string' ? 'application/x-www-form-urlencoded' : 'application/json' };
      const r = fn(url, { method, ca, headers }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve(text ? JSON.parse(text) : null));
      });
      r.on('error', reject);
      if (data) r.write(data);
      r.end();
    });
  const token = async () =>
    (
      await call(
        'POST',
        '/services/oauth2/token',
        new URLSearchParams({ grant_type: 'client_credentials', client_id: info.clientId, client_secret: info.clientSecret }).toString(),
      )
    ).access_token;
  return {
    info,
    ca,
    admin: (path, body = {}) => call('POST', `/admin/${path}`, body),
    token,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGTERM');
      }),
  };
}

/** Emit `count` events in chunks (the admin API caps nothing, but chunks keep the emulator responsive). */
export async function preload(emu, spec, count) {
  let first = null;
  for (let left = count; left > 0; ) {
    const n = Math.min(left, 100_000);
    const r = await emu.admin('events/emit', { spec, count: n });
    first ??= r.firstReplayId;
    left -= n;
  }
  return first;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function report(name, rows, extra = {}) {
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const out = { name, date: new Date().toISOString(), node: process.version, cpus: cpuCount(), rows, ...extra };
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(out, null, 2)}\n`);
  console.table(rows);
  return out;
}

function cpuCount() {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('processor')).length;
  } catch {
    return null;
  }
}

export function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}
