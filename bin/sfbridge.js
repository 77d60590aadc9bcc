#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/ (compiled from src/ by `npm run build`, which `npm install` runs).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('sfbridge: not built yet; run `npm install` (or `npm run build`) in the project directory first\n');
  process.exit(2);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
// A client library may leave a timer behind after everything was stopped and committed (seen
// with the CometD client after a stop mid-handshake): exit shortly after, rather than hang.
setTimeout(() => process.exit(), 1000).unref();
