/** `sfbridge run`: the daemon. First SIGTERM/SIGINT drains and exits 0; a second one exits at once. */
import type { Server } from 'node:http';
import type { BridgeConfig } from '../config/schema.js';
import { loadConfigFile } from '../config-file.js';
import { errorMessage } from '../errors.js';
import { captureConsole, createLogger, type Logger } from '../log.js';
import { ApiRoutes } from '../pipeline/api-routes.js';
import { Bridge } from '../pipeline/bridge.js';
import { startHealthServer } from '../pipeline/health.js';
import { parse, requireConfigPath } from './args.js';
import { reloadOnChange } from './config-reload.js';
import { tuneHeap } from './heap.js';

export const RUN_HELP = `usage: sfbridge run -c FILE [--log-level LEVEL] [--watch-config]

Run the bridge until stopped. SIGTERM or SIGINT stops fetching, drains in-flight events to
the sinks, commits their replay positions and exits 0 (within pipeline.drainTimeoutMs);
a second signal exits at once (uncommitted events are replayed on the next start).
SIGHUP, or any change of FILE with --watch-config, reloads FILE: added routes start, removed
ones drain and stop (positions kept), changed ones restart alone, the others never pause; a file
that check refuses is logged and ignored (the running config stays).
Exit codes: 0 stopped or all sources finished, 1 a route failed or startup failed, 2 bad usage/config.`;

export async function runCommand(argv: string[]): Promise<number> {
  const { values } = parse(
    'run',
    argv,
    {
      config: { type: 'string', short: 'c' },
      'log-level': { type: 'string' },
      'watch-config': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    false,
  );
  tuneHeap();
  if (values.help) {
    process.stdout.write(`${RUN_HELP}\n`);
    return 0;
  }
  const { config, path } = loadConfigFile(requireConfigPath('run', values.config));
  const log = createLogger({ level: values['log-level'] ?? config.log.level, format: config.log.format });
  captureConsole(log);
  return runBridge(config, log, { configPath: path, watchConfig: values['watch-config'] === true });
}

export interface RunHooks {
  /** Called once the bridge is running. */
  onStarted?: (bridge: Bridge) => void;
  /** The config file: SIGHUP reloads it (and any change of it with `watchConfig`). */
  configPath?: string;
  watchConfig?: boolean;
}

export async function runBridge(config: BridgeConfig, log: Logger, hooks: RunHooks = {}): Promise<number> {
  const bridge = new Bridge(config, log);
  let health: Server | undefined;
  // Signal handlers go in before starting, so a SIGTERM during startup still drains cleanly.
  let signals = 0;
  let onSignal: (sig: NodeJS.Signals) => void = () => undefined;
  let markStarted: () => void = () => undefined;
  const startedPromise = new Promise<void>((r) => {
    markStarted = r;
  });
  const stopped = new Promise<number>((resolve) => {
    onSignal = (sig) => {
      signals++;
      if (signals > 1) {
        log.warn({ signal: sig }, 'second signal: exiting now; uncommitted events will be replayed on next start');
        process.exit(130);
      }
      log.info({ signal: sig }, 'stopping: draining in-flight events (send the signal again to exit at once)');
      const stop = () => void bridge.stop().then(() => resolve(0));
      // During startup, stop once start settles (afterwards this runs on the next tick).
      startedPromise.then(stop, stop);
    };
  });
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // Routes made through the route API (health.routesApi: writable) run beside the file's.
  const apiRoutes = config.health?.routesApi === 'writable' ? new ApiRoutes(config, bridge, log) : null;
  try {
    await bridge.start();
    // Under HA another instance may add or remove one: look again every third of a lease.
    await apiRoutes?.start(config.ha?.enabled ? Math.max(1000, Math.round((config.ha.leaseTtlMs ?? 15_000) / 3)) : undefined);
    if (config.health) health = await startHealth(config.health, bridge, apiRoutes, log);
  } catch (err) {
    const msg = errorMessage(err);
    log.error({ error: msg }, 'bridge could not start');
    process.stderr.write(`sfbridge: cannot start: ${msg}\n`);
    await bridge.stop(0).catch(() => undefined);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    return 1;
  } finally {
    markStarted();
  }
  hooks.onStarted?.(bridge);
  const apply = apiRoutes ? (next: BridgeConfig) => apiRoutes.reloadFile(next) : (next: BridgeConfig) => bridge.reload(next);
  const stopReloading = hooks.configPath
    ? reloadOnChange(hooks.configPath, bridge, log, hooks.watchConfig === true, apply)
    : () => undefined;

  // With API routes the daemon serves until stopped, even with no route left to run.
  const finished = bridge.whenDone(apiRoutes !== null).then(async (states) => {
    await bridge.stop();
    if (bridge.exitReason) process.stderr.write(`sfbridge: ${bridge.exitReason} (onRouteFailure: exit)\n`);
    return states.includes('failed') ? 1 : 0;
  });
  const code = await Promise.race([stopped, finished]);
  stopReloading();
  apiRoutes?.stop();
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  health?.close();
  const status = bridge.status();
  log.info(
    {
      routes: status.routes.map((r) => ({
        route: r.key,
        state: r.state,
        received: r.eventsReceived,
        committed: r.committed?.replayId ?? null,
      })),
    },
    'bridge stopped',
  );
  return code;
}

/** The health listener: /healthz /readyz /status /metrics and the route API (writable with API routes). */
async function startHealth(
  h: NonNullable<BridgeConfig['health']>,
  bridge: Bridge,
  apiRoutes: ApiRoutes | null,
  log: Logger,
): Promise<Server> {
  const server = await startHealthServer(h.host, h.port, {
    status: () => bridge.status(),
    routes: { pause: (key, on) => bridge.pause(key, on), restart: (key) => bridge.restart(key), write: apiRoutes ?? undefined },
    token: h.token,
    metrics: bridge.metrics,
  });
  const addr = server.address();
  const port = addr && typeof addr === 'object' ? addr.port : h.port;
  log.info({ url: `http://${h.host}:${port}` }, 'health endpoints listening: /healthz /readyz /status /metrics /routes');
  return server;
}
