/** `sfbridge replay list|get|set|reset`: inspect and move stored positions (stop the bridge first). */

import { loadConfigFile } from '../config-file.js';
import { BridgeError, UsageError } from '../errors.js';
import { silentLogger } from '../log.js';
import { isApiRouteKey } from '../pipeline/api-routes.js';
import { createReplayStore } from '../pipeline/stores.js';
import type { StoredPosition } from '../positions.js';
import { routeKey } from '../route-facts.js';
import { parse, requireConfigPath } from './args.js';

export const REPLAY_HELP = `usage: sfbridge replay list  -c FILE [--json]
       sfbridge replay get   -c FILE KEY [--json]
       sfbridge replay set   -c FILE KEY REPLAY_ID [--event-time ISO8601]
       sfbridge replay reset -c FILE KEY

KEY is a route's subscription key (its name, else its channel). REPLAY_ID is opaque: copy it
from an envelope's replayId (CometD: decimal number; Pub/Sub: base64). \`reset\` forgets the
position: the route then starts where its source config says (e.g. earliest or latest).
Stop the bridge before set or reset: a running bridge keeps committing its own positions.`;

export async function replayCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse('replay', argv, {
    config: { type: 'string', short: 'c' },
    json: { type: 'boolean' },
    'event-time': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  const [action, key, replayId, ...extra] = positionals;
  if (values.help || !action) {
    process.stdout.write(`${REPLAY_HELP}\n`);
    return values.help ? 0 : 2;
  }
  const { config } = loadConfigFile(requireConfigPath('replay', values.config));
  const store = createReplayStore(config, silentLogger());
  const keys = config.routes.map(routeKey);
  const needKey = () => {
    if (!key) throw new UsageError(`replay ${action}: missing KEY (routes in this config: ${keys.join(', ')})`);
    return key;
  };
  if (extra.length > 0) throw new UsageError(`replay ${action}: unexpected argument "${extra[0]}"`);
  await store.open();
  try {
    switch (action) {
      case 'list': {
        // Routes made through the route API live in the store too; they are not positions.
        const all = (await store.list()).filter((p) => !isApiRouteKey(p.key));
        if (values.json) process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
        else if (all.length === 0) process.stdout.write(`no stored positions in ${store.describe()}\n`);
        else printTable(all, keys);
        return 0;
      }
      case 'get': {
        const k = needKey();
        const p = await store.load(k);
        if (!p) {
          process.stderr.write(
            `sfbridge: no stored position for "${k}" in ${store.describe()}${keys.includes(k) ? '' : ` (routes in this config: ${keys.join(', ')})`}\n`,
          );
          return 1;
        }
        process.stdout.write(
          values.json
            ? `${JSON.stringify(p, null, 2)}\n`
            : `${p.key} ${p.replayId} eventTime=${p.eventTime ?? '-'} committedAt=${p.committedAt}\n`,
        );
        return 0;
      }
      case 'set': {
        const k = needKey();
        if (!replayId) throw new UsageError('replay set: missing REPLAY_ID');
        const eventTime = values['event-time'] ?? null;
        if (eventTime !== null && Number.isNaN(Date.parse(eventTime)))
          throw new UsageError(`replay set: --event-time "${eventTime}" is not an ISO 8601 time`);
        if (!keys.includes(k)) process.stderr.write(`sfbridge: warning: no route in this config has the key "${k}"\n`);
        const before = await store.load(k);
        const p = await store.commit(k, { replayId, eventTime });
        process.stdout.write(`${k}: ${before?.replayId ?? '(none)'} -> ${p.replayId}\n`);
        return 0;
      }
      case 'reset': {
        const k = needKey();
        const removed = await store.delete(k);
        process.stdout.write(
          removed ? `${k}: position forgotten; the route starts from its configured start on next run\n` : `${k}: had no stored position\n`,
        );
        return 0;
      }
      default:
        throw new UsageError(`replay: unknown action "${action}"; use list, get, set or reset`);
    }
  } catch (err) {
    if (err instanceof BridgeError) throw err;
    throw new BridgeError('REPLAY', (err as Error).message);
  } finally {
    await store.close();
  }
}

function printTable(rows: StoredPosition[], keys: string[]): void {
  const data = rows.map((p) => [p.key + (keys.includes(p.key) ? '' : ' (no route)'), p.replayId, p.eventTime ?? '-', p.committedAt]);
  const head = ['KEY', 'REPLAY ID', 'EVENT TIME', 'COMMITTED AT'];
  const widths = head.map((h, i) => Math.max(h.length, ...data.map((r) => (r[i] as string).length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${[line(head), ...data.map(line)].join('\n')}\n`);
}
