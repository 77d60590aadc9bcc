/** OAuth token providers against the emulator's token endpoint (and a failing stub for retries). */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { tokenProviderFor } from '../../src/auth/index.js';
import { OAuthTokenProvider } from '../../src/auth/oauth.js';
import { type OrgConfig, orgSchema } from '../../src/config/schema.js';
import { generateJwtSigningPair } from '../../src/emulator/tls.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { tempDir } from '../helpers/tmp.js';

describe('auth against the emulator', () => {
  let t: TestEmulator;
  let jwt: { privateKeyPem: string; certPem: string };
  let keyDir: string;

  beforeAll(async () => {
    jwt = await generateJwtSigningPair();
    keyDir = tempDir();
    writeFileSync(join(keyDir, 'cert.pem'), jwt.certPem);
    t = await startEmulator({ jwtCertFile: join(keyDir, 'cert.pem') });
  });
  afterAll(async () => t?.stop());

  const org = (auth: Record<string, unknown>, extra: Record<string, unknown> = {}): OrgConfig =>
    orgSchema.parse({ loginUrl: t.emu.info.loginUrl, caCertFile: t.emu.info.caCertPath, auth, ...extra });
  const flows = () => {
    const i = t.emu.info;
    return {
      client_credentials: { flow: 'client_credentials', clientId: i.clientId, clientSecret: i.clientSecret },
      password: { flow: 'password', clientId: i.clientId, clientSecret: i.clientSecret, username: i.username, password: i.password },
      refresh_token: { flow: 'refresh_token', clientId: i.clientId, clientSecret: i.clientSecret, refreshToken: i.refreshToken },
      jwt: { flow: 'jwt', clientId: i.clientId, username: i.username, privateKey: jwt.privateKeyPem },
    } satisfies Record<'client_credentials' | 'password' | 'refresh_token' | 'jwt', Record<string, unknown>>;
  };

  it('every flow yields a token, the instance URL and the org id', async () => {
    for (const [name, auth] of Object.entries(flows())) {
      const p = tokenProviderFor('main', org(auth), silentLogger());
      const tok = await p.getToken();
      expect(tok.instanceUrl, name).toBe(t.emu.info.instanceUrl);
      expect(tok.orgId, name).toBe(t.emu.info.orgId);
      expect(t.emu.oauth.check(tok.accessToken), name).toBe('ok');
    }
    const issued = t.emu.oauth.issue();
    const s = tokenProviderFor('main', org({ flow: 'static', accessToken: issued, instanceUrl: t.emu.info.instanceUrl }), silentLogger());
    expect(await s.getToken()).toMatchObject({ accessToken: issued, orgId: t.emu.info.orgId });
  });

  it('signs JWTs with the claims Salesforce requires, from PKCS#8 or PKCS#1 key files', async () => {
    const dir = tempDir();
    const { createPrivateKey } = await import('node:crypto');
    const pkcs1 = createPrivateKey(jwt.privateKeyPem).export({ type: 'pkcs1', format: 'pem' }).toString();
    writeFileSync(join(dir, 'k1.pem'), pkcs1);
    const p = tokenProviderFor('main', org({ ...flows().jwt, privateKey: undefined, privateKeyFile: join(dir, 'k1.pem') }), silentLogger());
    expect((await p.getToken()).orgId).toBe(t.emu.info.orgId);
  });

  it('fetches one token however many callers wait (single flight), and again after invalidate', async () => {
    const p = new OAuthTokenProvider({ org: 'main', config: org(flows().client_credentials), log: silentLogger(), ca: t.ca });
    const tokens = await Promise.all(Array.from({ length: 25 }, () => p.getToken()));
    expect(new Set(tokens.map((x) => x.accessToken)).size).toBe(1);
    expect(p.requests).toBe(1);
    p.invalidate(tokens[0]?.accessToken);
    const again = await Promise.all(Array.from({ length: 25 }, () => p.getToken()));
    expect(p.requests).toBe(2);
    expect(again[0]?.accessToken).not.toBe(tokens[0]?.accessToken);
    // a stale rejection of the old token does not throw away the new one
    p.invalidate(tokens[0]?.accessToken);
    await p.getToken();
    expect(p.requests).toBe(2);
  });

  it('refreshes proactively when the session lifetime is known', async () => {
    const p = new OAuthTokenProvider({
      org: 'main',
      config: org(flows().client_credentials),
      log: silentLogger(),
      ca: t.ca,
      lifetimeSeconds: 1,
    });
    // A controlled clock (Date only: the HTTP exchanges keep real timers).
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const a = await p.getToken();
      vi.setSystemTime(Date.now() + 850); // inside 90% of the 1 s lifetime: the same token
      expect((await p.getToken()).accessToken).toBe(a.accessToken);
      vi.setSystemTime(Date.now() + 100); // past it: a new one, before the session would expire
      const b = await p.getToken();
      expect(b.accessToken).not.toBe(a.accessToken);
      expect(p.requests).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('explains each rejection in one line naming the config field, without retrying', async () => {
    const i = t.emu.info;
    const cases: Array<[Record<string, unknown>, Record<string, unknown>, RegExp]> = [
      [
        { ...flows().client_credentials, clientSecret: 'wrong-secret' },
        {},
        /^orgs\.main\.auth: Salesforce rejected the client_credentials login \(invalid_client: .*check orgs\.main\.auth\.clientSecret$/,
      ],
      [{ ...flows().client_credentials, clientId: 'wrong-id' }, {}, /invalid_client_id.*check orgs\.main\.auth\.clientId/],
      [
        { ...flows().password, password: 'wrong-password' },
        {},
        /invalid_grant.*check orgs\.main\.auth\.username, orgs\.main\.auth\.password and orgs\.main\.auth\.securityToken/,
      ],
      [
        { ...flows().refresh_token, refreshToken: 'revoked-token' },
        {},
        /refresh token is expired or revoked: .*orgs\.main\.auth\.refreshToken/,
      ],
      [
        flows().jwt,
        { loginUrl: i.loginUrl.replace('localhost', '127.0.0.1') },
        /audience is invalid.*check orgs\.main\.loginUrl or set orgs\.main\.auth\.audience/,
      ],
      [{ ...flows().jwt, username: 'someone@else' }, {}, /check orgs\.main\.auth\.username/],
    ];
    for (const [auth, extra, re] of cases) {
      const p = new OAuthTokenProvider({ org: 'main', config: org(auth, extra), log: silentLogger(), ca: t.ca });
      const err = await p.getToken().catch((e) => e);
      expect(err.message).toMatch(re);
      expect(err.message.split('\n')).toHaveLength(1);
      expect(err.retriable).toBe(false);
      expect(p.requests).toBe(1);
    }
  });

  it('reports unreadable and wrong-type keys and a missing CA file clearly', async () => {
    const dir = tempDir();
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    writeFileSync(join(dir, 'ec.pem'), ec);
    writeFileSync(join(dir, 'junk.pem'), 'not a key');
    const msg = async (auth: Record<string, unknown>) =>
      (
        await tokenProviderFor('main', org(auth), silentLogger())
          .getToken()
          .catch((e) => e)
      ).message;
    expect(await msg({ ...flows().jwt, privateKey: undefined, privateKeyFile: join(dir, 'missing.pem') })).toMatch(
      /^orgs\.main\.auth\.privateKeyFile: cannot read .*missing\.pem \(ENOENT\)$/,
    );
    expect(await msg({ ...flows().jwt, privateKey: undefined, privateKeyFile: join(dir, 'ec.pem') })).toMatch(
      /^orgs\.main\.auth\.privateKeyFile: not a usable RSA private key/,
    );
    expect(await msg({ ...flows().jwt, privateKey: undefined, privateKeyFile: join(dir, 'junk.pem') })).toMatch(
      /^orgs\.main\.auth\.privateKeyFile: not a usable RSA private key/,
    );
    expect(() => tokenProviderFor('main', org(flows().client_credentials, { caCertFile: join(dir, 'nope.pem') }), silentLogger())).toThrow(
      /^orgs\.main\.caCertFile: cannot read/,
    );
  });

  it('a login host whose certificate this machine does not trust (a private CA, a proxy inspecting TLS): one line naming caCertFile', async () => {
    const noCa = orgSchema.parse({ loginUrl: t.emu.info.loginUrl, auth: flows().client_credentials });
    const err = await tokenProviderFor('main', noCa, silentLogger())
      .getToken()
      .catch((e: Error) => e);
    expect((err as Error).message).toMatch(
      /^orgs\.main\.auth: cannot reach https:\/\/localhost:\d+\/services\/oauth2\/token: the server's TLS certificate is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\): set orgs\.main\.caCertFile to the PEM of the CA that signed it$/,
    );
  });

  it('never logs a token, secret, password or key at debug level', async () => {
    const chunks: string[] = [];
    const out = new Writable({
      write(c, _e, cb) {
        chunks.push(String(c));
        cb();
      },
    });
    const log = createLogger({ level: 'trace', format: 'json', destination: out });
    const secrets: string[] = [
      jwt.privateKeyPem.split('\n')[1] as string,
      t.emu.info.clientSecret,
      t.emu.info.password,
      t.emu.info.refreshToken,
    ];
    for (const auth of Object.values(flows())) {
      const p = tokenProviderFor('main', org(auth), log);
      const tok = await p.getToken();
      secrets.push(tok.accessToken);
      log.debug({ token: tok }, 'token for debugging');
      log.debug(`raw ${tok.accessToken}`);
      const bad = await tokenProviderFor(
        'main',
        org({ ...auth, ...('clientSecret' in auth ? { clientSecret: `${auth.clientSecret}-x` } : {}) }),
        log,
      )
        .getToken()
        .catch((e) => e);
      log.error({ err: bad }, 'login failed');
    }
    const text = chunks.join('');
    expect(text.length).toBeGreaterThan(100);
    for (const s of secrets) expect(text).not.toContain(s);
  });
});

describe('auth transient failures', () => {
  it('retries 5xx with backoff, never 4xx, and gives up on an unreachable host with a clear line', async () => {
    let hits = 0;
    const server = createServer((_req, res) => {
      hits++;
      if (hits <= 2) {
        res.writeHead(503).end('busy');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          access_token: '00D000000000001AAA!tok-abcdef',
          instance_url: 'http://127.0.0.1:1',
          id: 'http://x/id/00D000000000001AAA/005000000000001AAA',
        }),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const config = orgSchema.parse({
        loginUrl: `http://127.0.0.1:${port}`,
        auth: { flow: 'client_credentials', clientId: 'c', clientSecret: 'secret-1' },
      });
      const p = new OAuthTokenProvider({ org: 'o', config, log: silentLogger() });
      expect((await p.getToken()).orgId).toBe('00D000000000001AAA');
      expect(p.requests).toBe(3);
    } finally {
      server.close();
    }
    const down = orgSchema.parse({
      loginUrl: 'http://127.0.0.1:9',
      auth: { flow: 'client_credentials', clientId: 'c', clientSecret: 'secret-1' },
    });
    const p = new OAuthTokenProvider({ org: 'o', config: down, log: silentLogger(), maxAttempts: 2 });
    const err = await p.getToken().catch((e) => e);
    expect(err.message).toMatch(/^orgs\.o\.auth: cannot reach http:\/\/127\.0\.0\.1:9\/services\/oauth2\/token: /);
    expect(p.requests).toBe(2);
  });
});
