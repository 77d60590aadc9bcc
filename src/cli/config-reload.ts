/**
 * Config changes without a restart (`sfbridge run`): SIGHUP, or `--watch-config` (the file's
 * directory is watched, since editors and Kubernetes ConfigMaps replace the file rather than
 * write into it). The new file must pass the same checks as at start; if not, the problems are
 * logged and the running config stays. Reloads run one at a time.
 */
import { createHash } from 'node:crypto';
import { readFileSync, watch } from 'node:fs';
import { dirname } from 'node:path';
import type { BridgeConfig } from '../config/schema.js';
import { configProblems, loadConfigFile } from '../config-file.js';
import { ConfigError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Bridge } from '../pipeline/bridge.js';
import type { ReloadPlan } from '../pipeline/reload.js';

/** `apply` puts a new config in place (default: Bridge.reload; with API routes, ApiRoutes.reloadFile keeps them). */
export function reloadOnChange(
  path: string,
  bridge: Bridge,
  log: Logger,
  watchFile: boolean,
  apply: (next: BridgeConfig) => Promise<ReloadPlan> = (next) => bridge.reload(next),
): () => void {
  let queue: Promise<void> = Promise.resolve();
  let lastText = fileHash(path);
  const reload = (why: string) => {
    queue = queue.then(async () => {
      const now = fileHash(path);
      if (why === 'file changed' && now === lastText) return;
      lastText = now;
      const next = loadChecked(path, log);
      if (!next) return;
      try {
        const plan = await apply(next);
        log.info({ trigger: why, ...plan, hash: bridge.status().config.hash }, 'config reloaded');
        if (plan.needRestart.length > 0)
          log.warn(
            { settings: plan.needRestart },
            `config reload: ${plan.needRestart.join(', ')} changed and take effect at the next restart`,
          );
      } catch (err) {
        log.error({ error: errorMessage(err) }, 'config reload failed part-way; routes that could not start are retried as failed routes');
      }
    });
  };
  const onHup = () => reload('SIGHUP');
  process.on('SIGHUP', onHup);
  let timer: NodeJS.Timeout | null = null;
  const watcher = watchFile
    ? watch(dirname(path), () => {
        // Any change in the directory: a Kubernetes ConfigMap swaps its `..data` symlink rather
        // than writing the file, so the name seen is not the file's. The content hash decides.
        if (timer) clearTimeout(timer);
        // Editors write in steps: act once the file has been quiet for a moment.
        timer = setTimeout(() => reload('file changed'), 300);
      })
    : null;
  return () => {
    process.off('SIGHUP', onHup);
    watcher?.close();
    if (timer) clearTimeout(timer);
  };
}

function loadChecked(path: string, log: Logger) {
  try {
    const { config } = loadConfigFile(path);
    const problems = configProblems(config);
    if (problems.length === 0) return config;
    log.error({ problems }, `config reload refused (${problems.length} problem(s)); the running config stays`);
  } catch (err) {
    const problems = err instanceof ConfigError ? err.message.split('\n') : [errorMessage(err)];
    log.error({ problems }, 'config reload refused: the file does not load; the running config stays');
  }
  return null;
}

function fileHash(path: string): string {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch {
    return '';
  }
}
