import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describePlan } from '../../src/cli/plan.js';
import type { RouteConfig } from '../../src/config/schema.js';
import { parseConfig } from '../../src/config-file.js';
import { ConfigError } from '../../src/errors.js';
import { scrubString } from '../../src/log.js';
import { sinkTypes } from '../../src/registry.js';
import { inFlightLimit, routeKey } from '../../src/route-facts.js';
import { tempDir } from '../helpers/tmp.js';

const minimal = (extra = '') => `
routes:
  - source: { type: file, path: /tmp/in.ndjson }
    sinks: [{ type: file, dir: /tmp/out }]
${extra}`;

function problems(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(yaml, '/cfg.yaml', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('config', () => {
  it('fills defaults that work', () => {
    const c = parseConfig(minimal(), '/cfg.yaml', {});
    expect(c.replayStore).toEqual({ type: 'file', path: './data/replay.json', fsync: true });
    expect(c.pipeline.maxInFlight).toBeUndefined(); // per source: inFlightLimit
    expect(c.routes[0]?.sinks[0]).toMatchObject({ type: 'file', splitBy: 'route', fsync: true });
    expect(routeKey(c.routes[0]!)).toBe('/tmp/in.ndjson');
  });

  it('interpolates ${ENV}, ${ENV:-default}, ${file:…} and $${ escapes', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'secret.txt'), 'file-secret-value\n');
    const yaml = `
orgs:
  main:
    loginUrl: \${LOGIN:-https://login.salesforce.com}
    auth: { flow: client_credentials, clientId: "\${CID}", clientSecret: "\${file:${join(dir, 'secret.txt')}}" }
routes:
  - source: { type: file, path: "/in/$\${x}" }
    sinks: [{ type: file, dir: "\${OUT}" }]
`;
    const c = parseConfig(yaml, join(dir, 'c.yaml'), { CID: 'my-client', OUT: '/out' });
    expect(c.orgs.main?.loginUrl).toBe('https://login.salesforce.com');
    expect(c.orgs.main?.auth).toMatchObject({ clientId: 'my-client', clientSecret: 'file-secret-value' });
    expect(c.routes[0]?.source).toMatchObject({ path: '/in/${x}' });
    expect(c.routes[0]?.sinks[0]).toMatchObject({ dir: '/out' });
    // values read through ${file:} are never logged, nor any ${ENV} value, whatever its key
    expect(scrubString('secret is file-secret-value')).toBe('secret is [redacted]');
    expect(scrubString('client my-client')).toBe('client [redacted]');
    const withUrl = parseConfig(
      'orgs: {}\nroutes:\n  - source: { type: file, path: /in }\n    sinks: [{ type: webhook, url: "${HOOK}", secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw] }]\n',
      join(dir, 'c.yaml'),
      { HOOK: 'https://hooks.example/T0KEN-in-path' },
    );
    expect(withUrl.routes[0]?.sinks[0]).toMatchObject({ url: 'https://hooks.example/T0KEN-in-path' });
    expect(scrubString('posting to https://hooks.example/T0KEN-in-path failed')).toBe('posting to [redacted] failed');
  });

  it('reports every problem with its path, not just the first', () => {
    const p = problems(`
rotues: []
pipeline: { maxInFlight: "lots" }
routes:
  - source: { type: file, path: /in }
    sinks:
      - { type: file, dir: /out, splitBy: hour }
      - { type: carrier-pigeon, bucket: x }
`);
    expect(p).toEqual([
      '/cfg.yaml: pipeline.maxInFlight: must be a number, got string "lots"',
      '/cfg.yaml: routes[0].sinks[0].splitBy: must be one of: route, channel, got string "hour"',
      `/cfg.yaml: routes[0].sinks[1].type: unknown type "carrier-pigeon"; must be one of: ${Object.keys(sinkTypes).join(', ')}`,
      '/cfg.yaml: rotues: unknown key (did you mean "routes"?)',
    ]);
  });

  it('refuses two CometD routes of one org on one channel (one client per org carries one route per channel)', () => {
    const org = 'orgs:\n  o: { loginUrl: https://x.my.salesforce.com, auth: { flow: client_credentials, clientId: a, clientSecret: b } }';
    const route = (name: string, org: string, channel: string) =>
      `  - name: ${name}\n    source: { type: cometd, org: ${org}, channel: ${channel} }\n    sinks: [{ type: file, dir: /tmp/${name} }]`;
    const orgs2 = `${org}\n  p: { loginUrl: https://y.my.salesforce.com, auth: { flow: client_credentials, clientId: a, clientSecret: b } }`;
    expect(
      problems(
        `${orgs2}\nroutes:\n${route('a', 'o', '/data/AccountChangeEvent')}\n${route('b', 'o', '/data/AccountChangeEvent')}\n${route('c', 'p', '/data/AccountChangeEvent')}\n${route('d', 'o', '/topic/X')}`,
      ),
    ).toEqual([
      "/cfg.yaml: routes[1].source: routes[0] already subscribes to /data/AccountChangeEvent of org o over CometD; the org's one CometD connection carries one route per channel: give the channel one route (it can have several sinks)",
    ]);
  });

  it('reports one YAML syntax error with its line and a hint about ${} in flow mappings', () => {
    const p = problems('routes:\n  - sinks: [{ type: file, dir: ${OUT} }]\n');
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^\/cfg\.yaml:2:\d+: YAML syntax error: .*quote values that use/);
  });

  it('gives URL fields a plain reason', () => {
    const p = problems(minimal(`orgs:\n  main:\n    auth: { flow: static, accessToken: x, instanceUrl: "ftp://nope" }`));
    expect(p).toEqual(['/cfg.yaml: orgs.main.auth.instanceUrl: must be an http(s) URL']);
  });

  it('in-flight limit: the route setting, else the pipeline setting, else 500 (2000 for CometD sources)', () => {
    const pubsub = {
      source: {
        type: 'pubsub',
        org: 'o',
        topic: '/data/AccountChangeEvent',
        initial: 'latest',
        onInvalidReplay: 'earliest',
        retentionHours: 72,
      },
    } as never as RouteConfig;
    const cometd = { source: { type: 'cometd', org: 'o', channel: '/topic/X', onInvalidReplay: 'earliest' } } as never as RouteConfig;
    expect(inFlightLimit(pubsub, {})).toBe(500);
    expect(inFlightLimit(cometd, {})).toBe(2000);
    expect(inFlightLimit(cometd, { maxInFlight: 300 })).toBe(300);
    expect(inFlightLimit({ ...pubsub, maxInFlight: 50 }, { maxInFlight: 300 })).toBe(50);
  });

  it('check says where onInvalidReplay: backfill cannot run (no object to export) and is silent where it can', () => {
    const org =
      'orgs: { o: { loginUrl: "https://x.my.salesforce.com", auth: { flow: static, accessToken: t, instanceUrl: "https://x.my.salesforce.com" } } }';
    const plan = describePlan(
      parseConfig(
        `${org}
routes:
  - source: { type: pubsub, org: o, topic: /event/Order_Event__e, onInvalidReplay: backfill }
    sinks: [{ type: file, dir: /tmp/a }]
  - source: { type: cometd, org: o, channel: /u/Notifications, onInvalidReplay: backfill }
    sinks: [{ type: file, dir: /tmp/b }]
  - source: { type: cometd, org: o, channel: /data/AccountChangeEvent, onInvalidReplay: backfill }
    sinks: [{ type: file, dir: /tmp/c }]
`,
        '/cfg.yaml',
        {},
      ),
      '/cfg.yaml',
    );
    expect(plan).toMatch(/pubsub \/event\/Order_Event__e .*onInvalidReplay backfill: not possible on \/event\/Order_Event__e/);
    expect(plan).toMatch(/cometd \/u\/Notifications .*onInvalidReplay backfill: not possible on \/u\/Notifications/);
    expect(plan).toMatch(/cometd \/data\/AccountChangeEvent \(org o, start stored\)\n/);
  });
});
