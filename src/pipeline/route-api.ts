/**
 * The route API on the health listener: `GET /routes` and `GET /routes/<name>` (public, like
 * /status, strings scrubbed), `POST /routes/<name>/pause|resume|restart`, and with
 * `health.routesApi: writable` `PUT /routes/<name>` (a route as JSON) and `DELETE /routes/<name>`
 * (api-routes.ts). A change is taken from a loopback client, or from anywhere with
 * `Authorization: Bearer <health.token>`; that check comes before any body is read. Pause stops
 * requesting events and keeps the position.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { bearerProblem } from '../bearer.js';
import { scrubbedJson, scrubString } from '../log.js';
import type { WriteOutcome } from './api-routes.js';
import type { RouteStatus } from './route-types.js';

export interface RouteApiTarget {
  routes(): RouteStatus[];
  /** False when the route does not run on this instance. */
  pause(key: string, on: boolean): boolean;
  /** Restart now (a failed route at once; a running one drains first). */
  restart(key: string): Promise<boolean>;
  /** With `health.routesApi: writable`: add or replace, and remove, routes made through the API. */
  write?: {
    put(name: string, body: unknown): Promise<WriteOutcome>;
    remove(name: string): Promise<WriteOutcome>;
    names(): ReadonlySet<string>;
  };
}

/** A route sent with PUT: far larger than any route, small enough to hold in memory. */
const MAX_BODY = 1024 * 1024;

const text = { 'content-type': 'text/plain' };
const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
const ACTIONS = new Set(['pause', 'resume', 'restart']);

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(scrubbedJson(body));
}

function summary(r: RouteStatus, api: ReadonlySet<string>) {
  return {
    key: r.key,
    origin: api.has(r.key) ? 'route-api' : 'config',
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
    const made = api.write?.names() ?? new Set<string>();
    if (name === undefined)
      json(
        res,
        200,
        all.map((r) => summary(r, made)),
      );
    else {
      const r = all.find((x) => x.key === name);
      if (r) json(res, 200, r);
      else res.writeHead(404, text).end(`no route named ${scrubString(name)}\n`);
    }
    return true;
  }
  const write = (req.method === 'PUT' || req.method === 'DELETE') && name !== undefined && action === undefined;
  if (!write && (req.method !== 'POST' || name === undefined || action === undefined || !ACTIONS.has(action))) {
    res
      .writeHead(400, text)
      .end('route API: GET /routes, GET /routes/<name>, POST /routes/<name>/pause|resume|restart, PUT|DELETE /routes/<name>\n');
    return true;
  }
  if (!authorised(req, token)) {
    res.writeHead(401, text).end('route changes need a loopback client or Authorization: Bearer <health.token>\n');
    return true;
  }
  if (write) {
    void writeRoute(req, res, name, api);
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

/** PUT (a route as JSON) or DELETE /routes/<name>: authorised already; the body is read only now. */
async function writeRoute(req: IncomingMessage, res: ServerResponse, name: string, api: RouteApiTarget): Promise<void> {
  const answer = (o: WriteOutcome) => res.writeHead(o.status, text).end(`${scrubString(o.message)}\n`);
  if (!api.write) {
    req.resume();
    answer({ status: 405, message: 'the route API is read-only here; set health.routesApi: writable to add and remove routes through it' });
    return;
  }
  try {
    if (req.method === 'DELETE') {
      req.resume();
      answer(await api.write.remove(name));
      return;
    }
    const body = await readBody(req);
    if (typeof body === 'string') {
      if (body === 'too large') res.setHeader('connection', 'close');
      answer({ status: body === 'too large' ? 413 : 400, message: body === 'too large' ? `a route is at most ${MAX_BODY} bytes` : body });
      return;
    }
    answer(await api.write.put(name, body.value));
  } catch (err) {
    answer({ status: 500, message: `route "${name}" not changed: ${(err as Error).message}` });
  }
}

/** The request's JSON body, or why not (a string). Past MAX_BODY it stops reading (the answer closes the connection). */
function readBody(req: IncomingMessage): Promise<{ value: unknown } | string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.off('data', onData).pause();
        resolve('too large');
      } else chunks.push(c);
    };
    req.on('data', onData);
    req.on('error', () => resolve('the request was cut off'));
    req.on('end', () => {
      try {
        resolve({ value: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      } catch (err) {
        resolve(`the body is not JSON (${(err as Error).message}); send the route as a JSON object`);
      }
    });
  });
}
