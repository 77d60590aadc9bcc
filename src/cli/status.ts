/**
 * `sfbridge status -c FILE`: each route's state, position age, lag, retention headroom and dead
 * letters, for a terminal. From the running bridge's /status when one answers, else from the
 * replay and dead-letter stores (what a stopped bridge left: position age and headroom only).
 */

import type { BridgeConfig, RouteConfig } from '../config/schema.js';
import { loadConfigFile, parseRouteDefinition } from '../config-file.js';
import { errorMessage } from '../errors.js';
import { silentLogger } from '../log.js';
import { apiRouteDefinitions } from '../pipeline/api-routes.js';
import type { BridgeStatus } from '../pipeline/bridge.js';
import type { RouteStatus } from '../pipeline/route-types.js';
import { createDeadLetterStore, createReplayStore } from '../pipeline/stores.js';
import { routeKey, sourceFacts } from '../route-facts.js';
import { parse, requireConfigPath } from './args.js';
import { healthBaseUrl } from './health-url.js';

export const STATUS_HELP = `usage: sfbridge status -c FILE [--json]

Shows each route of FILE: state, age of its committed replay position, lag behind Salesforce,
retention headroom (how long it can stay stuck before events are lost) and dead letters.
Asks the running bridge (health.host / health.port in FILE); when none answers, reads the
replay and dead-letter stores instead. --json prints the rows as JSON.`;

interface Row {
  route: string;
  state: string;
  positionAgeSeconds: number | null;
  lagSeconds: number | null;
  headroomSeconds: number | null;
  deadLetters: number | null;
  error: string | null;
}

export async function statusCommand(argv: string[]): Promise<number> {
  const { values } = parse('status', argv, {
    config: { type: 'string', short: 'c' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(`${STATUS_HELP}\n`);
    return 0;
  }
  const { config } = loadConfigFile(requireConfigPath('status', values.config));
  const live = await fetchStatus(config);
  const rows = live.status ? live.status.routes.map(fromLive) : await fromStores(config);
  const source = live.status ? `running bridge at ${live.url}` : `stores (${live.why})`;
  if (values.json) process.stdout.write(`${JSON.stringify({ source, routes: rows }, null, 2)}\n`);
  else process.stdout.write(`${render(rows, source)}\n`);
  return 0;
}

async function fetchStatus(config: BridgeConfig): Promise<{ status?: BridgeStatus; url?: string; why: string }> {
  if (!config.health) return { why: 'the config has no health section, so no running bridge can be asked' };
  const url = healthBaseUrl(config.health);
  try {
    const res = await fetch(`${url}/status`, { signal: AbortSignal.timeout(3000) });
    if (res.ok) return { status: (await res.json()) as BridgeStatus, url, why: '' };
    return { why: `${url}/status answered HTTP ${res.status}` };
  } catch {
    return { why: `no bridge answers at ${url}` };
  }
}

function fromLive(r: RouteStatus): Row {
  const dl = r.sinks.reduce((a, k) => a + k.eventsDeadLettered, 0);
  return {
    route: r.key,
    // A CometD route whose replay id Salesforce is still seeking is alive, not stuck: say so.
    state: r.sourceStats?.seeking ? `${r.state}, seeking ${duration(r.sourceStats.seekingSeconds ?? 0)}` : r.state,
    positionAgeSeconds: r.positionAgeSeconds ?? null,
    lagSeconds: r.lagSeconds ?? null,
    headroomSeconds: r.headroomSeconds ?? null,
    deadLetters: r.state === 'standby' ? null : dl,
    error: r.error,
  };
}

async function fromStores(config: BridgeConfig): Promise<Row[]> {
  const store = createReplayStore(config, silentLogger());
  const dead = createDeadLetterStore(config, silentLogger());
  await store.open();
  await dead.open();
  try {
    const stored = await store.list();
    const positions = new Map(stored.map((p) => [p.key, p]));
    const letters = await dead.list();
    // Routes made through the route API are kept in the store: shown too (one that no longer
    // parses, with why).
    const fromApi: RouteConfig[] = [];
    const broken: Row[] = [];
    for (const [name, text] of apiRouteDefinitions(stored)) {
      try {
        fromApi.push(parseRouteDefinition(JSON.parse(text), name));
      } catch (err) {
        const why = `made through the route API; does not run: ${errorMessage(err).split('\n')[0]}`;
        broken.push({
          route: name,
          state: 'not running',
          positionAgeSeconds: null,
          lagSeconds: null,
          headroomSeconds: null,
          deadLetters: null,
          error: why,
        });
      }
    }
    const rows = [...config.routes, ...fromApi].map((rc) => {
      const key = routeKey(rc);
      const p = positions.get(key);
      const at = p ? Date.parse(p.eventTime ?? p.committedAt) : Number.NaN;
      const age = Number.isFinite(at) ? Math.max(0, (Date.now() - at) / 1000) : null;
      const retention = sourceFacts(rc.source).retentionMs;
      return {
        route: key,
        state: 'not running',
        positionAgeSeconds: age,
        lagSeconds: null,
        headroomSeconds: age === null || retention === null ? null : retention / 1000 - age,
        deadLetters: letters.filter((d) => d.route === key).length,
        error: p ? null : 'no stored position',
      };
    });
    return [...rows, ...broken];
  } finally {
    await store.close();
    await dead.close();
  }
}

/** 93 s -> "1m33s", 200000 s -> "2d7h"; negative headroom (already past retention) keeps its sign. */
export function duration(s: number | null): string {
  if (s === null) return '-';
  const sign = s < 0 ? '-' : '';
  let v = Math.round(Math.abs(s));
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (v >= size) {
      parts.push(`${Math.floor(v / size)}${unit}`);
      v %= size;
    }
  }
  if (parts.length < 2 && (v > 0 || parts.length === 0)) parts.push(`${v}s`);
  return sign + parts.slice(0, 2).join('');
}

function render(rows: Row[], source: string): string {
  const head = ['ROUTE', 'STATE', 'POSITION AGE', 'LAG', 'HEADROOM', 'DEAD LETTERS', 'LAST ERROR'];
  const cells = rows.map((r) => [
    r.route,
    r.state,
    duration(r.positionAgeSeconds),
    duration(r.lagSeconds),
    duration(r.headroomSeconds),
    r.deadLetters === null ? '-' : String(r.deadLetters),
    (r.error ?? '').slice(0, 80),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => v.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  const warn = rows.filter((r) => r.headroomSeconds !== null && r.headroomSeconds < 86_400).map((r) => r.route);
  const out = [`source: ${source}`, line(head), ...cells.map(line)];
  if (warn.length > 0) out.push(`WARNING: under 24 h of retention headroom: ${warn.join(', ')} (events are lost once it reaches 0)`);
  return out.join('\n');
}
