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
// Safety net: a client library may keep a request open after everything was stopped and
// committed (seen with the faye CometD client when a route is stopped before its first
// handshake answered; src/subscribers/cometd/subscriber.ts disconnects such a client once it
// connects, but a handshake still in flight can hold its socket): exit shortly after, not hang.
setTimeout(() => process.exit(), 1000).unref();
