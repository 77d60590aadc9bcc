/** `sfbridge route list|show|pause|resume|restart|put|delete [NAME] -c FILE`: the route API of a running bridge. */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { loadConfigFile } from '../config-file.js';
import { BridgeError, UsageError } from '../errors.js';
import { parse, requireConfigPath } from './args.js';
import { healthBaseUrl } from './health-url.js';

export const ROUTE_HELP = `usage: sfbridge route list -c FILE
       sfbridge route show|pause|resume|restart|delete NAME -c FILE
       sfbridge route put NAME --route ROUTE_FILE -c FILE

Talks to the bridge running with FILE, through its health listener (health.host / health.port):
  list      every route: state, paused, events committed, position
  show      one route's status
  pause     stop requesting events; what was already requested is delivered and committed, and
            the position stays (a restart of the bridge resumes the route)
  resume    request events again
  restart   restart the route now (a failed one at once; a running one drains first)
  put       add or replace a route from ROUTE_FILE (one route, as under \`routes:\`, in YAML or
            JSON); the bridge keeps it in its replay store (needs health.routesApi: writable)
  delete    remove a route made with put; it drains and stops, and its position stays stored
Changes are accepted from this machine, or with health.token as a bearer token.`;

const ACTIONS = new Set(['list', 'show', 'pause', 'resume', 'restart', 'put', 'delete']);

export async function routeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse('route', argv, {
    config: { type: 'string', short: 'c' },
    route: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  const [action, name] = positionals;
  if (values.help || !action) {
    process.stdout.write(`${ROUTE_HELP}\n`);
    return values.help ? 0 : 2;
  }
  if (!ACTIONS.has(action))
    throw new UsageError(`route: unknown action "${action}"; use list, show, pause, resume, restart, put or delete`);
  if (action !== 'list' && !name) throw new UsageError(`route ${action}: name the route (its \`name\`, as /status shows it)`);
  const { config } = loadConfigFile(requireConfigPath('route', values.config));
  if (!config.health)
    throw new UsageError(`route ${action}: the config has no \`health\` section, so the running bridge cannot be reached`);
  const base = `${healthBaseUrl(config.health)}/routes`;
  const one = `${base}/${encodeURIComponent(name as string)}`;
  const url = action === 'list' ? base : ['show', 'put', 'delete'].includes(action) ? one : `${one}/${action}`;
  const headers: Record<string, string> = config.health.token ? { authorization: `Bearer ${config.health.token}` } : {};
  const body = action === 'put' ? routeBody(values.route) : undefined;
  if (body) headers['content-type'] = 'application/json';
  const method = { list: 'GET', show: 'GET', put: 'PUT', delete: 'DELETE' }[action] ?? 'POST';
  let res: Response;
  try {
    res = await fetch(url, { method, headers, body });
  } catch (err) {
    throw new BridgeError(
      'UNREACHABLE',
      `route ${action}: no bridge answers at ${url} (${(err as Error).message}); is it running with this config?`,
    );
  }
  const text = (await res.text()).trim();
  if (res.ok && action === 'list') {
    const rows = JSON.parse(text) as Array<{
      key: string;
      state: string;
      paused: boolean;
      eventsCommitted: number;
      committed: { replayId: string } | null;
    }>;
    for (const r of rows)
      process.stdout.write(
        `${r.key}\t${r.state}${r.paused ? ' (paused)' : ''}\t${r.eventsCommitted} committed\t${r.committed?.replayId ?? '-'}\n`,
      );
    return 0;
  }
  if (res.ok) {
    process.stdout.write(['show', 'put', 'delete'].includes(action) ? `${text}\n` : `route ${name}: ${text}\n`);
    return 0;
  }
  process.stderr.write(`sfbridge: route ${name ?? ''}: ${text || `HTTP ${res.status}`}\n`);
  return 1;
}

/** The route file of `route put` (YAML or JSON, one route) as a JSON body. */
function routeBody(path: string | undefined): string {
  if (!path) throw new UsageError('route put: give the route with --route ROUTE_FILE (one route, as under `routes:`, in YAML or JSON)');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`route put: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    return JSON.stringify(parseYaml(text));
  } catch (err) {
    throw new UsageError(`route put: ${path} is not YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
  }
}
