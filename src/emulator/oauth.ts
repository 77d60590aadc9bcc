/**
 * The emulated OAuth 2.0 token endpoint and token registry: JWT bearer, client credentials,
 * refresh token and username-password flows, with Salesforce's response and error shapes.
 * Tokens expire (configurable lifetime, emulator clock) and can be revoked or expired at once
 * (fault injection); every API checks them here.
 */
import { createHmac, createPublicKey, X509Certificate } from 'node:crypto';
import { importSPKI, jwtVerify } from 'jose';

type KeyLike = Awaited<ReturnType<typeof importSPKI>>;

import type { Clock } from './clock.js';
import { newAccessToken, newOpaque } from './ids.js';

export interface OAuthOptions {
  orgId: string;
  userId: string;
  username: string;
  password: string;
  securityToken: string;
  clientId: string;
  clientSecret: string;
  refreshToken: string;
  tokenLifetimeSeconds: number;
  /** PEM certificate or public key that verifies JWT bearer assertions; null disables the flow. */
  jwtCertificate: string | null;
}

export interface TokenResult {
  status: number;
  body: Record<string, unknown>;
}

interface TokenInfo {
  expiresAt: number;
  revoked: boolean;
}

export class OAuthServer {
  private readonly tokens = new Map<string, TokenInfo>();
  private jwtKey: Promise<KeyLike | null>;
  private signingSecret = newOpaque();

  constructor(
    readonly opts: OAuthOptions,
    private readonly clock: Clock,
    private readonly urls: () => { loginUrl: string; instanceUrl: string },
  ) {
    this.jwtKey = this.loadJwtKey(opts.jwtCertificate);
  }

  setJwtCertificate(pem: string | null): void {
    this.opts.jwtCertificate = pem;
    this.jwtKey = this.loadJwtKey(pem);
  }

  private async loadJwtKey(pem: string | null): Promise<KeyLike | null> {
    if (!pem) return null;
    const spki = pem.includes('CERTIFICATE')
      ? new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'pem' }).toString()
      : createPublicKey(pem).export({ type: 'spki', format: 'pem' }).toString();
    return importSPKI(spki, 'RS256');
  }

  /** Is this access token currently valid? */
  check(token: string | undefined | null): 'ok' | 'expired' | 'unknown' {
    if (!token) return 'unknown';
    const info = this.tokens.get(token);
    if (!info) return 'unknown';
    if (info.revoked || info.expiresAt <= this.clock.now()) return 'expired';
    return 'ok';
  }

  expireAll(): number {
    let n = 0;
    for (const info of this.tokens.values()) {
      if (!info.revoked) n++;
      info.revoked = true;
    }
    return n;
  }

  revoke(token: string): boolean {
    const info = this.tokens.get(token);
    if (!info) return false;
    info.revoked = true;
    return true;
  }

  /** Issue a token directly (admin API and tests). */
  issue(): string {
    const token = newAccessToken(this.opts.orgId);
    this.tokens.set(token, { expiresAt: this.clock.now() + this.opts.tokenLifetimeSeconds * 1000, revoked: false });
    return token;
  }

  async token(form: URLSearchParams): Promise<TokenResult> {
    const grant = form.get('grant_type');
    switch (grant) {
      case 'password':
        return this.passwordFlow(form);
      case 'client_credentials':
        return this.clientCredentialsFlow(form);
      case 'refresh_token':
        return this.refreshFlow(form);
      case 'urn:ietf:params:oauth:grant-type:jwt-bearer':
        return this.jwtFlow(form);
      default:
        return err('unsupported_grant_type', 'grant type not supported');
    }
  }

  private clientOk(form: URLSearchParams, needSecret: boolean): TokenResult | null {
    if (form.get('client_id') !== this.opts.clientId) return err('invalid_client_id', 'client identifier invalid');
    if (needSecret && form.get('client_secret') !== this.opts.clientSecret) return err('invalid_client', 'invalid client credentials');
    return null;
  }

  private passwordFlow(form: URLSearchParams): TokenResult {
    const bad = this.clientOk(form, true);
    if (bad) return bad;
    const expected = this.opts.password + this.opts.securityToken;
    if (form.get('username') !== this.opts.username || form.get('password') !== expected)
      return err('invalid_grant', 'authentication failure');
    return this.success(false);
  }

  /** SOAP API login(): a session id for the user's username and password (+ security token), or null. */
  soapLogin(username: string, password: string): string | null {
    if (username !== this.opts.username || password !== this.opts.password + this.opts.securityToken) return null;
    return this.issue();
  }

  /** The ids a SOAP login result names. */
  get ids(): { orgId: string; userId: string; username: string } {
    return { orgId: this.opts.orgId, userId: this.opts.userId, username: this.opts.username };
  }

  private clientCredentialsFlow(form: URLSearchParams): TokenResult {
    const bad = this.clientOk(form, true);
    if (bad) return bad;
    return this.success(false);
  }

  private refreshFlow(form: URLSearchParams): TokenResult {
    const bad = this.clientOk(form, form.has('client_secret'));
    if (bad) return bad;
    if (form.get('refresh_token') !== this.opts.refreshToken) return err('invalid_grant', 'expired access/refresh token');
    return this.success(false);
  }

  private async jwtFlow(form: URLSearchParams): Promise<TokenResult> {
    const assertion = form.get('assertion');
    if (!assertion) return err('invalid_request', 'assertion is required');
    const key = await this.jwtKey;
    if (!key) return err('invalid_client', 'JWT bearer flow is not configured on this emulator (start it with --jwt-cert FILE)');
    let claims: Record<string, unknown>;
    try {
      const verified = await jwtVerify(assertion, key, { algorithms: ['RS256'], currentDate: new Date(this.clock.now()) });
      claims = verified.payload as Record<string, unknown>;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ERR_JWT_EXPIRED') return err('invalid_grant', 'expired authorization code');
      if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') return err('invalid_grant', 'invalid assertion');
      return err('invalid_grant', 'invalid assertion');
    }
    if (claims.iss !== this.opts.clientId) return err('invalid_client_id', 'client identifier invalid');
    const { loginUrl } = this.urls();
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!aud.some((a) => typeof a === 'string' && a.replace(/\/$/, '') === loginUrl.replace(/\/$/, '')))
      return err('invalid_grant', 'audience is invalid');
    if (claims.sub !== this.opts.username) return err('invalid_grant', "user hasn't approved this consumer");
    if (typeof claims.exp !== 'number') return err('invalid_grant', 'invalid assertion');
    if (claims.exp * 1000 > this.clock.now() + 5 * 60_000) return err('invalid_grant', 'invalid assertion: exp is too far in the future');
    return this.success(false);
  }

  private success(withRefresh: boolean): TokenResult {
    const token = this.issue();
    const { instanceUrl, loginUrl } = this.urls();
    const issuedAt = String(this.clock.now());
    const id = `${loginUrl}/id/${this.opts.orgId}/${this.opts.userId}`;
    const body: Record<string, unknown> = {
      access_token: token,
      instance_url: instanceUrl,
      id,
      token_type: 'Bearer',
      issued_at: issuedAt,
      signature: createHmac('sha256', this.signingSecret)
        .update(id + issuedAt)
        .digest('base64'),
      scope: 'api',
    };
    if (withRefresh) body.refresh_token = this.opts.refreshToken;
    return { status: 200, body };
  }

  userInfo(): Record<string, unknown> {
    const { loginUrl } = this.urls();
    return {
      sub: `${loginUrl}/id/${this.opts.orgId}/${this.opts.userId}`,
      user_id: this.opts.userId,
      organization_id: this.opts.orgId,
      preferred_username: this.opts.username,
      nickname: this.opts.username.split('@')[0],
      name: 'Emulator User',
      email: this.opts.username,
      email_verified: true,
      zoneinfo: 'UTC',
      active: true,
      user_type: 'STANDARD',
      language: 'en_US',
      locale: 'en_US',
      utcOffset: 0,
    };
  }
}

function err(error: string, description: string): TokenResult {
  return { status: 400, body: { error, error_description: description } };
}
