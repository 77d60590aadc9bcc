/**
 * HTTP endpoints for orchestrators. /healthz is liveness: 200 while the process serves requests,
 * whatever single routes do (a failed route must not get the healthy ones restarted with the
 * process). /readyz is readiness: 200 only while every route runs. /status (JSON, public: strings
 * scrubbed), /metrics (Prometheus). `POST /routes/<name>/restart` restarts a failed route now,
 * from loopback clients only.
 */
import { createServer, type Server } from 'node:http';
import { scrubString } from '../log.js';
import type { BridgeStatus } from './bridge.js';

export function startHealthServer(
  host: string,
  port: number,
  status: () => BridgeStatus,
  restart: (route: string) => boolean = () => false,
): Promise<Server> {
  const server = createServer((req, res) => {
    const s = status();
    const failed = s.routes.filter((r) => r.state === 'failed').map((r) => r.key);
    const url = (req.url ?? '/').split('?')[0] ?? '/';
    const restartMatch = /^\/routes\/(.+)\/restart$/.exec(url);
    if (url === '/healthz') {
      const alive = s.state !== 'stopped';
      res.writeHead(alive ? 200 : 503, { 'content-type': 'text/plain' }).end(alive ? 'ok\n' : 'stopped\n');
    } else if (url === '/readyz') {
      const ready = s.state === 'running' && failed.length === 0;
      const why = failed.length > 0 ? `failed routes: ${failed.join(', ')}` : s.state;
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : `${why}\n`);
    } else if (restartMatch && req.method === 'POST') {
      const local = ['127.0.0.1', '::1', '::ffff:127.0.0.1'].includes(req.socket.remoteAddress ?? '');
      if (!local) res.writeHead(403, { 'content-type': 'text/plain' }).end('route restarts are accepted from loopback clients only\n');
      else if (restart(decodeURIComponent(restartMatch[1] as string)))
        res.writeHead(202, { 'content-type': 'text/plain' }).end('restarting\n');
      else res.writeHead(409, { 'content-type': 'text/plain' }).end('no such route waiting for a restart\n');
    } else if (url === '/status') {
      // /status is public: every string passes the secret scrubber on its way out.
      const body = JSON.stringify(s, (_k, v) => (typeof v === 'string' ? scrubString(v) : v), 2);
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    } else if (url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(prometheus(s));
    } else {
      res
        .writeHead(404, { 'content-type': 'text/plain' })
        .end('not found: try /healthz, /readyz, /status, /metrics or POST /routes/<name>/restart\n');
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

function prometheus(s: BridgeStatus): string {
  const lines: string[] = [];
  const metric = (name: string, help: string, type: string, rows: Array<[Record<string, string>, number]>) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of rows) {
      const l = Object.entries(labels)
        .map(([k, val]) => `${k}="${val.replace(/["\\\n]/g, '_')}"`)
        .join(',');
      lines.push(`${name}{${l}} ${v}`);
    }
  };
  const per = (f: (r: BridgeStatus['routes'][number]) => number) =>
    s.routes.map((r) => [{ route: r.key }, f(r)] as [Record<string, string>, number]);
  metric(
    'sfbridge_events_received_total',
    'Events received from the source.',
    'counter',
    per((r) => r.eventsReceived),
  );
  metric(
    'sfbridge_events_acked_total',
    'Events acknowledged by every sink.',
    'counter',
    per((r) => r.eventsAcked),
  );
  metric(
    'sfbridge_events_committed_total',
    'Events whose replay position is committed.',
    'counter',
    per((r) => r.eventsCommitted),
  );
  metric(
    'sfbridge_events_in_flight',
    'Events received but not yet acknowledged by every sink.',
    'gauge',
    per((r) => r.inFlight),
  );
  metric(
    'sfbridge_commit_failures',
    'Consecutive replay commit failures.',
    'gauge',
    per((r) => r.commitFailures),
  );
  metric(
    'sfbridge_route_up',
    '1 while the route runs.',
    'gauge',
    per((r) => (r.state === 'running' ? 1 : 0)),
  );
  metric(
    'sfbridge_sink_failing',
    '1 while a sink is failing and being retried.',
    'gauge',
    s.routes.flatMap((r) => r.sinks.map((k) => [{ route: r.key, sink: k.name }, k.failing ? 1 : 0] as [Record<string, string>, number])),
  );
  return `${lines.join('\n')}\n`;
}
