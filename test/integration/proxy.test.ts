/**
 * Through a corporate proxy: the bridge runs in a network namespace that reaches nothing but
 * tinyproxy, so every byte to the emulator (OAuth, REST, CometD, Pub/Sub gRPC) must go through a
 * CONNECT tunnel; tinyproxy's log shows them. Proxy credentials and org secrets never reach the
 * logs, and a proxy that wants credentials is one line naming the setting.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulatorOrg } from '../helpers/bridge.js';
import { BIN } from '../helpers/cli.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { createNetns, type Netns, proxyTestsUnavailable, startTinyproxy, type Tinyproxy } from '../helpers/netns.js';
import { tempDir } from '../helpers/tmp.js';
import { writeConfig } from '../reliability/harness.js';

const why = proxyTestsUnavailable();
if (why && process.env.CI === 'true') throw new Error(`CI=true and the proxy tests cannot run: ${why}`);

interface Running {
  child: ChildProcess;
  stderr: () => string;
  stop(): Promise<number | null>;
}

function runInNetns(ns: Netns, cfg: string, env: Record<string, string>): Running {
  const child = spawn(ns.exec[0] as string, [...ns.exec.slice(1), process.execPath, BIN, 'run', '-c', cfg], {
    env: { ...process.env, SFBRIDGE_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (d) => {
    err += d;
  });
  child.stdout?.on('data', (d) => {
    err += d;
  });
  return {
    child,
    stderr: () => err,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}

function lines(dir: string): any[] {
  let out: any[] = [];
  try {
    for (const f of readdirSync(dir))
      out = out.concat(
        readFileSync(join(dir, f), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l)),
      );
  } catch {}
  return out;
}

describe.skipIf(why !== null)(`through an HTTP proxy ${why ?? ''}`, () => {
  let t: TestEmulator;
  let ns: Netns;
  let proxy: Tinyproxy;
  let authProxy: Tinyproxy;
  beforeAll(async () => {
    t = await startEmulator();
    ns = createNetns();
    proxy = await startTinyproxy(ns.hostIp, 18900 + (process.pid % 50), ns.nsIp);
    authProxy = await startTinyproxy(ns.hostIp, 18960 + (process.pid % 30), ns.nsIp, { user: 'bridge', pass: 'proxy-pass-0123' });
  });
  afterAll(async () => {
    await proxy?.stop();
    await authProxy?.stop();
    ns?.remove();
    await t?.stop();
  });

  function config(dir: string, org: Record<string, unknown> = {}): string {
    const path = join(dir, 'bridge.json');
    writeFileSync(
      path,
      JSON.stringify({
        log: { level: 'info', format: 'json' },
        orgs: { emu: { ...emulatorOrg(t), ...org } },
        replayStore: { type: 'file', path: join(dir, 'replay.json') },
        deadLetter: { type: 'file', dir: join(dir, 'dlq') },
        pipeline: { commitIntervalMs: 100 },
        routes: [
          {
            name: 'accounts',
            source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent', start: 'earliest' },
            sinks: [{ type: 'file', dir: join(dir, 'pubsub') }],
          },
          {
            name: 'orders',
            source: { type: 'cometd', org: 'emu', channel: '/event/Order_Event__e', initial: 'earliest' },
            sinks: [{ type: 'file', dir: join(dir, 'cometd') }],
          },
        ],
      }),
    );
    return path;
  }

  it('cannot reach the emulator from the namespace without the proxy', async () => {
    const port = new URL(t.emu.info.instanceUrl).port;
    const probe = spawn(ns.exec[0] as string, [
      ...ns.exec.slice(1),
      process.execPath,
      '-e',
      `require('net').connect(${port}, '127.0.0.1').on('error', (e) => { console.log(e.code); process.exit(0) }).on('connect', () => { console.log('CONNECTED'); process.exit(0) })`,
    ]);
    let out = '';
    probe.stdout?.on('data', (d) => {
      out += d;
    });
    await new Promise((r) => probe.once('exit', r));
    expect(out.trim()).toBe('ECONNREFUSED');
  });

  it('sends OAuth, REST, CometD and Pub/Sub through the proxy; events arrive; nothing secret is logged', async () => {
    const dir = tempDir();
    await t.admin('events/emit', { spec: 'cdc:Account', count: 50 });
    await t.admin('events/emit', { spec: 'platform:Order_Event__e', count: 20 });
    const bridge = runInNetns(ns, config(dir), { HTTPS_PROXY: proxy.url, NO_PROXY: 'example.invalid' });
    try {
      await until(
        () => lines(join(dir, 'pubsub')).length >= 50 && lines(join(dir, 'cometd')).length >= 20,
        60_000,
        `events through the proxy; bridge log: ${bridge.stderr().slice(-2000)}`,
      );
    } finally {
      expect(await bridge.stop()).toBe(0);
    }
    const http = new URL(t.emu.info.instanceUrl).port;
    const grpc = t.emu.info.pubsubEndpoint.split(':')[1];
    expect(proxy.log()).toMatch(new RegExp(`CONNECT localhost:${http} `));
    expect(proxy.log()).toMatch(new RegExp(`CONNECT localhost:${grpc} `));
    const log = bridge.stderr();
    expect(log).toMatch(/through proxy http:\/\/10\.231\.\d+\.1:\d+ \(HTTPS_PROXY\)/);
    expect(log).not.toContain(t.emu.info.clientSecret);
    expect(log).not.toMatch(/00D\w{12}![\w.]{8,}/); // no access token (`<org id>!<opaque>`)
  });

  it('check --online: one line per org and endpoint, through the proxy, with round trips; a closed port is a FAIL line', async () => {
    const dir = tempDir();
    const cfg = config(dir);
    const c = JSON.parse(readFileSync(cfg, 'utf8'));
    c.orgs.closed = { ...c.orgs.emu, pubsubEndpoint: 'localhost:1' };
    writeFileSync(cfg, JSON.stringify(c));
    const run = spawn(ns.exec[0] as string, [...ns.exec.slice(1), process.execPath, BIN, 'check', '--online', '-c', cfg], {
      env: { ...process.env, HTTPS_PROXY: proxy.url },
    });
    let out = '';
    run.stdout?.on('data', (d) => {
      out += d;
    });
    const code = await new Promise((r) => run.once('exit', r));
    const lines = out.split('\n').filter((l) => /^\s+org /.test(l));
    expect(lines).toHaveLength(8);
    for (const e of ['oauth', 'rest', 'pubsub', 'cometd'])
      expect(
        lines.find((l) => new RegExp(`org emu\\s+${e}\\s+ok .*first \\d+ ms, then \\d+ ms through proxy http://10\\.231`).test(l)),
        `${e}: ${out}`,
      ).toBeTruthy();
    expect(
      lines.find((l) =>
        /org closed\s+pubsub\s+FAIL\s+localhost:1: .*where 7443 is blocked, set orgs\.closed\.pubsubEndpoint to api\.pubsub\.salesforce\.com:443/.test(
          l,
        ),
      ),
      out,
    ).toBeTruthy();
    expect(code).toBe(1);
  });

  it('a webhook sink takes its own proxy (with credentials) while the org goes through HTTPS_PROXY', async () => {
    // The receiver listens on this side's loopback: from the namespace, only a proxy reaches it.
    const got = new Set<string>();
    const receiver = createServer((req, res) => {
      const id = req.headers['webhook-id'];
      req.resume().on('end', () => {
        if (typeof id === 'string') got.add(id);
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const port = (receiver.address() as AddressInfo).port;
    const path = writeConfig(tempDir(), t, { type: 'pubsub', org: 'emu', topic: '/data/OpportunityChangeEvent' }, [
      {
        type: 'webhook',
        url: `http://127.0.0.1:${port}/hook`,
        secrets: ['whsec_c2VjcmV0LXNpZ25pbmcta2V5LTAx'],
        proxy: { url: authProxy.url, username: 'bridge', password: '${HOOK_PROXY_PASSWORD}' },
      },
    ]);
    const emitted = await t.admin('events/emit', { spec: 'cdc:Opportunity', count: 15 });
    const want = emitted.lastReplayId - emitted.firstReplayId + 1;
    const bridge = runInNetns(ns, path, { HTTPS_PROXY: proxy.url, HOOK_PROXY_PASSWORD: 'proxy-pass-0123' });
    try {
      await until(() => got.size >= want, 60_000, `webhooks through the proxy; bridge log: ${bridge.stderr().slice(-2000)}`);
    } finally {
      await bridge.stop();
      await new Promise((r) => receiver.close(r));
    }
    expect(authProxy.log()).toMatch(new RegExp(`CONNECT 127\\.0\\.0\\.1:${port} `));
    expect(proxy.log()).not.toMatch(new RegExp(`CONNECT 127\\.0\\.0\\.1:${port} `));
    expect(bridge.stderr()).toMatch(
      /webhook http:\/\/127\.0\.0\.1:\d+\/hook through proxy http:\/\/10\.231\.\d+\.1:\d+ \(route r webhook#0 proxy\)/,
    );
    expect(bridge.stderr()).not.toContain('proxy-pass-0123');
  });

  it('names the setting when the proxy wants credentials, and works with them (never printing them)', async () => {
    const dir = tempDir();
    const proxyUrl = authProxy.url;
    const refused = runInNetns(ns, config(dir, { proxy: { url: proxyUrl } }), {});
    try {
      // Both refusals: the login's, and the Pub/Sub probe's.
      await until(() => (refused.stderr().match(/refused CONNECT/g) ?? []).length >= 2, 30_000, 'the refusals');
    } finally {
      await refused.stop();
    }
    const refusals = refused
      .stderr()
      .split('\n')
      .filter((l) => l.includes('refused CONNECT'));
    for (const line of refusals)
      expect(line).toMatch(
        /proxy http:\/\/10\.231\.\d+\.1:\d+ \(orgs\.emu\.proxy\) refused CONNECT (127\.0\.0\.1|localhost):\d+ with 407 .*set orgs\.emu\.proxy\.username and \.password/,
      );
    const loginPort = new URL(t.emu.info.loginUrl).port;
    expect(refusals.some((l) => l.includes(`CONNECT localhost:${loginPort} `))).toBe(true);

    const okDir = tempDir();
    const ok = runInNetns(ns, config(okDir, { proxy: { url: proxyUrl, username: 'bridge', password: '${PROXY_PASSWORD}' } }), {
      PROXY_PASSWORD: 'proxy-pass-0123',
    });
    try {
      await until(
        () => lines(join(okDir, 'pubsub')).length > 0 && lines(join(okDir, 'cometd')).length > 0,
        60_000,
        `events through the authenticating proxy; ${ok.stderr().slice(-1500)}`,
      );
    } finally {
      await ok.stop();
    }
    expect(authProxy.log()).toMatch(/CONNECT localhost:\d+ /);
    expect(ok.stderr()).not.toContain('proxy-pass-0123');
    expect(ok.stderr()).not.toMatch(/refused CONNECT/);
  });
});
