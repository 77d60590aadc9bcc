/**
 * HTTP proxies for every connection to Salesforce: `orgs.<name>.proxy`, else the environment's
 * HTTPS_PROXY / HTTP_PROXY (either case) minus NO_PROXY. HTTPS goes through a CONNECT tunnel
 * (an https.Agent whose sockets are tunnels); the Pub/Sub API's gRPC through grpc-js's own CONNECT
 * support, given the proxy explicitly (`grpcProxyOptions`), so NO_PROXY and per-org proxies are ours.
 * A refused CONNECT becomes one line naming the setting to fix. Credentials never leave here in
 * text: `describeProxy` prints the URL without them.
 */
import { type ClientRequestArgs, Agent as HttpAgent, request as httpRequest } from 'node:http';
import { type AgentOptions, Agent as HttpsAgent, type RequestOptions } from 'node:https';
import { isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { BridgeError } from './errors.js';
import { registerSecret, registerUrlSecrets } from './log.js';

export interface ProxySetting {
  url: URL;
  /** Where it came from, for messages: `orgs.prod.proxy` or `HTTPS_PROXY`. */
  from: string;
}

export interface OrgProxyConfig {
  url: string;
  username?: string;
  password?: string;
}

/** A component's own `proxy` setting and where it is in the config (`orgs.prod.proxy`). */
export interface ProxyOwner {
  at: string;
  proxy?: OrgProxyConfig;
}

/** NO_PROXY: `*`, host names, `.suffix` / `suffix` domains, `host:port`. */
function bypassed(target: URL, noProxy: string): boolean {
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  for (const raw of noProxy.split(/[,\s]+/).filter(Boolean)) {
    const entry = raw.toLowerCase();
    if (entry === '*') return true;
    const [h, p] = entry.includes(':') && !entry.includes(']') ? (entry.split(':') as [string, string]) : [entry, undefined];
    if (p && p !== port) continue;
    const bare = h.replace(/^\*?\./, '');
    if (host === bare || host.endsWith(`.${bare}`)) return true;
  }
  return false;
}

/** The proxy for a connection to `target`, or null to go direct. */
export function proxyFor(target: URL, own: ProxyOwner | null, env: NodeJS.ProcessEnv = process.env): ProxySetting | null {
  if (own?.proxy) {
    registerSecret(own.proxy.password);
    const url = new URL(own.proxy.url);
    if (own.proxy.username) url.username = encodeURIComponent(own.proxy.username);
    if (own.proxy.password) url.password = encodeURIComponent(own.proxy.password);
    return { url, from: own.at };
  }
  const noProxy = env.NO_PROXY ?? env.no_proxy ?? '';
  if (bypassed(target, noProxy)) return null;
  const https = target.protocol === 'https:' || target.protocol === 'grpcs:';
  const pick = https
    ? ([
        ['HTTPS_PROXY', env.HTTPS_PROXY],
        ['https_proxy', env.https_proxy],
        ['HTTP_PROXY', env.HTTP_PROXY],
        ['http_proxy', env.http_proxy],
      ] as const)
    : ([
        ['HTTP_PROXY', env.HTTP_PROXY],
        ['http_proxy', env.http_proxy],
      ] as const);
  for (const [name, value] of pick) {
    if (!value) continue;
    let url: URL;
    registerUrlSecrets(value.includes('://') ? value : `http://${value}`);
    try {
      url = new URL(value.includes('://') ? value : `http://${value}`);
    } catch {
      throw new BridgeError('CONFIG', `${name} is not a URL (expected http://host:port)`);
    }
    return { url, from: name };
  }
  return null;
}

/** The proxy URL as it may be printed: scheme, host and port, never the credentials. */
export function describeProxy(p: ProxySetting): string {
  return `${p.url.protocol}//${p.url.host} (${p.from})`;
}

function authHeader(p: ProxySetting): Record<string, string> {
  if (!p.url.username) return {};
  const cred = `${decodeURIComponent(p.url.username)}:${decodeURIComponent(p.url.password)}`;
  return { 'proxy-authorization': `Basic ${Buffer.from(cred).toString('base64')}` };
}

/** What to change when a proxy refuses a CONNECT. */
function refusal(p: ProxySetting, hostPort: string, status: number, text: string): BridgeError {
  // From the environment (HTTPS_PROXY…), credentials go in the URL; from the config, in its fields.
  const where = /^https?_proxy$/i.test(p.from)
    ? `user:password in ${p.from}`
    : p.from.startsWith('orgs.')
      ? `${p.from}.username and .password`
      : `username and password in ${p.from}`;
  const fix =
    status === 407
      ? `the proxy wants credentials: set ${where}`
      : `the proxy does not allow ${hostPort}: ask for it to be allowed (Salesforce's Pub/Sub API is on port 7443), or set NO_PROXY / ${p.from}`;
  return new BridgeError('PROXY', `proxy ${describeProxy(p)} refused CONNECT ${hostPort} with ${status} ${text}: ${fix}`, {
    retriable: status >= 500,
  });
}

/** Open a CONNECT tunnel to host:port through the proxy; resolves with the raw socket. */
export function connectTunnel(p: ProxySetting, host: string, port: number, timeoutMs = 30_000): Promise<Socket> {
  const hostPort = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: p.url.hostname,
      port: Number(p.url.port || 80),
      method: 'CONNECT',
      path: hostPort,
      headers: { host: hostPort, ...authHeader(p) },
      timeout: timeoutMs,
    });
    req.once('connect', (res, socket, head) => {
      if (res.statusCode === 200) {
        if (head.length > 0) socket.unshift(head);
        resolve(socket);
      } else {
        socket.destroy();
        reject(refusal(p, hostPort, res.statusCode ?? 0, res.statusMessage ?? ''));
      }
    });
    req.once('timeout', () => req.destroy(new Error(`no answer from proxy ${describeProxy(p)} within ${timeoutMs} ms`)));
    req.once('error', (err) =>
      reject(
        err instanceof BridgeError
          ? err
          : new BridgeError('PROXY', `cannot reach proxy ${describeProxy(p)}: ${err.message}`, { retriable: true }),
      ),
    );
    req.end();
  });
}

/** An https.Agent whose connections are TLS over a CONNECT tunnel (keep-alive, pooled). */
class TunnelAgent extends HttpsAgent {
  constructor(
    private readonly proxy: ProxySetting,
    opts: AgentOptions,
  ) {
    super({ keepAlive: true, ...opts });
  }

  override createConnection(options: RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): undefined {
    const done = callback as (err: Error | null, stream?: Duplex) => void;
    const host = String(options.host ?? options.hostname ?? 'localhost');
    const port = Number(options.port ?? 443);
    connectTunnel(this.proxy, host, port).then(
      (raw) => {
        // SNI takes names only: an IP address is verified against the certificate as the host.
        const servername = isIP(host) ? undefined : host;
        // The request's trust rides in its options (`secureContext` from http.ts, or `ca`).
        const tls = tlsConnect({ ...(options as object), socket: raw, host, servername });
        tls.once('secureConnect', () => done(null, tls));
        tls.once('error', (err) => done(err));
      },
      (err: Error) => done(err),
    );
    return undefined;
  }
}

/** Plain HTTP through a CONNECT tunnel (a local emulator started with --plaintext). */
class PlainTunnelAgent extends HttpAgent {
  constructor(private readonly proxy: ProxySetting) {
    super({ keepAlive: true });
  }

  override createConnection(options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): undefined {
    const done = callback as (err: Error | null, stream?: Duplex) => void;
    connectTunnel(this.proxy, String(options.host ?? 'localhost'), Number(options.port ?? 80)).then(
      (raw) => done(null, raw),
      (err: Error) => done(err),
    );
    return undefined;
  }
}

const agents = new Map<string, HttpAgent>();

/** The (shared) tunnelling agent for a proxy, a scheme and a CA set. */
export function tunnelAgent(p: ProxySetting, secure: boolean, ca: string | null): HttpAgent {
  const key = `${secure}\u0000${p.url.href}\u0000${ca ?? ''}`;
  let a = agents.get(key);
  if (!a) {
    a = secure ? new TunnelAgent(p, ca ? { ca } : {}) : new PlainTunnelAgent(p);
    agents.set(key, a);
  }
  return a;
}

/**
 * grpc-js channel settings that send the channel through the proxy with CONNECT: the target
 * becomes the proxy, the real endpoint rides in `grpc.http_connect_target` (grpc-js verifies TLS
 * against it), and the environment's proxy variables are not read again.
 */
export function grpcProxyOptions(p: ProxySetting, endpoint: string): { target: string; options: Record<string, string | number> } {
  const options: Record<string, string | number> = { 'grpc.enable_http_proxy': 0, 'grpc.http_connect_target': `dns:${endpoint}` };
  if (p.url.username) options['grpc.http_connect_creds'] = `${decodeURIComponent(p.url.username)}:${decodeURIComponent(p.url.password)}`;
  return { target: `${p.url.hostname}:${p.url.port || 80}`, options };
}
