/** Start the emulator in-process for a test and talk to it over HTTPS with its CA. */

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EmulatorConfig } from '../../src/emulator/config.js';
import { Emulator } from '../../src/emulator/emulator.js';

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

export interface TestEmulator {
  emu: Emulator;
  ca: string | null;
  http(
    method: string,
    path: string,
    opts?: { body?: unknown; form?: Record<string, string>; token?: string | null; headers?: Record<string, string> },
  ): Promise<HttpResult>;
  token(): Promise<string>;
  admin(path: string, body?: unknown): Promise<any>;
  ledger(channel?: string): Promise<any[]>;
  /** The events a channel retains, with their fields decoded (what publishers put there). */
  published(channel: string): Promise<Array<{ replayId: number; eventId: string; fields: any }>>;
  /**
   * Resolves once a Pub/Sub stream or CometD session is subscribed to `channel` on the emulator
   * (at least `count` of them): the signal to wait for before emitting to an `initial: latest` route.
   */
  subscribed(channel: string, count?: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startEmulator(
  config: Partial<EmulatorConfig> = {},
  opts: { dataDir?: string; port?: number; grpcPort?: number; instanceUrl?: string } = {},
): Promise<TestEmulator> {
  // Owned by the emulator handle (tests often share one emulator across a file).
  const ownDir = opts.dataDir ? null : mkdtempSync(join(tmpdir(), 'sfbridge-emu-'));
  const dataDir = opts.dataDir ?? (ownDir as string);
  const emu = await Emulator.start({ port: opts.port ?? 0, grpcPort: opts.grpcPort, dataDir, config, instanceUrl: opts.instanceUrl });
  const ca = emu.info.caCertPath ? readFileSync(emu.info.caCertPath, 'utf8') : null;
  let cached: string | null = null;
  const t: TestEmulator = {
    emu,
    ca,
    http(method, path, o = {}) {
      // The emulator's own address (its instance URL may be a middlebox in front of it).
      const url = new URL(path, emu.info.loginUrl);
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      let body: string | undefined;
      if (o.form) {
        body = new URLSearchParams(o.form).toString();
        headers['content-type'] = 'application/x-www-form-urlencoded';
      } else if (o.body !== undefined) {
        body = JSON.stringify(o.body);
        headers['content-type'] = 'application/json';
      }
      if (o.token) headers.authorization = `Bearer ${o.token}`;
      const req = url.protocol === 'https:' ? httpsRequest : httpRequest;
      return new Promise((resolve, reject) => {
        const r = req(url, { method, headers, ca: ca ?? undefined }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown = null;
            try {
              json = JSON.parse(text);
            } catch {}
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
          });
        });
        r.on('error', reject);
        if (body) r.write(body);
        r.end();
      });
    },
    async token() {
      if (cached && emu.oauth.check(cached) === 'ok') return cached;
      const r = await t.http('POST', '/services/oauth2/token', {
        form: { grant_type: 'client_credentials', client_id: emu.info.clientId, client_secret: emu.info.clientSecret },
      });
      if (r.status !== 200) throw new Error(`token: ${r.text}`);
      cached = r.json.access_token as string;
      return cached;
    },
    async admin(path, body) {
      const r = await t.http(path === 'status' ? 'GET' : 'POST', `/admin/${path}`, { body: path === 'status' ? undefined : (body ?? {}) });
      if (r.status !== 200) throw new Error(`admin ${path}: ${r.status} ${r.text}`);
      return r.json;
    },
    async ledger(channel) {
      const r = await t.http('GET', `/admin/ledger${channel ? `?channel=${encodeURIComponent(channel)}` : ''}`);
      return r.text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
    },
    async published(channel) {
      const r = await t.http('GET', `/admin/events?channel=${encodeURIComponent(channel)}`);
      return r.text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
    },
    async subscribed(channel, count = 1, timeoutMs = 30_000) {
      const start = Date.now();
      for (;;) {
        const s = await t.admin('status');
        const live = [...s.pubsub.streams.map((x: { topic: string }) => x.topic), ...s.cometd.channels];
        if (live.filter((c: string) => c === channel).length >= count) return;
        if (Date.now() - start > timeoutMs) throw new Error(`no subscription to ${channel} on the emulator after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      await emu.stop();
      if (ownDir) rmSync(ownDir, { recursive: true, force: true });
    },
  };
  return t;
}
