/**
 * OAuth 2.0 token providers for Salesforce: JWT bearer, client credentials, refresh token,
 * username-password and a static token. One implementation of the TokenProvider contract:
 * single-flight fetches (one token request however many callers wait), proactive refresh when the
 * lifetime is known, invalidate() after a 401, retries with backoff only for transient failures.
 * Tokens and secrets never reach a log: they are registered with the log scrubber.
 */
import { createPrivateKey, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { importPKCS8, SignJWT } from 'jose';
import type { OrgConfig } from '../config/schema.js';
import { BridgeError, errorMessage, RetriableError } from '../errors.js';
import { httpCall } from '../http.js';
import { type Logger, registerSecret } from '../log.js';
import { backoffDelay, DEFAULT_BACKOFF, sleep } from '../retry.js';
import { jwtAudience, toId18 } from '../salesforce/ids.js';
import { certificateHint } from '../tls-ca.js';
import type { AccessToken, TokenProvider } from './types.js';

type Auth = OrgConfig['auth'];

export interface ProviderContext {
  /** Org name in the config (for error messages: `orgs.<name>.auth...`). */
  org: string;
  config: OrgConfig;
  /** The org's logger: its lines already carry `org`. */
  log: Logger;
  /** Extra CA (PEM) for the login and instance hosts. */
  ca?: string | null;
  /** The agent for a URL: a tunnel through the org's proxy, or undefined (direct). */
  agentFor?: (url: string) => import('node:http').Agent | undefined;
  /** Tries for transient failures before giving up on one getToken(). */
  maxAttempts?: number;
  /** Session lifetime if known (seconds): refresh proactively at 90 % of it. */
  lifetimeSeconds?: number;
}

export class OAuthTokenProvider implements TokenProvider {
  private current: AccessToken | null = null;
  private inflight: Promise<AccessToken> | null = null;
  private readonly path: string;
  /** A static token Salesforce rejected: nothing can refresh it, so asking again is permanent failure. */
  private staticRejected = false;
  /** Token requests sent (observability and tests). */
  requests = 0;

  constructor(private readonly ctx: ProviderContext) {
    this.path = `orgs.${ctx.org}.auth`;
    const a = ctx.config.auth;
    for (const v of Object.values(a)) if (typeof v === 'string' && v.length >= 6 && v !== a.flow) registerSecret(v);
    if (a.flow === 'client_credentials' && /^https:\/\/(login|test)\.salesforce\.com\/?$/.test(ctx.config.loginUrl)) {
      ctx.log.warn(
        { org: ctx.org },
        `${this.path}: the client credentials flow needs the org's My Domain URL as loginUrl (https://<domain>.my.salesforce.com); ${ctx.config.loginUrl} will refuse it`,
      );
    }
    if (a.flow === 'password') {
      ctx.log.warn(
        { org: ctx.org },
        `${this.path}: the username-password flow is being retired by Salesforce; prefer jwt or client_credentials`,
      );
    }
  }

  describe(): string {
    return `${this.ctx.config.auth.flow} at ${this.ctx.config.loginUrl}`;
  }

  async getToken(): Promise<AccessToken> {
    const cur = this.current;
    if (cur && (cur.expiresAt === undefined || Date.now() < cur.expiresAt)) return cur;
    this.inflight ??= this.fetchWithRetry().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  invalidate(rejected?: string): void {
    // Ignore a stale rejection when a newer token was already fetched.
    if (rejected && this.current && this.current.accessToken !== rejected) return;
    if (this.ctx.config.auth.flow === 'static' && this.current) this.staticRejected = true;
    this.current = null;
  }

  private async fetchWithRetry(): Promise<AccessToken> {
    const max = this.ctx.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      try {
        const token = await this.fetchOnce();
        this.current = token;
        return token;
      } catch (err) {
        if (!(err instanceof BridgeError) || !err.retriable || attempt >= max) throw err;
        const delay = backoffDelay(attempt, DEFAULT_BACKOFF);
        this.ctx.log.warn({ attempt, retryInMs: delay, error: err.message }, 'token request failed; retrying');
        await sleep(delay);
      }
    }
  }

  private async fetchOnce(): Promise<AccessToken> {
    const a = this.ctx.config.auth;
    if (a.flow === 'static') {
      if (this.staticRejected) {
        throw new BridgeError(
          'AUTH_STATIC_REJECTED',
          `${this.path}.accessToken: Salesforce rejected the static access token (expired or revoked) and a static token cannot be refreshed; set a fresh one, or use a refreshable flow (jwt, client_credentials, refresh_token)`,
        );
      }
      registerSecret(a.accessToken);
      return {
        accessToken: a.accessToken,
        instanceUrl: a.instanceUrl.replace(/\/$/, ''),
        orgId: await this.orgIdFor(a.accessToken, null, a.instanceUrl),
      };
    }
    const form = new URLSearchParams();
    switch (a.flow) {
      case 'jwt':
        form.set('grant_type', 'urn:ietf:params:oauth:grant-type:jwt-bearer');
        form.set('assertion', await this.assertion(a));
        break;
      case 'client_credentials':
        form.set('grant_type', 'client_credentials');
        form.set('client_id', a.clientId);
        form.set('client_secret', a.clientSecret);
        break;
      case 'refresh_token':
        form.set('grant_type', 'refresh_token');
        form.set('client_id', a.clientId);
        if (a.clientSecret) form.set('client_secret', a.clientSecret);
        form.set('refresh_token', a.refreshToken);
        break;
      case 'password':
        form.set('grant_type', 'password');
        form.set('client_id', a.clientId);
        form.set('client_secret', a.clientSecret);
        form.set('username', a.username);
        form.set('password', a.password + (a.securityToken ?? ''));
        break;
    }
    const url = `${this.ctx.config.loginUrl.replace(/\/$/, '')}/services/oauth2/token`;
    this.requests++;
    let res: Awaited<ReturnType<typeof httpCall>>;
    try {
      res = await httpCall(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
        ca: this.ctx.ca,
        agent: this.ctx.agentFor?.(url),
      });
    } catch (err) {
      // A proxy that refuses the tunnel (407, 403) is a setting to fix, not a network blip.
      if (err instanceof BridgeError && err.code === 'PROXY' && !err.retriable) throw err;
      const tls = certificateHint(err, "the server's", `orgs.${this.ctx.org}.caCertFile`);
      throw new RetriableError('AUTH_NETWORK', `${this.path}: cannot reach ${url}: ${tls ?? errorMessage(err)}`, err);
    }
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(res.text);
    } catch {
      // handled below
    }
    if (res.status >= 500 || res.status === 429)
      throw new RetriableError('AUTH_UNAVAILABLE', `${this.path}: token endpoint answered HTTP ${res.status}`);
    if (res.status !== 200 || typeof body.access_token !== 'string') throw this.explain(body, res.status);
    const accessToken = body.access_token;
    registerSecret(accessToken);
    if (typeof body.refresh_token === 'string') registerSecret(body.refresh_token);
    const instanceUrl = String(body.instance_url ?? '').replace(/\/$/, '');
    const orgId = await this.orgIdFor(accessToken, typeof body.id === 'string' ? body.id : null, instanceUrl);
    const lifetime = typeof body.expires_in === 'number' ? body.expires_in : this.ctx.lifetimeSeconds;
    this.ctx.log.debug({ flow: a.flow, instanceUrl, orgId }, 'obtained access token');
    return { accessToken, instanceUrl, orgId, expiresAt: lifetime ? Date.now() + lifetime * 900 : undefined };
  }

  /**
   * Org id, always in its 18-character form: from the identity URL, else the token's `<orgId>!`
   * prefix (15 characters on real orgs), else userinfo.
   */
  private async orgIdFor(token: string, idUrl: string | null, instanceUrl: string): Promise<string> {
    const fromId = idUrl ? /\/id\/(00D\w{12,15})\//.exec(idUrl)?.[1] : undefined;
    if (fromId) return toId18(fromId);
    const prefix = /^(00D\w{12,15})!/.exec(token)?.[1];
    if (prefix) return toId18(prefix);
    const infoUrl = `${instanceUrl}/services/oauth2/userinfo`;
    const r = await httpCall(infoUrl, {
      headers: { authorization: `Bearer ${token}` },
      ca: this.ctx.ca,
      agent: this.ctx.agentFor?.(infoUrl),
    });
    const org = r.status === 200 ? (JSON.parse(r.text) as { organization_id?: string }).organization_id : undefined;
    if (!org) throw new BridgeError('AUTH_ORG_ID', `${this.path}: cannot determine the org id (userinfo answered HTTP ${r.status})`);
    return toId18(org);
  }

  private async assertion(a: Extract<Auth, { flow: 'jwt' }>): Promise<string> {
    let pem = a.privateKey;
    if (!pem && a.privateKeyFile) {
      try {
        pem = readFileSync(a.privateKeyFile, 'utf8');
      } catch (err) {
        throw new BridgeError(
          'AUTH_KEY',
          `${this.path}.privateKeyFile: cannot read ${a.privateKeyFile} (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})`,
        );
      }
    }
    if (!pem) throw new BridgeError('AUTH_KEY', `${this.path}: the jwt flow needs privateKey or privateKeyFile`);
    registerSecret(pem);
    let pkcs8: string;
    try {
      const key = createPrivateKey(pem);
      if (key.asymmetricKeyType !== 'rsa') throw new Error(`a ${key.asymmetricKeyType} key`);
      pkcs8 = key.export({ type: 'pkcs8', format: 'pem' }).toString();
    } catch (err) {
      const field = a.privateKeyFile ? `${this.path}.privateKeyFile` : `${this.path}.privateKey`;
      throw new BridgeError(
        'AUTH_KEY',
        `${field}: not a usable RSA private key in PEM (PKCS#8 or PKCS#1) — ${errorMessage(err).split('\n')[0]}`,
      );
    }
    const key = await importPKCS8(pkcs8, 'RS256');
    const now = Math.floor(Date.now() / 1000);
    return (
      new SignJWT({})
        .setProtectedHeader({ alg: 'RS256' })
        .setIssuer(a.clientId)
        .setSubject(a.username)
        .setAudience(a.audience ?? jwtAudience(this.ctx.config.loginUrl))
        // Salesforce accepts an exp at most 3 minutes ahead of its own clock: stay well inside that,
        // so a client clock a little fast does not get every assertion refused.
        .setExpirationTime(now + 120)
        .setJti(randomUUID())
        .sign(key)
    );
  }

  /** One clear line per rejection, naming the cause and the config field to fix. */
  private explain(body: Record<string, unknown>, status: number): BridgeError {
    const error = String(body.error ?? `HTTP ${status}`);
    const desc = String(body.error_description ?? '');
    const a = this.ctx.config.auth;
    const p = this.path;
    let hint: string;
    if (error === 'invalid_client_id') hint = `the client id is not known: check ${p}.clientId (the connected app's consumer key)`;
    else if (error === 'invalid_client') hint = `the client secret is wrong: check ${p}.clientSecret`;
    else if (/audience/i.test(desc))
      hint = `the JWT audience must be https://login.salesforce.com, https://test.salesforce.com (sandboxes) or an Experience Cloud site URL: check orgs.${this.ctx.org}.loginUrl or set orgs.${this.ctx.org}.auth.audience`;
    else if (a.flow === 'jwt' && /expired|invalid assertion/i.test(desc))
      hint = `the assertion was rejected: check that ${p}.privateKey matches the certificate uploaded to the connected app, and that this machine's clock is correct (clock skew makes exp look invalid)`;
    else if (a.flow === 'jwt' && /approved|user/i.test(desc))
      hint = `check ${p}.username and that the user is pre-authorized for the connected app`;
    else if (a.flow === 'refresh_token') hint = `the refresh token is expired or revoked: obtain a new one and set ${p}.refreshToken`;
    else if (a.flow === 'password') hint = `check ${p}.username, ${p}.password and ${p}.securityToken`;
    else if (error === 'unsupported_grant_type') hint = `the ${a.flow} flow is not enabled for this connected app / org`;
    else hint = `check ${p}`;
    return new BridgeError('AUTH_REJECTED', `${p}: Salesforce rejected the ${a.flow} login (${error}${desc ? `: ${desc}` : ''}); ${hint}`);
  }
}
