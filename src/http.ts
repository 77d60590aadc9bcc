/**
 * The bridge's one HTTP client (OAuth, REST, webhooks): a request with a hard deadline for the
 * whole exchange, an optional abort signal and keep-alive agent, the extra CA of an org, and a
 * cap on how much of a response body is kept (a receiver's error page is not worth megabytes).
 * It rejects on network errors, timeouts and aborts; any HTTP status resolves.
 */
import { type Agent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { sharedSecureContext } from './tls-ca.js';

const trustAgents = new Map<string, HttpsAgent>();

/**
 * The keep-alive agent of one set of trusted CAs. Node's agents pool sockets by their TLS options
 * but not by `secureContext`: on the global agent, a socket verified against an org's private CA
 * would be reused for a request that trusts the system roots only (another org on the same host).
 */
export function agentTrusting(ca: string): HttpsAgent {
  let a = trustAgents.get(ca);
  if (!a) {
    // As Node's global agent is set up (idle sockets closed after 5 s, before a server's own
    // keep-alive limit can race a request), plus the CA set.
    const keepAlive = trustAgents.size < 64;
    a = new HttpsAgent({ keepAlive, scheduling: 'lifo', timeout: 5000, secureContext: sharedSecureContext(ca) });
    if (keepAlive) trustAgents.set(ca, a);
  }
  return a;
}

export interface HttpResponse {
  status: number;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Trusted CAs (PEM), when not the system's. */
  ca?: string | Buffer | null;
  /** Deadline for the whole request and response, default 30 s. */
  timeoutMs?: number;
  agent?: Agent;
  signal?: AbortSignal;
  /** Keep at most this many bytes of the body (the rest is read and dropped). */
  maxBodyBytes?: number;
}

export function httpCall(url: string | URL, opts: HttpOptions = {}): Promise<HttpResponse> {
  const u = typeof url === 'string' ? new URL(url) : url;
  const fn = u.protocol === 'https:' ? httpsRequest : httpRequest;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const max = opts.maxBodyBytes ?? Number.POSITIVE_INFINITY;
  return new Promise((resolve, reject) => {
    const headers = {
      ...(opts.headers ?? {}),
      ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}),
    };
    // A private CA: one shared TLS context for it (tls-ca.ts), not one per connection. Not given as
    // `ca` too: an agent names its socket pools after the TLS options, a 200 KB PEM included.
    const trust = opts.ca ? { secureContext: sharedSecureContext(String(opts.ca)) } : {};
    const agent = opts.agent ?? (opts.ca && u.protocol === 'https:' ? agentTrusting(String(opts.ca)) : undefined);
    const req = fn(u, { method: opts.method ?? 'GET', headers, ...trust, agent }, (res) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      res.on('data', (c: Buffer) => {
        if (kept < max) {
          chunks.push(c);
          kept += c.length;
        }
      });
      res.on('end', () => {
        finish();
        const text = Buffer.concat(chunks).subarray(0, Math.min(kept, max)).toString('utf8');
        resolve({ status: res.statusCode ?? 0, text, headers: res.headers });
      });
      res.on('error', fail);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no response within ${timeoutMs} ms`)), timeoutMs);
    const onAbort = () => req.destroy(new Error('aborted'));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    function finish() {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    }
    function fail(err: Error) {
      finish();
      reject(err);
    }
    req.on('error', fail);
    if (opts.signal?.aborted) onAbort();
    req.end(opts.body);
  });
}
