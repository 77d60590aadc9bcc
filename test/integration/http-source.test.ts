/**
 * The HTTP ingest source, called as outsiders would (node:http, signed with the public
 * `standardwebhooks` package): refusals before the body is read, errors naming the bad event,
 * 429 when the route is full, and 1,000 signed events each published once into Salesforce.
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBridge } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';

const SECRET = `whsec_${Buffer.from('a signing secret of 32 bytes....').toString('base64')}`;
const TOKEN = 'a-bearer-token-for-tests-0123456789';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
  ms: number;
}

function post(port: number, path: string, body: string | null, headers: Record<string, string> = {}): Promise<Reply> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : null, ms: Date.now() - t0 });
          req.destroy();
        });
      },
    );
    req.on('error', reject);
    if (body === null)
      req.flushHeaders(); // headers only: the body never comes
    else req.end(body);
  });
}

function signed(body: string): Record<string, string> {
  const id = `msg_${randomUUID()}`;
  const now = new Date();
  const signature = new Webhook(SECRET).sign(id, now, body);
  return { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(now.getTime() / 1000)), 'webhook-signature': signature };
}

describe('HTTP ingest source', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  async function start(source: Record<string, unknown>, extra: Record<string, unknown> = {}) {
    const dir = tempDir();
    const { bridge } = makeBridge(
      t,
      dir,
      [
        {
          name: 'orders',
          source: { type: 'http', listen: '127.0.0.1:0', ...source },
          sinks: [{ type: 'salesforce', org: 'emu', topic: '/event/Order_Event__e', mapping: '{ "OrderNumber__c": payload.order }' }],
          ...extra,
        },
      ],
      {},
      'warn',
    );
    await bridge.start();
    await until(() => (bridge.status().routes[0]?.sourceStats.port ?? 0) > 0, 10_000, 'listening');
    return { bridge, port: bridge.status().routes[0]?.sourceStats.port as number, dir: join(dir) };
  }

  it('refuses unsigned (401) and oversized (413) requests before reading the body, and names a malformed event (400)', async () => {
    const { bridge, port } = await start({ signingSecrets: [SECRET], maxBodyBytes: 10_000 });
    try {
      // Headers only, announcing 5 MB: the answer comes without the body ever being sent.
      const unsigned = await post(port, '/ingest/orders', null, { 'content-length': String(5_000_000) });
      expect(unsigned.status).toBe(401);
      expect(unsigned.body.error).toMatch(/webhook-signature/);
      const big = '[' + Array.from({ length: 1000 }, (_, i) => JSON.stringify({ order: `big-${i}` })).join(',') + ']';
      const tooBig = await post(port, '/ingest/orders', null, { ...signed(big), 'content-length': String(Buffer.byteLength(big)) });
      expect(tooBig.status).toBe(413);
      expect(tooBig.body.error).toMatch(/at most 10000/);
      const forged = await post(port, '/ingest/orders', '[{"order":"x"}]', signed('[{"order":"y"}]'));
      expect(forged.status).toBe(401);
      const badBody = '[{"order":"ok"}, 42]';
      const bad = await post(port, '/ingest/orders', badBody, signed(badBody));
      expect(bad.status).toBe(400);
      expect(bad.body.error).toMatch(/^\[1\]: each event must be a JSON object, not number/);
      const notJson = await post(port, '/ingest/orders', '{"order":', signed('{"order":'));
      expect(notJson.status).toBe(400);
      expect(notJson.body.error).toMatch(/not JSON/);
      expect((await post(port, '/ingest/other', '{}', signed('{}'))).status).toBe(404);
    } finally {
      await bridge.stop();
    }
  });

  it('accepts 1,000 signed events, answering once Salesforce accepted them, each published once', async () => {
    const { bridge, port } = await start({ signingSecrets: [SECRET] });
    const run = randomUUID().slice(0, 8);
    try {
      const replies: Reply[] = [];
      for (let b = 0; b < 10; b++) {
        const body = JSON.stringify(Array.from({ length: 100 }, (_, i) => ({ order: `${run}-${b * 100 + i}` })));
        replies.push(await post(port, '/ingest/orders', body, signed(body)));
      }
      expect(replies.map((r) => r.status)).toEqual(Array(10).fill(200));
      // A 200 means published: every event is on the channel by the time the last answer came.
      const got = (await t.published('/event/Order_Event__e'))
        .map((e) => e.fields.OrderNumber__c)
        .filter((o: string) => o?.startsWith(run));
      expect(got).toHaveLength(1000);
      expect(new Set(got).size).toBe(1000);
    } finally {
      await bridge.stop();
    }
  });

  it('takes a bearer token, and answers 429 with Retry-After when the route has no room', async () => {
    const { bridge, port } = await start({ token: TOKEN }, { maxInFlight: 20 });
    try {
      expect(
        (await post(port, '/ingest/orders', '{"order":"x"}', { authorization: 'Bearer wrong-token-of-the-same-size-0123' })).status,
      ).toBe(401);
      const ok = await post(port, '/ingest/orders', '{"order":"bearer-1"}', { authorization: `Bearer ${TOKEN}` });
      expect(ok.status).toBe(200);
      const many = JSON.stringify(Array.from({ length: 50 }, (_, i) => ({ order: `many-${i}` })));
      const full = await post(port, '/ingest/orders', many, { authorization: `Bearer ${TOKEN}` });
      expect(full.status).toBe(429);
      expect(full.headers['retry-after']).toBe('1');
      expect(full.body.error).toMatch(/room for \d+ events now, not 50/);
    } finally {
      await bridge.stop();
    }
  });
});
