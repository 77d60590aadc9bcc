/** One webhook POST over a keep-alive agent (TLS verification always on), as the sink needs it. */
import http from 'node:http';
import https from 'node:https';
import { httpCall } from '../../http.js';
import { untrustedSnippet } from '../../log.js';
import { type ProxySetting, tunnelAgent } from '../../proxy.js';
import { certificateHint } from '../../tls-ca.js';

export interface PostResult {
  /** 0 when no response arrived (network error or timeout). */
  status: number;
  /** Retry-After in ms when the receiver sent one. */
  retryAfterMs?: number;
  /** A short description for logs and dead letters. */
  detail: string;
}

export class HttpPoster {
  private readonly agent: http.Agent;
  private readonly url: URL;

  constructor(url: string, maxSockets: number, ca?: string, proxy?: ProxySetting | null) {
    this.url = new URL(url);
    this.agent = proxy
      ? tunnelAgent(proxy, this.url.protocol === 'https:', ca ?? null)
      : this.url.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, maxSockets, rejectUnauthorized: true, ...(ca ? { ca } : {}) })
        : new http.Agent({ keepAlive: true, maxSockets });
  }

  async post(body: string, headers: Record<string, string>, timeoutMs: number, signal?: AbortSignal): Promise<PostResult> {
    try {
      const r = await httpCall(this.url, { method: 'POST', headers, body, timeoutMs, agent: this.agent, signal, maxBodyBytes: 4096 });
      const snippet = untrustedSnippet(r.text, 200);
      const retryAfter = r.headers['retry-after'];
      return {
        status: r.status,
        retryAfterMs: parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter),
        detail: `HTTP ${r.status}${snippet ? `: ${snippet}` : ''}`,
      };
    } catch (err) {
      return { status: 0, detail: untrustedSnippet(describeNetworkError(err as NodeJS.ErrnoException), 300) };
    }
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Retry-After is either delay-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

function describeNetworkError(err: NodeJS.ErrnoException): string {
  if (err.code === 'ECONNREFUSED') return `connection refused (${err.message})`;
  return certificateHint(err, "the receiver's", 'caCertFile') ?? (err.message || String(err));
}
