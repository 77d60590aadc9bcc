/**
 * What a new config changes for a running bridge: routes added, removed or changed (their own
 * settings, or those of the org they read from), orgs added, removed or changed, and settings that
 * only a restart applies. Routes whose settings are the same are left alone: they never pause.
 */
import { createHash } from 'node:crypto';
import type { BridgeConfig, RouteConfig } from '../config/schema.js';
import { routeKey, sourceFacts } from '../route-facts.js';

export interface ReloadPlan {
  added: string[];
  removed: string[];
  changed: string[];
  orgs: { added: string[]; removed: string[]; changed: string[] };
  /** Top-level settings that changed but take effect only at the next start. */
  needRestart: string[];
}

/** Applied by a restart only: the stores, the HA and health set-up, the pipeline's defaults, logging. */
const RESTART_ONLY = ['replayStore', 'deadLetter', 'ha', 'health', 'pipeline', 'log', 'onRouteFailure', 'routeRestart'] as const;

/** A stable text of a value (object keys sorted), to tell whether settings changed. */
function stable(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x,
  );
}

/** A short hash of a config, for /status (`config.hash`). */
export function configHash(c: BridgeConfig): string {
  return createHash('sha256').update(stable(c)).digest('hex').slice(0, 16);
}

export function planReload(current: BridgeConfig, next: BridgeConfig): ReloadPlan {
  const diff = <T>(a: Record<string, T>, b: Record<string, T>) => ({
    added: Object.keys(b).filter((k) => !(k in a)),
    removed: Object.keys(a).filter((k) => !(k in b)),
    changed: Object.keys(b).filter((k) => k in a && stable(a[k]) !== stable(b[k])),
  });
  const orgs = diff(current.orgs, next.orgs);
  const byKey = (c: BridgeConfig) => Object.fromEntries(c.routes.map((r) => [routeKey(r), r])) as Record<string, RouteConfig>;
  const routes = diff(byKey(current), byKey(next));
  const orgMoved = new Set([...orgs.changed, ...orgs.removed]);
  const touched = next.routes
    .filter((r) => !routes.added.includes(routeKey(r)) && orgMoved.has(sourceFacts(r.source).org ?? ''))
    .map(routeKey);
  const changed = [...new Set([...routes.changed, ...touched])];
  const needRestart = RESTART_ONLY.filter((k) => stable(current[k]) !== stable(next[k]));
  return { added: routes.added, removed: routes.removed, changed, orgs, needRestart };
}
