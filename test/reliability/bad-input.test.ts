/**
 * Bad input, one row per case: each must end in one clear message naming what to fix (never a
 * bare stack trace), and bad data must never crash the bridge or be dropped silently.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileDeadLetterStore } from '../../src/deadletter/file-store.js';
import { emulatorOrg } from '../helpers/bridge.js';
import { runCli } from '../helpers/cli.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { tempDir } from '../helpers/tmp.js';
import { BridgeProcess, latestSource, readFiles, writeConfig } from './harness.js';

const ROUTE = 'routes:\n  - source: { type: file, path: /x }\n    sinks: [{ type: file, dir: /o }]\n';
const src = (s: string) => `routes:\n  - source: ${s}\n    sinks: [{ type: file, dir: /o }]\n`;
const sink = (s: string) => `routes:\n  - source: { type: file, path: /x }\n    sinks: [${s}]\n`;
const org = 'orgs:\n  o:\n    auth: { flow: client_credentials, clientId: c, clientSecret: s }\n';

/** [case, config file text, expected message] — checked with `sfbridge check` (exit 2, no stack). */
const CONFIG_CASES: Array<[string, string, RegExp]> = [
  ['malformed YAML', 'routes:\n  - source: {type: file\n', /YAML syntax error/],
  ['empty file', '', /the config must be a YAML mapping/],
  ['a list instead of a mapping', '- a\n', /must be a YAML mapping/],
  ['duplicate YAML key', 'routes: []\nroutes: []\n', /Map keys must be unique/],
  ['unknown top-level key', `rotues: []\n${ROUTE}`, /rotues: unknown key \(did you mean "routes"\?\)/],
  ['unknown key in a sink', sink('{ type: file, dir: /o, fsynk: true }'), /sinks\[0\]\.fsynk: unknown key/],
  ['no routes', 'log: { level: info }\n', /routes: at least one route is needed/],
  ['route without sinks', 'routes:\n  - source: { type: file, path: /x }\n    sinks: []\n', /a route needs at least one sink/],
  ['unknown sink type', sink('{ type: s3 }'), /unknown type "s3"; must be one of: file, kafka, webhook, stdout/],
  ['unknown source type', src('{ type: pushtopic }'), /source\.type: unknown type "pushtopic"/],
  ['wrong value type', `pipeline: { maxInFlight: lots }\n${ROUTE}`, /pipeline\.maxInFlight: must be a number, got string "lots"/],
  ['negative number', sink('{ type: file, dir: /o, maxBytes: -1 }'), /maxBytes: value must be > 0/],
  ['bad enum', sink('{ type: file, dir: /o, splitBy: hour }'), /splitBy: must be one of: route, channel/],
  ['missing required field', sink('{ type: file }'), /sinks\[0\]\.dir: is required/],
  ['missing env var', sink('{ type: file, dir: "${SFBRIDGE_UNSET_VAR_X}" }'), /environment variable SFBRIDGE_UNSET_VAR_X is not set/],
  ['unreadable secret file', sink('{ type: file, dir: "${file:/nonexistent/secret}" }'), /cannot read \/nonexistent\/secret/],
  [
    'duplicate route names',
    'routes:\n  - { name: a, source: { type: file, path: /x }, sinks: [{ type: file, dir: /o }] }\n  - { name: a, source: { type: file, path: /y }, sinks: [{ type: file, dir: /o }] }\n',
    /duplicate subscription key "a"/,
  ],
  ['unknown auth flow', `orgs:\n  o:\n    auth: { flow: magic }\n${ROUTE}`, /unknown flow "magic"/],
  [
    'non-URL login URL',
    `orgs:\n  o:\n    loginUrl: salesforce\n    auth: { flow: client_credentials, clientId: c, clientSecret: s }\n${ROUTE}`,
    /orgs\.o\.loginUrl: must be an http\(s\) URL/,
  ],
  [
    'malformed API version',
    `orgs:\n  o:\n    apiVersion: v63\n    auth: { flow: client_credentials, clientId: c, clientSecret: s }\n${ROUTE}`,
    /apiVersion: must look like "63\.0"/,
  ],
  [
    'source names an unknown org',
    `${org}${src('{ type: pubsub, org: prod, topic: /data/AccountChangeEvent }')}`,
    /source\.org: unknown org "prod"; defined orgs: o/,
  ],
  [
    'Pub/Sub topic that is not a topic',
    `${org}${src('{ type: pubsub, org: o, topic: AccountChangeEvent }')}`,
    /topic: must be a Pub\/Sub topic/,
  ],
  [
    'Pub/Sub batch size above 100',
    `${org}${src('{ type: pubsub, org: o, topic: /data/AccountChangeEvent, batchSize: 500 }')}`,
    /batchSize: value must be <= 100/,
  ],
  [
    'PushTopic name too long',
    `orgs:\n  o:\n    auth: { flow: client_credentials, clientId: c, clientSecret: s }\n    pushTopics: [{ name: ThisNameIsFarTooLongForSalesforce, query: "SELECT Id FROM Lead" }]\n${ROUTE}`,
    /PushTopic names are at most 25 characters/,
  ],
  [
    'webhook secret without whsec_',
    sink('{ type: webhook, url: "https://h.example/x", secrets: [abc] }'),
    /must be a Standard Webhooks secret/,
  ],
  ['webhook without secrets', sink('{ type: webhook, url: "https://h.example/x", secrets: [] }'), /at least one signing secret is needed/],
  ['webhook URL not http(s)', sink('{ type: webhook, url: "ftp://h.example/x", secrets: [whsec_MTIz] }'), /url: must be an http\(s\) URL/],
  [
    'duration that is not a duration',
    sink('{ type: webhook, url: "https://h.example/x", secrets: [whsec_MTIz], timeout: 5 parsecs }'),
    /"5 parsecs" is not a duration/,
  ],
  [
    'sinkOutage mode unknown',
    'routes:\n  - source: { type: file, path: /x }\n    sinkOutage: { mode: drop }\n    sinks: [{ type: file, dir: /o }]\n',
    /sinkOutage\.mode: must be one of: block, dead-letter/,
  ],
  ['HA on a file store', `ha: { enabled: true }\n${ROUTE}`, /ha\.enabled: needs replayStore\.type redis or postgres/],
  [
    'exactly-once without the Kafka store',
    sink('{ type: kafka, brokers: ["k:9092"], exactlyOnce: true }'),
    /exactlyOnce: needs replayStore\.type kafka/,
  ],
  ['Kafka broker without a port', sink('{ type: kafka, brokers: [kafka] }'), /brokers\[0\]: must be host:port/],
  [
    'managed subscription id of a wrong length',
    `${org}${src('{ type: pubsub, org: o, topic: /data/AccountChangeEvent, managedSubscription: 18x00000000000000 }')}`,
    /managedSubscription: must be a managed subscription id \(18x…, 15 or 18 characters\)/,
  ],
];

describe('reliability: bad input', () => {
  it(`has at least 30 config cases (${CONFIG_CASES.length})`, () => {
    expect(CONFIG_CASES.length).toBeGreaterThanOrEqual(30);
  });

  it.each(CONFIG_CASES)('config: %s', async (_name, text, want) => {
    const dir = tempDir();
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, text);
    const r = await runCli(['check', '-c', path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(want);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    for (const line of r.stderr.trim().split('\n')) expect(line).toMatch(/^sfbridge: /);
  });

  it.each([
    [
      'config file missing',
      ['check', '-c', '/nonexistent/sfbridge.yaml'],
      /\/nonexistent\/sfbridge\.yaml: cannot read config file \(no such file\)/,
    ],
    ['unknown command', ['frobnicate'], /unknown command "frobnicate"/],
    ['unknown option', ['run', '--confg', 'x'], /unknown option '--confg'/],
    ['missing config option', ['run'], /missing -c\/--config FILE/],
    ['bad --limit', ['tail', '-c', 'x', '--limit', 'many'], /--limit must be a positive integer/],
  ])('usage: %s', async (_name, args, want) => {
    const r = await runCli(args as string[]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(want);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  describe('at run time', () => {
    let t: TestEmulator;
    beforeAll(async () => {
      t = await startEmulator();
    });
    afterAll(async () => t?.stop());

    function cfg(dir: string, source: Record<string, unknown>, extra: Record<string, unknown> = {}, sinks?: unknown[]) {
      return writeConfig(dir, t, source, sinks ?? [{ type: 'file', dir: join(dir, 'out') }], extra);
    }

    it('corrupt replay file: refuses to start, names the file and what to do', async () => {
      const dir = tempDir();
      writeFileSync(join(dir, 'replay.json'), '{"version":1,"positions":{');
      const r = await runCli(['run', '-c', cfg(dir, { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent' })]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/sfbridge: cannot start: .*replay\.json/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });

    it('corrupt dead-letter file: refuses to start, with the line number', async () => {
      const dir = tempDir();
      const path = cfg(dir, { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent' });
      const { mkdirSync } = await import('node:fs');
      mkdirSync(join(dir, 'dlq'));
      writeFileSync(join(dir, 'dlq', 'dead-letters.ndjson'), '{"op":"add"\nnot json\n');
      const r = await runCli(['run', '-c', path]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/dead-letters\.ndjson line 1 is not valid JSON/);
    });

    it('unreadable JWT key file: one line naming the field', async () => {
      const dir = tempDir();
      const path = join(dir, 'c.json');
      writeFileSync(
        path,
        JSON.stringify({
          orgs: { emu: { ...emulatorOrg(t), auth: { flow: 'jwt', clientId: 'c', username: 'u', privateKeyFile: '/nonexistent/key.pem' } } },
          replayStore: { type: 'file', path: join(dir, 'replay.json') },
          deadLetter: { type: 'file', dir: join(dir, 'dlq') },
          routes: [
            { source: { type: 'pubsub', org: 'emu', topic: '/data/AccountChangeEvent' }, sinks: [{ type: 'file', dir: join(dir, 'o') }] },
          ],
        }),
      );
      const r = await runCli(['run', '-c', path]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/orgs\.emu\.auth\.privateKeyFile: cannot read \/nonexistent\/key\.pem \(ENOENT\)/);
    });

    it('unknown topic with onRouteFailure exit: the route fails with a clear error, exit 1', async () => {
      const dir = tempDir();
      const r = await runCli([
        'run',
        '-c',
        cfg(dir, { type: 'pubsub', org: 'emu', topic: '/data/NoSuchChangeEvent' }, { onRouteFailure: 'exit' }),
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/sfbridge: route r failed: .*NoSuchChangeEvent.*\(onRouteFailure: exit\)/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });

    it.each([
      ['pubsub', 'Lead', /cannot decode event payload/],
      ['cometd', 'Opportunity', /cannot normalise CometD event payload/],
    ])(
      '%s: a malformed payload goes to the dead-letter store raw, a stand-in to the sinks, the stream goes on',
      async (path, object, logLine) => {
        const dir = tempDir();
        const channel = `/data/${object}ChangeEvent`;
        const source = latestSource(path as 'pubsub' | 'cometd', channel);
        const b = new BridgeProcess(cfg(dir, source));
        await b.start();
        await t.subscribed(channel);
        await t.admin('events/emit', { spec: `cdc:${object}`, count: 5 });
        const bad = await t.admin('events/corrupt', { object });
        await t.admin('events/emit', { spec: `cdc:${object}`, count: 5 });
        const { waitFor } = await import('./harness.js');
        await waitFor(() => readFiles(join(dir, 'out')).length, 11, 20_000, 'events after the bad one');
        const r = await b.kill('SIGTERM');
        expect(r.code).toBe(0);
        const out = readFiles(join(dir, 'out'));
        expect(out.filter((e) => e.payload?.decodeError)).toHaveLength(1);
        const dl = await new FileDeadLetterStore({ type: 'file', dir: join(dir, 'dlq'), fsync: true }).list();
        expect(dl).toHaveLength(1);
        expect(dl[0]).toMatchObject({ sink: 'decode', envelope: null });
        expect(dl[0]?.error).toMatch(new RegExp(`cannot decode the payload of ${channel.replace(/\//g, '\\/')}`));
        expect(b.stderr).toMatch(logLine);
        expect(bad.replayId).toBeGreaterThan(0);
      },
    );

    it('invalid UTF-8 in a file source: decoded with replacement characters, never a crash', async () => {
      const dir = tempDir();
      const input = join(dir, 'in.ndjson');
      writeFileSync(
        input,
        Buffer.concat([Buffer.from('{"note":"bad '), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}\n{"note":"ok"}\n')]),
      );
      const r = await runCli(['run', '-c', cfg(dir, { type: 'file', path: input })]);
      expect(r.code).toBe(0);
      const out = readFiles(join(dir, 'out'));
      expect(out).toHaveLength(2);
      expect(out[0].payload.note).toContain('\uFFFD');
    });

    it('oversized event rejected by the receiver (413): dead-lettered, not lost, not retried forever', async () => {
      const dir = tempDir();
      const { Receiver } = await import('../helpers/webhook-receiver.js');
      const secret = `whsec_${Buffer.from('oversized-0123456789').toString('base64')}`;
      const rcv = new Receiver(secret);
      await rcv.start();
      rcv.respond = (a) => (JSON.stringify(a.body).length > 10_000 ? { status: 413 } : { status: 200 });
      try {
        const input = join(dir, 'in.ndjson');
        writeFileSync(input, `${JSON.stringify({ big: 'x'.repeat(50_000) })}\n${JSON.stringify({ small: 1 })}\n`);
        const r = await runCli([
          'run',
          '-c',
          cfg(dir, { type: 'file', path: input }, {}, [{ type: 'webhook', url: rcv.url, secrets: [secret] }]),
        ]);
        expect(r.code).toBe(0);
        expect(rcv.delivered).toHaveLength(1);
        const dl = await new FileDeadLetterStore({ type: 'file', dir: join(dir, 'dlq'), fsync: true }).list();
        expect(dl).toHaveLength(1);
        expect(dl[0]?.error).toMatch(/HTTP 413/);
      } finally {
        await rcv.stop();
      }
    });
  });
});
