import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emulatorOrg } from '../helpers/bridge.js';
import { ROOT, runCli, startCli } from '../helpers/cli.js';
import { startEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';

function inputFile(dir: string, n: number, start = 0): string {
  const path = join(dir, 'in.ndjson');
  const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ id: `ev-${start + i}`, n: start + i }));
  writeFileSync(path, `${lines.join('\n')}\n`, { flag: 'a' });
  return path;
}

function bridgeConfig(dir: string, extra: { follow?: boolean; health?: boolean; port?: number } = {}): string {
  const path = join(dir, 'bridge.yaml');
  writeFileSync(
    path,
    `${extra.health ? `health: { port: ${extra.port ?? 0} }\n` : ''}replayStore: { type: file, path: ${join(dir, 'replay.json')} }
pipeline: { commitIntervalMs: 50 }
routes:
  - name: r1
    source: { type: file, path: ${join(dir, 'in.ndjson')}, follow: ${extra.follow ?? false}, pollMs: 50 }
    sinks: [{ type: file, dir: ${join(dir, 'out')} }]
`,
  );
  return path;
}

function sinkIds(dir: string): string[] {
  const out = join(dir, 'out');
  return readdirSync(out)
    .filter((n) => n.endsWith('.ndjson'))
    .sort()
    .flatMap((f) => readFileSync(join(out, f), 'utf8').split('\n').filter(Boolean))
    .map((l) => JSON.parse(l).eventId);
}

/** Broken configs: each must give exit code 2 and exactly one clear line on stderr. */
const BROKEN: Array<[string, string, RegExp]> = [
  ['malformed YAML', 'routes:\n  - source: {type: file\n', /:\d+:\d+: YAML syntax error/],
  ['empty file', '', /the config must be a YAML mapping/],
  ['a list instead of a mapping', '- a\n- b\n', /the config must be a YAML mapping/],
  [
    'unknown top-level key',
    'rotues: []\nroutes:\n  - source: { type: file, path: /x }\n    sinks: [{ type: file, dir: /o }]\n',
    /rotues: unknown key \(did you mean "routes"\?\)/,
  ],
  [
    'no routes',
    'log: { level: info }\n',
    /routes: at least one route is needed \(or health.routesApi: writable, to add them through the route API\)/,
  ],
  [
    'route without sinks',
    'routes:\n  - source: { type: file, path: /x }\n    sinks: []\n',
    /routes\[0\]\.sinks: a route needs at least one sink/,
  ],
  [
    'unknown sink type',
    'routes:\n  - source: { type: file, path: /x }\n    sinks: [{ type: s3 }]\n',
    /routes\[0\]\.sinks\[0\]\.type: unknown type "s3"; must be one of: file/,
  ],
  [
    'wrong value type',
    'pipeline: { maxInFlight: lots }\nroutes:\n  - source: { type: file, path: /x }\n    sinks: [{ type: file, dir: /o }]\n',
    /pipeline\.maxInFlight: must be a number, got string "lots"/,
  ],
  [
    'negative number',
    'routes:\n  - source: { type: file, path: /x }\n    sinks: [{ type: file, dir: /o, maxBytes: -1 }]\n',
    /routes\[0\]\.sinks\[0\]\.maxBytes: value must be > 0/,
  ],
  [
    'bad enum',
    'routes:\n  - source: { type: file, path: /x }\n    sinks: [{ type: file, dir: /o, splitBy: hour }]\n',
    /splitBy: must be one of: route, channel/,
  ],
  [
    'missing required field',
    'routes:\n  - source: { type: file, path: /x }\n    sinks: [{ type: file }]\n',
    /routes\[0\]\.sinks\[0\]\.dir: is required/,
  ],
  [
    'missing env var',
    'routes:\n  - source: { type: file, path: /x }\n    sinks:\n      - type: file\n        dir: ${SFBRIDGE_TEST_UNSET_VAR}\n',
    /routes\[0\]\.sinks\[0\]\.dir: environment variable SFBRIDGE_TEST_UNSET_VAR is not set/,
  ],
  [
    'unreadable secret file',
    'orgs:\n  o:\n    auth:\n      flow: client_credentials\n      clientId: c\n      clientSecret: ${file:/nonexistent/secret}\nroutes:\n  - source: { type: file, path: /x }\n    sinks: [{ type: file, dir: /o }]\n',
    /orgs\.o\.auth\.clientSecret: cannot read \/nonexistent\/secret for \$\{file:…\}: ENOENT/,
  ],
  [
    'duplicate route names',
    'routes:\n  - { name: a, source: { type: file, path: /x }, sinks: [{ type: file, dir: /o }] }\n  - { name: a, source: { type: file, path: /y }, sinks: [{ type: file, dir: /o }] }\n',
    /routes\[1\]\.name: duplicate subscription key "a"/,
  ],
  [
    'unknown auth flow',
    'orgs:\n  o:\n    auth: { flow: magic }\nroutes:\n  - source: { type: file, path: /x }\n    sinks: [{ type: file, dir: /o }]\n',
    /orgs\.o\.auth\.flow: unknown flow "magic"; must be one of: jwt, client_credentials, refresh_token, password, static/,
  ],
  [
    'non-URL instance',
    'orgs:\n  o:\n    auth: { flow: static, accessToken: t, instanceUrl: not-a-url }\nroutes:\n  - source: { type: file, path: /x }\n    sinks: [{ type: file, dir: /o }]\n',
    /orgs\.o\.auth\.instanceUrl: must be an http\(s\) URL/,
  ],
  ['duplicate YAML key', 'routes: []\nroutes: []\n', /YAML syntax error: Map keys must be unique/],
];

describe('sfbridge CLI', () => {
  it('prints its version and help', async () => {
    const v = await runCli(['version']);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^sfbridge \d+\.\d+\.\d+ \(node v\d+/);
    const h = await runCli(['--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('check -c FILE');
  });

  it.each([
    [['frobnicate'], /^sfbridge: unknown command "frobnicate"/],
    [['check'], /^sfbridge: check: missing -c\/--config FILE/],
    [['check', '--bogus'], /^sfbridge: check: unknown option '--bogus'/],
    [['check', '-c', '/nonexistent.yaml'], /^sfbridge: \/nonexistent\.yaml: cannot read config file \(no such file\)/],
    [['replay', 'frob', '-c', 'config/file-to-file.yaml'], /^sfbridge: replay: unknown action "frob"/],
  ])('rejects bad usage %j with one line and exit code 2', async (args, message) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });

  it('check --online with an org whose certificate is not trusted: the OAuth line says what to set, the others are skipped', async () => {
    const t = await startEmulator();
    try {
      const dir = tempDir();
      // The emulator's org as the tests configure it, but without its CA.
      const { caCertFile: _, ...org } = emulatorOrg(t);
      const path = join(dir, 'bridge.yaml'); // JSON is YAML
      const route = {
        source: { type: 'pubsub', org: 'prod', topic: '/data/AccountChangeEvent' },
        sinks: [{ type: 'file', dir: join(dir, 'out') }],
      };
      writeFileSync(path, JSON.stringify({ orgs: { prod: org }, routes: [route] }));
      const r = await runCli(['check', '--online', '-c', path]);
      const lines = r.stdout.split('\n').filter((l) => /^\s+org /.test(l));
      expect(lines[0]).toMatch(
        /org prod\s+oauth\s+FAIL .*the server's TLS certificate is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\): set orgs\.prod\.caCertFile to the PEM of the CA that signed it$/,
      );
      expect(lines.slice(1).map((l) => l.trim().split(/\s+/).slice(2, 4).join(' '))).toEqual(['rest SKIP', 'pubsub SKIP', 'cometd SKIP']);
      expect(r.code).toBe(1);
    } finally {
      await t.stop();
    }
  });

  it('prints a plan for every example config', async () => {
    const configs = readdirSync(join(ROOT, 'config')).filter((f) => f.endsWith('.yaml'));
    expect(configs.length).toBeGreaterThanOrEqual(2);
    for (const f of configs) {
      const r = await runCli(['check', '-c', join('config', f)]);
      expect(r.stderr, f).toBe('');
      expect(r.code, f).toBe(0);
      expect(r.stdout).toMatch(/: OK\n/);
      expect(r.stdout).toMatch(/replay store: /);
      expect(r.stdout).toMatch(/routes \(\d+\):/);
      expect(r.stdout).toMatch(/source: /);
      expect(r.stdout).toMatch(/sink 1 \(\w+#0\): /);
    }
  });

  it(`reports each of ${BROKEN.length} broken configs in one clear line (exit 2, no stack trace)`, async () => {
    const dir = tempDir();
    expect(BROKEN.length).toBeGreaterThanOrEqual(10);
    await Promise.all(
      BROKEN.map(async ([name, yaml, expected], i) => {
        const path = join(dir, `broken-${i}.yaml`);
        writeFileSync(path, yaml);
        const r = await runCli(['check', '-c', path], { env: { SFBRIDGE_TEST_UNSET_VAR: '' } });
        const lines = r.stderr.trim().split('\n');
        expect(r.code, name).toBe(2);
        expect(lines, `${name}: ${r.stderr}`).toHaveLength(1);
        expect(lines[0], name).toMatch(/^sfbridge: /);
        expect(lines[0], name).toMatch(expected);
        expect(r.stderr, name).not.toMatch(/\n\s+at /);
      }),
    );
  });

  it('runs a route to completion, then resumes from the stored position', async () => {
    const dir = tempDir();
    inputFile(dir, 500);
    const cfg = bridgeConfig(dir);
    const first = await runCli(['run', '-c', cfg]);
    expect(first.code, first.stderr).toBe(0);
    expect(sinkIds(dir)).toHaveLength(500);

    inputFile(dir, 250, 500);
    const second = await runCli(['run', '-c', cfg]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('route starting from stored position');
    const ids = sinkIds(dir);
    expect(ids).toEqual(Array.from({ length: 750 }, (_, i) => `ev-${i}`));

    const list = await runCli(['replay', 'list', '-c', cfg, '--json']);
    expect(list.code).toBe(0);
    const positions = JSON.parse(list.stdout);
    expect(positions).toHaveLength(1);
    expect(positions[0]).toMatchObject({ key: 'r1', replayId: String(readFileSync(join(dir, 'in.ndjson')).length) });
  });

  it('replay set / get / reset move the stored position', async () => {
    const dir = tempDir();
    inputFile(dir, 10);
    const cfg = bridgeConfig(dir);
    const set = await runCli(['replay', 'set', '-c', cfg, 'r1', '0']);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toBe('r1: (none) -> 0\n');
    const get = await runCli(['replay', 'get', '-c', cfg, 'r1']);
    expect(get.stdout).toMatch(/^r1 0 eventTime=- committedAt=/);
    const reset = await runCli(['replay', 'reset', '-c', cfg, 'r1']);
    expect(reset.stdout).toMatch(/position forgotten/);
    const missing = await runCli(['replay', 'get', '-c', cfg, 'r1']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no stored position for "r1"/);
  });

  it('refuses to start on a corrupt replay file with one clear line', async () => {
    const dir = tempDir();
    inputFile(dir, 10);
    const cfg = bridgeConfig(dir);
    writeFileSync(join(dir, 'replay.json'), '{ not json');
    const r = await runCli(['run', '-c', cfg]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/sfbridge: cannot start: replay store .* is corrupt/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('SIGTERM drains, commits and exits 0; nothing acknowledged is lost', async () => {
    const dir = tempDir();
    inputFile(dir, 2000);
    const cfg = bridgeConfig(dir, { follow: true });
    const { child, result } = startCli(['run', '-c', cfg]);
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    await until(() => stderr.includes('bridge running'), 10_000, 'bridge start');
    await until(
      () => {
        try {
          return sinkIds(dir).length === 2000;
        } catch {
          return false;
        }
      },
      10_000,
      'events in sink',
    );
    child.kill('SIGTERM');
    const r = await result;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('stopping: draining in-flight events');
    const stored = JSON.parse(readFileSync(join(dir, 'replay.json'), 'utf8'));
    expect(stored.positions.r1.replayId).toBe(String(readFileSync(join(dir, 'in.ndjson')).length));
  });

  it('serves health, status and metrics while running', async () => {
    const dir = tempDir();
    inputFile(dir, 100);
    const cfg = bridgeConfig(dir, { follow: true, health: true });
    const { child, result } = startCli(['run', '-c', cfg]);
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    await until(() => /health endpoints listening/.test(stderr), 10_000, 'health server');
    const url = /"url":"(http:\/\/[^"]+)"/.exec(stderr)?.[1];
    expect(url).toBeDefined();
    await until(() => stderr.includes('bridge running'), 10_000);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    let metrics = '';
    const acked = /sfbridge_events_acked_total\{org="",channel="[^"]*",route="r1"\} 100/;
    for (let i = 0; i < 100 && !acked.test(metrics); i++) {
      metrics = await (await fetch(`${url}/metrics`)).text();
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(metrics).toMatch(acked);
    const status = (await (await fetch(`${url}/status`)).json()) as { routes: unknown[] };
    expect(status.routes[0]).toMatchObject({ key: 'r1', state: 'running', inFlight: 0 });
    child.kill('SIGTERM');
    expect((await result).code).toBe(0);
  });

  it('status: a terminal view from the running bridge, and from the stores once it stopped', async () => {
    const dir = tempDir();
    inputFile(dir, 50);
    const port = await freePort();
    const cfg = bridgeConfig(dir, { follow: true, health: true, port });
    const { child, result } = startCli(['run', '-c', cfg]);
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    await until(() => /health endpoints listening/.test(stderr), 10_000, 'health server');
    const live = await runCli(['status', '-c', cfg]);
    expect(live.code, live.stderr).toBe(0);
    expect(live.stdout).toContain(`source: running bridge at http://127.0.0.1:${port}`);
    expect(live.stdout).toMatch(/ROUTE\s+STATE\s+POSITION AGE\s+LAG\s+HEADROOM\s+DEAD LETTERS/);
    expect(live.stdout).toMatch(/\nr1\s+running\s/);
    child.kill('SIGTERM');
    expect((await result).code).toBe(0);
    const stopped = await runCli(['status', '-c', cfg, '--json']);
    expect(stopped.code, stopped.stderr).toBe(0);
    const j = JSON.parse(stopped.stdout);
    expect(j.source).toMatch(/^stores \(no bridge answers at/);
    expect(j.routes[0]).toMatchObject({ route: 'r1', state: 'not running', deadLetters: 0, error: null });
    expect(j.routes[0].positionAgeSeconds).toBeGreaterThanOrEqual(0);
  });
});
