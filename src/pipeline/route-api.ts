/**
 * The route API on the health listener: `GET /routes` and `GET /routes/<name>` (public, like
 * /status, strings scrubbed), and `POST /routes/<name>/pause|resume|restart`. A change is taken
 * from a loopback client, or from anywhere with `Authorization: Bearer <health.token>`; the check
 * comes first, and no request body is read. Pause stops requesting events and keeps the position.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { bearerProblem } from '../bearer.js';
import { scrubbedJson, scrubString } from '../log.js';
import type { RouteStatus } from './route-types.js';

export interface RouteApiTarget {
  routes(): RouteStatus[];
  /** False when the route does not run on this instance. */
  pause(key: string, on: boolean): boolean;
  /** Restart now (a failed route at once; a running one drains first). */
  restart(key: string): Promise<boolean>;
}

const text = { 'content-type': 'text/plain' };
const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
const ACTIONS = new Set(['pause', 'resume', 'restart']);

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(scrubbedJson(body));
}

function summary(r: RouteStatus) {
  return {
    key: r.key,
    state: r.state,
    paused: r.paused ?? false,
    source: r.source,
    eventsCommitted: r.eventsCommitted,
    committed: r.committed,
    error: r.error,
  };
}

function authorised(req: IncomingMessage, token: string | undefined): boolean {
  if (LOOPBACK.has(req.socket.remoteAddress ?? '')) return true;
  return token !== undefined && bearerProblem(req.headers.authorization, token) === null;
}

/** Handles `/routes…`; false when the path is not the API's. */
export function handleRouteApi(req: IncomingMessage, res: ServerResponse, url: string, api: RouteApiTarget, token?: string): boolean {
  const m = /^\/routes(?:\/([^/]+)(?:\/([^/]+))?)?\/?$/.exec(url);
  if (!m) return false;
  const name = m[1] === undefined ? undefined : decodeURIComponent(m[1]);
  const action = m[2];
  if (req.method === 'GET' && action === undefined) {
    const all = api.routes();
    if (name === undefined) json(res, 200, all.map(summary));
    else {
      const r = all.find((x) => x.key === name);
      if (r) json(res, 200, r);
      else res.writeHead(404, text).end(`no route named ${scrubString(name)}\n`);
    }
    return true;
  }
  if (req.method !== 'POST' || name === undefined || action === undefined || !ACTIONS.has(action)) {
    res.writeHead(400, text).end('route API: GET /routes, GET /routes/<name>, POST /routes/<name>/pause|resume|restart\n');
    return true;
  }
  if (!authorised(req, token)) {
    res.writeHead(401, text).end('route changes need a loopback client or Authorization: Bearer <health.token>\n');
    return true;
  }
  const r = api.routes().find((x) => x.key === name);
  if (!r) {
    res.writeHead(404, text).end(`no route named ${scrubString(name)}\n`);
    return true;
  }
  if (action === 'restart' && r.state !== 'standby') {
    // Answered at once; a running route drains first, which may take a while.
    void api.restart(name);
    res.writeHead(202, text).end('restarting\n');
    return true;
  }
  const ok = api.pause(name, action === 'pause');
  res
    .writeHead(ok ? 200 : 409, text)
    .end(ok ? `${action === 'pause' ? 'paused' : 'resumed'}\n` : 'the route does not run on this instance\n');
  return true;
}
