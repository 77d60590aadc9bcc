/**
 * `sfbridge tail`: print a route's events to stdout as they arrive, without touching its stored
 * replay position or its real sinks (positions are kept in memory for this run only).
 */

import type { BridgeConfig } from '../config/schema.js';
import { loadConfigFile } from '../config-file.js';
import { UsageError } from '../errors.js';
import { createLogger } from '../log.js';
import { routeKey } from '../route-facts.js';
import { parse, requireConfigPath } from './args.js';
import { runBridge } from './run.js';

export const TAIL_HELP = `usage: sfbridge tail -c FILE [--route KEY] [--from latest|earliest] [--pretty] [--limit N]

Subscribe to one route's source (the only route, or --route KEY) and print each envelope to
stdout: one JSON line per event (default), or one short line with --pretty. Logs go to stderr.
The route's stored replay position and its sinks are not touched. --from: latest (default,
new events only) or earliest (everything Salesforce still retains). --limit N exits after N events.`;

export async function tailCommand(argv: string[]): Promise<number> {
  const { values } = parse(
    'tail',
    argv,
    {
      config: { type: 'string', short: 'c' },
      route: { type: 'string' },
      from: { type: 'string', default: 'latest' },
      pretty: { type: 'boolean' },
      limit: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    false,
  );
  if (values.help) {
    process.stdout.write(`${TAIL_HELP}\n`);
    return 0;
  }
  if (values.from !== 'latest' && values.from !== 'earliest') throw new UsageError('tail: --from must be latest or earliest');
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new UsageError('tail: --limit must be a positive integer');
  const { config } = loadConfigFile(requireConfigPath('tail', values.config));
  const keys = config.routes.map(routeKey);
  let route = config.routes[0];
  if (values.route) {
    route = config.routes.find((r) => routeKey(r) === values.route);
    if (!route) throw new UsageError(`tail: no route "${values.route}" in this config (routes: ${keys.join(', ')})`);
  } else if (config.routes.length > 1) {
    throw new UsageError(`tail: this config has ${keys.length} routes; pick one with --route (${keys.join(', ')})`);
  }
  const rc = route as BridgeConfig['routes'][number];
  const source = 'start' in rc.source ? { ...rc.source, start: values.from } : rc.source;
  const tailConfig: BridgeConfig = {
    ...config,
    health: undefined,
    ha: undefined,
    orgs: Object.fromEntries(Object.entries(config.orgs).map(([k, o]) => [k, { ...o, pushTopics: [] }])),
    replayStore: { type: 'memory' },
    routes: [
      {
        ...rc,
        name: routeKey(rc),
        source,
        sinks: [{ type: 'stdout', format: values.pretty ? 'pretty' : 'json', ...(limit ? { limit } : {}) }],
        sinkOutage: { mode: 'block', after: 3_600_000 },
      },
    ],
  };
  const log = createLogger({ level: 'warn', format: config.log.format });
  return runBridge(tailConfig, log, {
    onStarted: (bridge) => {
      if (limit === undefined) return;
      const timer = setInterval(() => {
        const r = bridge.status().routes[0];
        if (r && r.eventsAcked >= limit) {
          clearInterval(timer);
          void bridge.stop();
        }
      }, 50);
      timer.unref();
    },
  });
}
