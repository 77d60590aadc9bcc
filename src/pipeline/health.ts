/**
 * HTTP endpoints for orchestrators. /healthz is liveness: 200 while the process serves requests,
 * whatever single routes do (a failed route must not get the healthy ones restarted with the
 * process). /readyz is readiness (notReady() below says what it checks). /status (JSON, public:
 * strings scrubbed), /metrics (Prometheus, metrics.ts), and the route API (route-api.ts).
 */
import { createServer, type Server } from 'node:http';
import { scrubbedJson, scrubString } from '../log.js';
import type { BridgeStatus } from './bridge.js';
import { handleRouteApi, type RouteApiTarget } from './route-api.js';
import type { RouteStatus } from './route-types.js';

export interface HealthHandlers {
  status: () => BridgeStatus;
  /** The route API (route-api.ts): pause, resume, restart. */
  routes?: Omit<RouteApiTarget, 'routes'>;
  /** Bearer token that authorises route changes from clients other than loopback. */
  token?: string;
  metrics: { render(): Promise<string>; contentType: string };
}

/** A sink failing for longer than this makes the instance unready (its events are piling up). */
export const SINK_FAILING_UNREADY_MS = 60_000;

/**
 * Why the instance is not ready, or [] when it is: every route subscribed (or HA standby, or
 * finished), the replay store taking commits, no sink failing for over a minute.
 */
export function notReady(s: BridgeStatus, now = Date.now()): string[] {
  if (s.state !== 'running') return [s.state];
  return s.routes.flatMap((r) => routeProblems(r, now).map((p) => `${r.key}: ${p}`));
}

function routeProblems(r: RouteStatus, now: number): string[] {
  if (r.state === 'standby' || r.state === 'ended') return [];
  if (r.state !== 'running') return [r.state === 'failed' ? `failed (${r.error ?? 'unknown error'})` : r.state];
  const out: string[] = [];
  if (r.sourceStats.subscribed === 0) out.push('not subscribed (reconnecting)');
  if (r.commitFailures > 0) out.push(`replay store refusing commits (${r.commitFailures} failures)`);
  for (const k of r.sinks) {
    const since = k.failingSince ? Date.parse(k.failingSince) : Number.NaN;
    if (now - since > SINK_FAILING_UNREADY_MS) out.push(`sink ${k.name} failing since ${k.failingSince}`);
  }
  return out;
}

const text = { 'content-type': 'text/plain' };

export function startHealthServer(host: string, port: number, h: HealthHandlers): Promise<Server> {
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0] ?? '/';
    const api = h.routes && { ...h.routes, routes: () => h.status().routes };
    if (api && handleRouteApi(req, res, url, api, h.token)) return;
    if (url === '/healthz') {
      const alive = h.status().state !== 'stopped';
      res.writeHead(alive ? 200 : 503, text).end(alive ? 'ok\n' : 'stopped\n');
    } else if (url === '/readyz') {
      // Route names and errors are operator text, scrubbed like /status.
      const why = notReady(h.status()).map(scrubString);
      res.writeHead(why.length === 0 ? 200 : 503, text).end(why.length === 0 ? 'ready\n' : `${why.join('\n')}\n`);
    } else if (url === '/status') {
      // /status is public: every string passes the secret scrubber on its way out.
      const body = scrubbedJson(h.status());
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    } else if (url === '/metrics') {
      h.metrics.render().then(
        (body) => res.writeHead(200, { 'content-type': h.metrics.contentType }).end(body),
        (err) => res.writeHead(500, text).end(`metrics failed: ${scrubString(String(err))}\n`),
      );
    } else {
      res.writeHead(404, text).end('not found: try /healthz, /readyz, /status, /metrics, /routes\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
