/** `sfbridge route restart NAME -c FILE`: restart a failed route of a running bridge now. */
import { loadConfigFile } from '../config-file.js';
import { BridgeError, UsageError } from '../errors.js';
import { parse, requireConfigPath } from './args.js';
import { healthBaseUrl } from './health-url.js';

export const ROUTE_HELP = `usage: sfbridge route restart NAME -c FILE

Asks the bridge running with FILE to restart its failed route NAME now instead of at its next
scheduled restart (onRouteFailure: restart). Talks to the bridge's health endpoint
(health.host / health.port in FILE), which accepts it from this machine only.`;

export async function routeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse('route', argv, {
    config: { type: 'string', short: 'c' },
    help: { type: 'boolean', short: 'h' },
  });
  const [action, name] = positionals;
  if (values.help || !action) {
    process.stdout.write(`${ROUTE_HELP}\n`);
    return values.help ? 0 : 2;
  }
  if (action !== 'restart') throw new UsageError(`route: unknown action "${action}"; use restart`);
  if (!name) throw new UsageError('route restart: name the route (its `name`, as /status shows it)');
  const { config } = loadConfigFile(requireConfigPath('route', values.config));
  if (!config.health) throw new UsageError('route restart: the config has no `health` section, so the running bridge cannot be reached');
  const url = `${healthBaseUrl(config.health)}/routes/${encodeURIComponent(name)}/restart`;
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST' });
  } catch (err) {
    throw new BridgeError(
      'UNREACHABLE',
      `route restart: no bridge answers at ${url} (${(err as Error).message}); is it running with this config?`,
    );
  }
  const text = (await res.text()).trim();
  if (res.status === 202) {
    process.stdout.write(`route ${name}: restarting\n`);
    return 0;
  }
  process.stderr.write(`sfbridge: route ${name}: ${text || `HTTP ${res.status}`}\n`);
  return 1;
}
