/**
 * Routes made through the route API (`health.routesApi: writable`: PUT and DELETE /routes/<name>).
 * The running config is the file's routes plus these. They are kept in the replay store, under
 * keys of their own beside the positions, so every store type keeps them with no code of its own,
 * a restart starts them again, and HA instances sharing the store all see them (each looks again
 * every few seconds). A file route and an API route never share a name: the file's is refused to
 * the API, and a stored route whose name the file took since is reported and left stopped.
 */

import type { BridgeConfig, RouteConfig } from '../config/schema.js';
import { configProblems, parseRouteDefinition } from '../config-file.js';
import { ConfigError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { ReplayStore, StoredPosition } from '../replay/types.js';
import { routeKey } from '../route-facts.js';
import type { ReloadPlan } from './reload.js';

/** Store keys of API routes: `<prefix><name>`, the route as the API received it (JSON text). */
export const API_ROUTE_PREFIX = 'sfbridge.route-api/';

export function isApiRouteKey(key: string): boolean {
  return key.startsWith(API_ROUTE_PREFIX);
}

/** The routes the API stored (name -> the route as received, JSON text), from a store's list(). */
export function apiRouteDefinitions(stored: StoredPosition[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of stored) if (isApiRouteKey(p.key)) out.set(p.key.slice(API_ROUTE_PREFIX.length), p.replayId);
  return out;
}

/** Route names the API takes: they appear in URLs, logs and store keys. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

export interface WriteOutcome {
  status: number;
  message: string;
}

export interface Reloadable {
  readonly store: ReplayStore;
  reload(next: BridgeConfig): Promise<ReloadPlan>;
}

export class ApiRoutes {
  /** name -> the route as received (JSON text), as stored. */
  private stored = new Map<string, string>();
  /** The API routes running now (those that passed the checks against the file's config). */
  private running = new Set<string>();
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private file: BridgeConfig,
    private readonly bridge: Reloadable,
    private readonly log: Logger,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** Names of the API routes running now. */
  names(): ReadonlySet<string> {
    return this.running;
  }

  /** Read the stored routes and start them; with `syncEveryMs`, look again that often (HA). */
  async start(syncEveryMs?: number): Promise<void> {
    await this.serial(() => this.sync());
    if (syncEveryMs) {
      this.timer = setInterval(() => {
        void this.serial(() => this.sync()).catch((err) =>
          this.log.warn({ error: errorMessage(err) }, 'route API: could not read the stored routes; trying again'),
        );
      }, syncEveryMs);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** A new config file (SIGHUP, --watch-config): the API's routes stay. */
  reloadFile(next: BridgeConfig): Promise<ReloadPlan> {
    return this.serial(async () => {
      this.file = next;
      return this.apply(true);
    });
  }

  put(name: string, body: unknown): Promise<WriteOutcome> {
    return this.serial(async () => {
      if (!NAME.test(name))
        return { status: 400, message: `route names for the API are letters, digits, _ . - (at most 100): not "${name}"` };
      if (this.file.routes.some((r) => routeKey(r) === name))
        return { status: 409, message: `route "${name}" is defined in the config file; change it there` };
      let route: RouteConfig;
      try {
        route = parseRouteDefinition(body, name, this.env);
      } catch (err) {
        return { status: 400, message: err instanceof ConfigError ? err.message : errorMessage(err) };
      }
      const others = this.accepted().filter((r) => routeKey(r) !== name);
      const problems = this.check([...others, route]).refused.get(others.length) ?? [];
      if (problems.length > 0) return { status: 400, message: problems.join('\n') };
      const existed = this.stored.has(name);
      const text = JSON.stringify(body);
      await this.bridge.store.commit(API_ROUTE_PREFIX + name, { replayId: text, eventTime: null });
      this.stored.set(name, text);
      await this.apply(false, [...others, route]);
      this.log.info({ route: name, action: existed ? 'replaced' : 'created' }, 'route API: route stored and applied');
      return existed ? { status: 200, message: `route "${name}" replaced` } : { status: 201, message: `route "${name}" created` };
    });
  }

  remove(name: string): Promise<WriteOutcome> {
    return this.serial(async () => {
      if (!this.stored.has(name)) {
        return this.file.routes.some((r) => routeKey(r) === name)
          ? { status: 409, message: `route "${name}" is defined in the config file; remove it there` }
          : { status: 404, message: `no route named "${name}" was made through the route API` };
      }
      await this.bridge.store.delete(API_ROUTE_PREFIX + name);
      this.stored.delete(name);
      await this.apply();
      this.log.info({ route: name }, 'route API: route deleted (its position stays stored)');
      return { status: 200, message: `route "${name}" deleted; its position stays stored` };
    });
  }

  /** Re-read the store; apply when what is stored differs from what runs. */
  private async sync(): Promise<void> {
    const now = apiRouteDefinitions(await this.bridge.store.list());
    const same = now.size === this.stored.size && [...now].every(([k, v]) => this.stored.get(k) === v);
    if (same) return;
    this.stored = now;
    await this.apply(true);
  }

  /** The stored routes that parse and pass the checks against the file's routes and each other. */
  private accepted(report = false): RouteConfig[] {
    const parsed: RouteConfig[] = [];
    const refuse = (name: string, problems: string[]) => {
      if (report)
        this.log.error({ route: name, problems }, `route API: the stored route "${name}" does not run (fix it with PUT /routes/${name})`);
    };
    for (const [name, text] of this.stored) {
      if (this.file.routes.some((r) => routeKey(r) === name)) {
        refuse(name, [`the config file now has a route "${name}"; the file's route runs`]);
        continue;
      }
      try {
        parsed.push(parseRouteDefinition(JSON.parse(text), name, this.env));
      } catch (err) {
        refuse(name, err instanceof ConfigError ? err.message.split('\n') : [errorMessage(err)]);
      }
    }
    const { refused } = this.check(parsed);
    for (const [i, problems] of refused) refuse(routeKey(parsed[i] as RouteConfig), problems);
    return parsed.filter((_, i) => !refused.has(i));
  }

  /**
   * configProblems over the file's routes and `candidates` at once (not once per route: a thousand
   * API routes would cost a million route checks): each candidate's problems, in its own name. A
   * clash is reported at the later route; once a refused one is left out, the rest is checked again.
   */
  private check(candidates: RouteConfig[]): { refused: Map<number, string[]> } {
    const refused = new Map<number, string[]>();
    const base = this.file.routes.length;
    for (;;) {
      const kept = candidates.map((r, i) => ({ r, i })).filter(({ i }) => !refused.has(i));
      const routes = [...this.file.routes, ...kept.map(({ r }) => r)];
      const named = (p: string) =>
        p.replace(/routes\[(\d+)\]/g, (whole, n: string) => {
          const k = kept[Number(n) - base];
          return k ? `route "${routeKey(k.r)}"` : whole;
        });
      const found = new Map<number, string[]>();
      for (const p of configProblems({ ...this.file, routes })) {
        const at = /^routes\[(\d+)\]/.exec(p);
        const k = at ? kept[Number(at[1]) - base] : undefined;
        if (k) found.set(k.i, [...(found.get(k.i) ?? []), named(p)]);
      }
      if (found.size === 0) return { refused };
      for (const [i, problems] of found) refused.set(i, problems);
    }
  }

  private async apply(report = false, api = this.accepted(report)): Promise<ReloadPlan> {
    this.running = new Set(api.map(routeKey));
    return this.bridge.reload({ ...this.file, routes: [...this.file.routes, ...api] });
  }

  /** One change at a time: API writes, file reloads and syncs never interleave. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
