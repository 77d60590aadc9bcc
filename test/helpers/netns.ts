/**
 * A host that can reach nothing but a proxy: a network namespace joined to this one by a veth
 * pair (10.231.<n>.1 here, .2 inside). Inside, 127.0.0.1 is the namespace's own loopback, so an
 * emulator listening on this side's 127.0.0.1 can only be reached through a proxy listening on
 * 10.231.<n>.1. And tinyproxy (Debian's package) as that proxy, its log kept for assertions.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './tmp.js';

export interface Netns {
  name: string;
  hostIp: string;
  nsIp: string;
  /** argv prefix that runs a command inside the namespace. */
  exec: string[];
  remove(): void;
}

/** Why tinyproxy cannot be started here, or null when it can. */
export function tinyproxyUnavailable(): string | null {
  return existsSync('/usr/bin/tinyproxy') || existsSync('/usr/sbin/tinyproxy') ? null : 'needs tinyproxy (apt-get install tinyproxy)';
}

/** Why this machine cannot run the proxy tests, or null when it can (root, ip netns, tinyproxy). */
export function proxyTestsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (ip netns)';
  const noProxy = tinyproxyUnavailable();
  if (noProxy) return noProxy;
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
  } catch {
    return 'needs ip netns (iproute2)';
  }
  return null;
}

let counter = 0;

export function createNetns(): Netns {
  const n = (process.pid % 200) + 20 + counter++;
  const name = `sfb-px-${process.pid}-${counter}`;
  const host = `sfbh${n}`;
  const peer = `sfbp${n}`;
  const hostIp = `10.231.${n}.1`;
  const nsIp = `10.231.${n}.2`;
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  ip('netns', 'add', name);
  ip('link', 'add', host, 'type', 'veth', 'peer', 'name', peer);
  ip('link', 'set', peer, 'netns', name);
  ip('addr', 'add', `${hostIp}/30`, 'dev', host);
  ip('link', 'set', host, 'up');
  ip('netns', 'exec', name, 'ip', 'addr', 'add', `${nsIp}/30`, 'dev', peer);
  ip('netns', 'exec', name, 'ip', 'link', 'set', peer, 'up');
  ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
  return {
    name,
    hostIp,
    nsIp,
    exec: ['ip', 'netns', 'exec', name],
    remove() {
      try {
        ip('link', 'del', host);
      } catch {}
      try {
        ip('netns', 'del', name);
      } catch {}
    },
  };
}

export interface Tinyproxy {
  url: string;
  log(): string;
  stop(): Promise<void>;
}

/** tinyproxy on host:port, allowing only `allow`, logging every CONNECT; `auth` turns on Basic auth. */
export async function startTinyproxy(host: string, port: number, allow: string, auth?: { user: string; pass: string }): Promise<Tinyproxy> {
  const dir = tempDir();
  const conf = join(dir, 'tinyproxy.conf');
  writeFileSync(
    conf,
    [
      `Port ${port}`,
      `Listen ${host}`,
      'Timeout 600',
      'LogLevel Connect',
      'MaxClients 200',
      `Allow ${allow}`,
      'DisableViaHeader Yes',
      // No ConnectPort lines: CONNECT to any port (the emulator's are random; Salesforce's Pub/Sub is 7443).
      ...(auth ? [`BasicAuth ${auth.user} ${auth.pass}`] : []),
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('tinyproxy', ['-d', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const start = Date.now();
  // Ready when it says it is accepting connections (a signal, not a sleep).
  while (!/listening on|Reloading config file finished|done sending stored logs/i.test(out)) {
    if (child.exitCode !== null) throw new Error(`tinyproxy exited: ${out}`);
    if (Date.now() - start > 10_000) throw new Error(`tinyproxy did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://${host}:${port}`,
    log: () => out,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
