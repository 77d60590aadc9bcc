/**
 * Hostile input: what a careless operator or an attacker would try. Each case failed before its
 * fix (issue 14) and is listed in docs/reliability.md ("Hostile input").
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulatorOrg } from '../helpers/bridge.js';
import { runCli } from '../helpers/cli.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { tempDir } from '../helpers/tmp.js';
import { BridgeProcess, latestSource, readFiles, seqOf, waitFor, writeConfig } from './harness.js';

const SECRET = 'sfb-secret-Zq83hV0pLm';
const fileSink = (dir = '/o', extra = '') => `{ type: file, dir: ${dir}${extra} }`;
const fileRoute = (name: string, sink = fileSink()) => `  - name: ${name}\n    source: { type: file, path: /x }\n    sinks: [${sink}]\n`;
const pubsubOrg = 'orgs:\n  o:\n    auth: { flow: client_credentials, clientId: c, clientSecret: s }\n';

/** `sfbridge check` on a config text: exit 2, one line per problem, no stack trace. */
async function check(text: string, env: Record<string, string> = {}) {
  const dir = tempDir();
  const path = join(dir, 'hostile.yaml');
  writeFileSync(path, text);
  const started = Date.now();
  const r = await runCli(['check', '-c', path], { env });
  return { ...r, ms: Date.now() - started, dir };
}

function expectConfigError(r: { code: number | null; stderr: string }, want: RegExp) {
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(want);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  for (const line of r.stderr.trim().split('\n')) expect(line).toMatch(/^sfbridge: /);
}

describe('reliability: hostile input (config)', () => {
  it('routes whose names sanitize to the same file name are refused, naming both routes', async () => {
    const r = await check(`routes:\n${fileRoute('x/y')}${fileRoute('x.y')}${fileRoute('/x/y')}`);
    expectConfigError(r, /routes\[1\]\.sinks\[0\]: writes \/o\/x\.y-\*\.ndjson like routes\[0\]\.sinks\[0\] \(routes "x\/y" and "x\.y"\)/);
    expect(r.stderr).toMatch(/routes\[2\]\.sinks\[0\]: writes/);
  });

  it('two routes on one channel with splitBy: channel into one directory are refused', async () => {
    const route = (name: string) =>
      `  - name: ${name}\n    source: { type: pubsub, org: o, topic: /data/AccountChangeEvent }\n    sinks: [${fileSink('/o', ', splitBy: channel')}]\n`;
    const r = await check(`${pubsubOrg}routes:\n${route('a')}${route('b')}`);
    expectConfigError(r, /routes\[1\]\.sinks\[0\]: writes \/o\/data\.AccountChangeEvent-\*\.ndjson/);
  });

  it.each([
    [
      'log.level',
      `log: { level: "\${file:SECRETFILE}" }\nroutes:\n${fileRoute('a')}`,
      /log\.level: must be one of: trace.*got a value from \$\{…\} \(not shown\)/,
    ],
    ['health.port', `health: { port: "\${SFB_HOSTILE}" }\nroutes:\n${fileRoute('a')}`, /health\.port: must be a number, got a value from/],
    [
      'auth.flow',
      `orgs:\n  o:\n    auth: { flow: "\${SFB_HOSTILE}" }\nroutes:\n${fileRoute('a')}`,
      /orgs\.o\.auth\.flow: must be one of: jwt/,
    ],
    [
      'splitBy',
      `routes:\n${fileRoute('a', fileSink('/o', ', splitBy: "${SFB_HOSTILE}"'))}`,
      /splitBy: must be one of: route, channel, got a value from/,
    ],
    [
      'a duration',
      `routes:\n  - name: a\n    source: { type: file, path: /x }\n    sinkOutage: { mode: block, after: "\${SFB_HOSTILE}" }\n    sinks: [${fileSink()}]\n`,
      /sinkOutage\.after: .*not shown/,
    ],
    [
      'source.org',
      `${pubsubOrg}routes:\n  - source: { type: pubsub, org: "\${SFB_HOSTILE}", topic: /data/AccountChangeEvent }\n    sinks: [${fileSink()}]\n`,
      /source\.org: unknown org \(a value from/,
    ],
  ])('a value from ${…} in %s is never echoed in an error', async (_what, text, want) => {
    const dir = tempDir();
    const secretFile = join(dir, 'shadow');
    writeFileSync(secretFile, `root:${SECRET}:19000:0:99999:7:::\n`.repeat(20));
    const r = await check(text.replace('SECRETFILE', secretFile), { SFB_HOSTILE: `${SECRET}-from-env` });
    expectConfigError(r, want);
    expect(r.stderr).not.toContain(SECRET);
    expect(r.stderr).not.toContain('root:');
  });

  it.each([
    [
      'a Kafka topic template with characters Kafka refuses',
      `routes:\n${fileRoute('a', '{ type: kafka, brokers: ["k:9092"], topic: "bad topic!{channel}" }')}`,
      /sinks\[0\]\.topic: must be a Kafka topic name/,
    ],
    [
      'a topic template that yields ".."',
      `routes:\n${fileRoute('..', '{ type: kafka, brokers: ["k:9092"], topic: "{route}" }')}`,
      /routes\[0\]\.sinks\[0\]\.topic: "\{route\}" gives "\.\." for route "\.\."/,
    ],
    [
      'a webhook header value with CR/LF',
      `routes:\n${fileRoute('a', '{ type: webhook, url: "https://h.example/x", secrets: [whsec_MTIz], headers: { X-A: "v\\r\\nX-Injected: 1" } }')}`,
      /headers\.X-A: header values must not contain line breaks/,
    ],
    [
      'source.org: toString (an Object.prototype name)',
      `${pubsubOrg}routes:\n  - source: { type: pubsub, org: toString, topic: /data/AccountChangeEvent }\n    sinks: [${fileSink()}]\n`,
      /source\.org: unknown org "toString"; defined orgs: o/,
    ],
    [
      'a __proto__ mapping smuggling settings past the unknown-key check',
      `__proto__:\n  bogus: 1\nroutes:\n${fileRoute('a')}`,
      /hostile\.yaml:1:1: "__proto__" is not allowed as a key/,
    ],
    [
      'a YAML alias bomb',
      `a: &a ["x","x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nroutes:\n${fileRoute('a')}`,
      /hostile\.yaml: YAML aliases expand too much/,
    ],
    [
      'an invalid Redis URL',
      `replayStore: { type: redis, url: "redis://[::1" }\nroutes:\n${fileRoute('a')}`,
      /replayStore\.url: is not a valid URL/,
    ],
    [
      'an invalid PostgreSQL URL',
      `replayStore: { type: postgres, url: "postgres://u:p@host:notaport/db" }\nroutes:\n${fileRoute('a')}`,
      /replayStore\.url: is not a valid URL/,
    ],
  ])('refused by check: %s', async (_what, text, want) => {
    expectConfigError(await check(text), want);
  });

  it('a config over 8 MiB is refused at once; a large mapping parses in linear time', async () => {
    const keys = (n: number) => Array.from({ length: n }, (_, i) => `  k${i}: ${i}`).join('\n');
    const big = await check(`x:\n${keys(650_000)}\nroutes:\n${fileRoute('a')}`);
    expectConfigError(big, /the config file is \d+ bytes; the limit is 8388608/);
    expect(big.ms).toBeLessThan(5_000);
    const wide = await check(`pipeline:\n${keys(60_000)}\nroutes:\n${fileRoute('a')}`);
    expectConfigError(wide, /pipeline\.k0: unknown key/);
    expect(wide.stderr).toMatch(/… and 59950 more problems/);
    expect(wide.ms).toBeLessThan(10_000);
  });
});

describe('reliability: hostile input (run time)', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  it.each([
    ['pubsub', 'Contact'],
    ['cometd', 'Case'],
  ])('%s, initial latest: a dropped stream before the first event loses nothing published after "subscribed"', async (path, object) => {
    const dir = tempDir();
    const channel = `/data/${object}ChangeEvent`;
    const source = latestSource(path as 'pubsub' | 'cometd', channel);
    const out = join(dir, 'out');
    const b = new BridgeProcess(writeConfig(dir, t, source, [{ type: 'file', dir: out }]));
    await b.start();
    // A signal, not a sleep: the emulator holds the subscription (CometD acknowledges it late).
    await t.subscribed(channel);
    // The stream drops and the service refuses new subscriptions for a while; events go on.
    await t.admin('streams/drop', { refuseMs: 1500 });
    await t.admin('events/emit', { spec: `cdc:${object}`, count: 5 });
    await t.subscribed(channel);
    await t.admin('events/emit', { spec: `cdc:${object}`, count: 5 });
    const ledger = (await t.ledger(channel)).map((l) => l.replayId as number);
    expect(ledger).toHaveLength(10);
    await waitFor(() => readFiles(out).length, 10, 30_000, 'events after the drop');
    const got = readFiles(out).map((e) => seqOf(e.replayId));
    expect(new Set(got)).toEqual(new Set(ledger));
    expect(b.stderr).toMatch(/skipping only events from before the subscription/);
    expect((await b.kill('SIGTERM')).code).toBe(0);
  });
});

/** An NDJSON inbox of n generic events for a file source. */
function inbox(dir: string, n: number, name = 'in.ndjson'): string {
  const path = join(dir, name);
  writeFileSync(path, Array.from({ length: n }, (_, i) => `${JSON.stringify({ id: `ev-${i}`, n: i })}\n`).join(''));
  return path;
}

describe('reliability: hostile input (run time, no emulator)', () => {
  it('webhook URL credentials and query secrets never reach the logs or the public /status', async () => {
    const PASS = 'hunter2-PASSWORD-x9';
    const SIG = 'SIGSECRET-77f3a1c0';
    const server = createServer((req, res) => {
      req.resume();
      // A receiver that echoes the request URL (with the query secret) and junk in its 410 body.
      res.writeHead(410).end(`gone: ${req.url}\u001b[31m\r\nInjected: yes ${'z'.repeat(5000)}`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const dir = tempDir();
    const cfg = join(dir, 'bridge.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        log: { level: 'info', format: 'json' },
        health: { port: 0 },
        replayStore: { type: 'file', path: join(dir, 'replay.json') },
        deadLetter: { type: 'file', dir: join(dir, 'dlq') },
        routes: [
          {
            name: 'hook',
            source: { type: 'file', path: inbox(dir, 1) },
            sinks: [
              { type: 'webhook', url: `http://user:${PASS}@127.0.0.1:${port}/hook?sig=${SIG}&v=1`, secrets: ['whsec_MTIzNDU2Nzg5MDEy'] },
            ],
          },
          {
            name: 'keep',
            source: { type: 'file', path: inbox(dir, 1, 'keep.ndjson'), follow: true, pollMs: 50 },
            sinks: [{ type: 'file', dir: join(dir, 'out') }],
          },
        ],
      }),
    );
    const b = new BridgeProcess(cfg);
    await b.start();
    await b.waitForLog(/route failed/);
    await b.waitForLog(/health endpoints listening/);
    const url = /"url":"(http:\/\/[^"]+)"/.exec(b.stderr)?.[1] as string;
    const status = await (await fetch(`${url}/status`)).text();
    await b.kill('SIGTERM');
    server.close();
    for (const text of [status, b.stderr]) {
      expect(text).not.toContain(PASS);
      expect(text).not.toContain(SIG);
      expect(text).not.toContain('Injected: yes\r');
      expect(text).not.toContain('z'.repeat(300));
    }
    expect(status).toMatch(/http:\/\/\[redacted\]@127\.0\.0\.1:\d+\/hook\?sig=\[redacted\]&v=\[redacted\] answered 410 Gone/);
  });

  it('a second process cannot write the file series another process is writing', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const cfg = (replay: string) => {
      const path = join(dir, `${replay}.json`);
      writeFileSync(
        path,
        JSON.stringify({
          log: { level: 'info', format: 'json' },
          replayStore: { type: 'file', path: join(dir, `${replay}-replay.json`) },
          deadLetter: { type: 'file', dir: join(dir, `${replay}-dlq`) },
          // The refused route ends the process (the default would retry it with back-off).
          onRouteFailure: 'exit',
          routes: [
            { name: 'r', source: { type: 'file', path: inbox(dir, 50), follow: true, pollMs: 50 }, sinks: [{ type: 'file', dir: out }] },
          ],
        }),
      );
      return path;
    };
    const a = new BridgeProcess(cfg('a'));
    await a.start();
    await waitFor(() => readFiles(out).length, 50, 20_000, 'first bridge writing');
    const second = await runCli(['run', '-c', cfg('b')]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/another sfbridge process \(pid \d+, route \\?"r\\?"\) is writing .*r-\*\.ndjson/);
    expect((await a.kill('SIGTERM')).code).toBe(0);
    expect(readFiles(out)).toHaveLength(50);
  });

  it('dlq replay refuses a dead letter appended by someone who could write the file', async () => {
    const dir = tempDir();
    const dlq = join(dir, 'dlq');
    const cfg = join(dir, 'bridge.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        replayStore: { type: 'file', path: join(dir, 'replay.json') },
        deadLetter: { type: 'file', dir: dlq },
        routes: [
          {
            name: 'r',
            source: { type: 'file', path: '/x' },
            sinks: [{ type: 'webhook', url: 'http://127.0.0.1:9/x', secrets: ['whsec_MTIzNDU2Nzg5MDEy'] }],
          },
        ],
      }),
    );
    mkdirSync(dlq);
    const forged = {
      id: 'dl_forged',
      route: 'r',
      sink: 'webhook#0',
      envelope: {
        v: 1,
        org: 'o',
        channel: '/c',
        replayId: '1',
        eventId: 'e',
        schemaId: null,
        eventTime: null,
        receivedAt: '',
        kind: 'generic',
        payload: 'wire $1M',
      },
      error: 'x',
      attempts: 1,
      firstFailedAt: '',
      deadLetteredAt: '',
    };
    writeFileSync(join(dlq, 'dead-letters.ndjson'), `${JSON.stringify({ op: 'add', entry: forged })}\n`);
    const list = await runCli(['dlq', 'list', '-c', cfg]);
    expect(list.stdout).toMatch(/dl_forged .*\(TAMPERED\)/);
    const r = await runCli(['dlq', 'replay', '-c', cfg]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/stayed {2}dl_forged {2}failed its integrity check/);
  });
});

describe('reliability: hostile input (run time, emulator)', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  it('a static token Salesforce rejects stops the route with the field to fix, instead of retrying forever', async () => {
    const dir = tempDir();
    const org = emulatorOrg(t);
    const cfg = join(dir, 'bridge.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        log: { level: 'info', format: 'json' },
        orgs: {
          emu: {
            ...org,
            auth: { flow: 'static', accessToken: `${t.emu.info.orgId}!bogus-token-1234567890`, instanceUrl: t.emu.info.instanceUrl },
          },
        },
        replayStore: { type: 'file', path: join(dir, 'replay.json') },
        deadLetter: { type: 'file', dir: join(dir, 'dlq') },
        onRouteFailure: 'exit',
        routes: [
          {
            name: 'r',
            source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent' },
            sinks: [{ type: 'file', dir: join(dir, 'out') }],
          },
        ],
      }),
    );
    const r = await runCli(['run', '-c', cfg]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/orgs\.emu\.auth\.accessToken: Salesforce rejected the static access token/);
    expect(r.stderr).not.toContain('bogus-token-1234567890');
  });

  it('every line the daemon writes is JSON, even when a library warns (ioredis, password on a password-less Redis)', async () => {
    const dir = tempDir();
    const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    const u = new URL(redisUrl);
    u.password = 'needless-pass-4242';
    const cfg = writeConfig(dir, t, { type: 'file', path: inbox(dir, 20) }, [{ type: 'file', dir: join(dir, 'out') }], {
      replayStore: { type: 'redis', url: u.toString(), namespace: `hostile-${Date.now()}` },
    });
    const r = await runCli(['run', '-c', cfg]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trim().split('\n');
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
    expect(r.stderr).toMatch(/"source":"library-console".*does not require a password/);
    expect(r.stderr).not.toContain('needless-pass-4242');
  });

  it('emulator: a schema change with an invalid field name is refused and leaves nothing behind', async () => {
    for (const name of ['__proto__', 'constructor', 'Tier', '1st__c', 'a b__c', 'Bad__Name__c', 'Trailing___c', `${'x'.repeat(41)}__c`]) {
      const r = await t.http('POST', '/admin/schema/change', { body: { target: 'Opportunity', field: { name, type: 'string' } } });
      expect(r.status, name).toBe(400);
    }
    expect(
      (await t.http('POST', '/admin/schema/change', { body: { target: 'Opportunity', field: { name: 'Tier__c', type: 'string' } } }))
        .status,
    ).toBe(200);
    expect(
      (await t.http('POST', '/admin/schema/change', { body: { target: 'Opportunity', field: { name: 'tier__c', type: 'string' } } }))
        .status,
    ).toBe(400);
    await t.admin('events/emit', { spec: 'cdc:Opportunity', count: 2 });
    const tok = await t.token();
    const created = await t.http('POST', `/services/data/v${t.emu.info.apiVersion}/sobjects/Opportunity`, {
      token: tok,
      body: { Name: 'after' },
    });
    expect(created.status).toBe(201);
  });
});
