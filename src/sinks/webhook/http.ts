/** One HTTP POST with a hard timeout, over keep-alive agents; TLS verification is always on. */
import http from 'node:http';
import https from 'node:https';
import { untrustedSnippet } from '../../log.js';

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

  constructor(url: string, maxSockets: number, ca?: string) {
    this.url = new URL(url);
    this.agent =
      this.url.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, maxSockets, rejectUnauthorized: true, ...(ca ? { ca } : {}) })
        : new http.Agent({ keepAlive: true, maxSockets });
  }

  post(body: string, headers: Record<string, string>, timeoutMs: number, signal?: AbortSignal): Promise<PostResult> {
    const mod = this.url.protocol === 'https:' ? https : http;
    return new Promise((resolve) => {
      let settled = false;
      const finish = (r: PostResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(r);
      };
      const req = mod.request(this.url, {
        method: 'POST',
        agent: this.agent,
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      });
      const timer = setTimeout(() => {
        req.destroy();
        finish({ status: 0, detail: `no response within ${timeoutMs} ms` });
      }, timeoutMs);
      const onAbort = () => {
        req.destroy();
        finish({ status: 0, detail: 'aborted (sink closing)' });
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => finish({ status: 0, detail: describeNetworkError(err) }));
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (text.length < 300) text += chunk;
        });
        res.on('error', () => {});
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
          const snippet = untrustedSnippet(text, 200);
          finish({ status, retryAfterMs, detail: `HTTP ${status}${snippet ? `: ${snippet}` : ''}` });
        });
      });
      req.end(body);
    });
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
  if (err.code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(err.code))
    return `TLS certificate not trusted (${err.code}); set caCertFile if the receiver uses a private CA`;
  return err.message || String(err);
}
