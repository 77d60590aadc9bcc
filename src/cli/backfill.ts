/**
 * `sfbridge backfill --route NAME [--since TIME] -c FILE`: export the records of a route's object
 * changed since TIME (default: the route's stored position minus 10 minutes) through the route's
 * own sinks, as `snapshot` envelopes (deleted records included). Progress on stderr; Ctrl-C stops
 * cleanly and the same command resumes the export where it stopped (its position is stored under
 * `<route>#backfill`). Run it while the route itself is stopped or running: it does not move the
 * route's position.
 */

import type { BridgeConfig } from '../config/schema.js';
import { loadConfigFile } from '../config-file.js';
import { UsageError } from '../errors.js';
import { silentLogger } from '../log.js';
import { Bridge } from '../pipeline/bridge.js';
import { createReplayStore } from '../pipeline/stores.js';
import { routeKey, sourceFacts } from '../route-facts.js';
import { changeEventEntity } from '../salesforce/topics.js';
import { exportSubscriberConfigSchema } from '../subscribers/export/export-subscriber.js';
import { parse, requireConfigPath } from './args.js';

export const BACKFILL_HELP = `usage: sfbridge backfill --route NAME [--since TIME] -c FILE

Export the records of the route's object changed since TIME (ISO 8601; default: the route's
stored position minus 10 minutes) through the route's sinks, as snapshot envelopes, deleted
records included. The route must stream one object's change events (/data/AccountChangeEvent).
Progress goes to stderr. Ctrl-C stops cleanly; run the same command again to resume.`;

const MARGIN_MS = 10 * 60_000;

export async function backfillCommand(argv: string[]): Promise<number> {
  const { values } = parse('backfill', argv, {
    config: { type: 'string', short: 'c' },
    route: { type: 'string' },
    since: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(`${BACKFILL_HELP}\n`);
    return 0;
  }
  if (!values.route) throw new UsageError('backfill: name the route with --route NAME');
  const { config } = loadConfigFile(requireConfigPath('backfill', values.config));
  const rc = config.routes.find((r) => routeKey(r) === values.route);
  if (!rc) throw new UsageError(`backfill: no route "${values.route}" in this config (routes: ${config.routes.map(routeKey).join(', ')})`);
  const src = sourceFacts(rc.source);
  const topic = src.channel ?? '';
  if (!src.org || !changeEventEntity(topic))
    throw new UsageError(`backfill: route "${values.route}" does not stream one object's change events (e.g. /data/AccountChangeEvent)`);
  const key = `${values.route}#backfill`;
  const since = values.since ?? (await sinceStoredPosition(config, values.route));
  const source = exportSubscriberConfigSchema.parse({ type: 'export', org: src.org, topic, since });
  const bfConfig: BridgeConfig = {
    ...config,
    health: undefined,
    ha: undefined,
    onRouteFailure: 'exit',
    orgs: Object.fromEntries(Object.entries(config.orgs).map(([k, o]) => [k, { ...o, pushTopics: [] }])),
    routes: [{ ...rc, name: key, source, gaps: 'pass', overflow: 'pass' }],
  };
  const bridge = new Bridge(bfConfig, silentLogger());
  // A finished export is not resumed: a new backfill starts over.
  const previous = await bridge.store.open().then(() => bridge.store.load(key));
  if (/^export:\w+:all:/.test(previous?.replayId ?? '')) await bridge.store.delete(key);
  else if (previous) process.stderr.write(`backfill ${values.route}: resuming the export stopped earlier\n`);
  await bridge.store.close();
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    void bridge.stop();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const tty = process.stderr.isTTY;
  const show = () => {
    const st = bridge.status().routes[0]?.sourceStats ?? {};
    const line = `backfill ${values.route}: ${st.snapshotDone ?? 0} of ${st.snapshotTotal || '?'} records (changed since ${since ?? 'ever'})`;
    process.stderr.write(tty ? `\r${line}` : `${line}\n`);
  };
  const timer = setInterval(show, tty ? 500 : 5000);
  try {
    await bridge.start();
    const [state] = await bridge.whenDone();
    await bridge.stop();
    show();
    if (tty) process.stderr.write('\n');
    if (interrupted) {
      process.stderr.write(`backfill ${values.route}: interrupted; run the same command again to resume\n`);
      return 130;
    }
    if (state !== 'ended') {
      process.stderr.write(`sfbridge: backfill ${values.route} failed: ${bridge.status().routes[0]?.error ?? state}\n`);
      return 1;
    }
    process.stderr.write(`backfill ${values.route}: done\n`);
    return 0;
  } finally {
    clearInterval(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function sinceStoredPosition(config: BridgeConfig, route: string): Promise<string> {
  const store = createReplayStore(config, silentLogger());
  await store.open();
  try {
    const pos = await store.load(route);
    if (!pos?.eventTime) throw new UsageError(`backfill: route "${route}" has no stored position with a time; give --since TIME`);
    return new Date(Date.parse(pos.eventTime) - MARGIN_MS).toISOString();
  } finally {
    await store.close();
  }
}
