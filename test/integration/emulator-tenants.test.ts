/**
 * `sfbridge emulator --tenants N`: each tenant is its own org (id, credentials, records, events,
 * endpoints), so a bridge serving many orgs is tested against many orgs, not many names for one.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/emulator.js';
import { parseEmitSpec } from '../../src/emulator/generator.js';
import { startTenants, tenantOrgId } from '../../src/emulator/tenants.js';
import { Bridge } from '../../src/pipeline/bridge.js';
import { configSchema } from '../../src/registry.js';
import { captureLogger } from '../helpers/bridge.js';
import { until } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';

function post(e: Emulator, path: string, form: Record<string, string>): Promise<{ status: number; json: any }> {
  const ca = readFileSync(e.info.caCertPath as string);
  return new Promise((resolve, reject) => {
    const r = request(
      new URL(path, e.info.loginUrl),
      { method: 'POST', ca, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      (res) => {
        let t = '';
        res.on('data', (c) => {
          t += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(t) }));
      },
    );
    r.on('error', reject);
    r.end(new URLSearchParams(form).toString());
  });
}

describe('emulator tenants', () => {
  let emus: Emulator[] = [];
  // Shared by the file's tests, so not a tempDir() (those go after each test).
  const dir = mkdtempSync(join(tmpdir(), 'sfbridge-tenants-'));
  beforeAll(async () => {
    emus = await startTenants(3, { port: 0, dataDir: join(dir, 'emu') });
  });
  afterAll(async () => {
    await Promise.all(emus.map((e) => e.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives each tenant its own org id, credentials, ports and data', async () => {
    expect(emus.map((e) => e.info.orgId)).toEqual([tenantOrgId(0), tenantOrgId(1), tenantOrgId(2)]);
    expect(new Set(emus.map((e) => e.info.loginUrl)).size).toBe(3);
    expect(new Set(emus.map((e) => e.info.caCertPath)).size).toBe(1);
    const [a, b] = emus as [Emulator, Emulator];
    const own = await post(b, '/services/oauth2/token', {
      grant_type: 'client_credentials',
      client_id: b.info.clientId,
      client_secret: b.info.clientSecret,
    });
    expect(own.status).toBe(200);
    expect(own.json.id).toContain(b.info.orgId);
    const other = await post(b, '/services/oauth2/token', {
      grant_type: 'client_credentials',
      client_id: a.info.clientId,
      client_secret: a.info.clientSecret,
    });
    expect(other.status).toBe(400);
    b.generator.emit(parseEmitSpec('cdc:Account'), 5);
    expect(b.bus.latestSeq).toBeGreaterThan(a.bus.latestSeq);
  });

  it('lets one bridge serve every tenant, each route receiving only its own org’s events', async () => {
    const work = tempDir();
    const orgs = Object.fromEntries(
      emus.map((e, i) => [
        `t${i}`,
        {
          loginUrl: e.info.loginUrl,
          caCertFile: e.info.caCertPath,
          pubsubEndpoint: e.info.pubsubEndpoint,
          auth: { flow: 'client_credentials', clientId: e.info.clientId, clientSecret: e.info.clientSecret },
        },
      ]),
    );
    const routes = emus.map((_e, i) => ({
      name: `r${i}`,
      source: { type: 'pubsub', org: `t${i}`, topic: '/event/Order_Event__e', initial: 'earliest' },
      sinks: [{ type: 'file', dir: join(work, `r${i}`) }],
    }));
    emus.forEach((e, i) => {
      e.generator.emit(parseEmitSpec('platform:Order_Event__e'), 10 * (i + 1));
    });
    const config = configSchema.parse({
      orgs,
      routes,
      replayStore: { type: 'file', path: join(work, 'replay.json') },
      deadLetter: { type: 'file', dir: join(work, 'dl') },
    });
    const bridge = new Bridge(config, captureLogger('warn').log);
    await bridge.start();
    try {
      await until(() => bridge.status().routes.every((r, i) => r.eventsCommitted >= 10 * (i + 1)), 30_000, 'every route');
      const st = bridge.status().routes;
      expect(st.map((r) => r.eventsReceived)).toEqual([10, 20, 30]);
    } finally {
      await bridge.stop();
    }
  });
});
