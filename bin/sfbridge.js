#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/ (compiled from src/ by `npm run build`, which `npm install` runs).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// One line instead of a stack trace on a Node.js older than package.json's "engines" (22.22 on the
// 22 line, 24.6 on 24, any later line). In this project directory `npx sfbridge` and the npm
// scripts run on the pinned Node.js from node_modules (devDependency "node").
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 22) || (major === 24 && minor < 6) || major === 23) {
  process.stderr.write(
    `sfbridge: needs Node.js 22.22+, 24.6+ or 26 (this is ${process.version}, which is too old or end-of-life); install a maintained Node.js, or in the project directory use \`npx sfbridge\` (it runs on the Node.js that npm install pinned)\n`,
  );
  process.exit(2);
}

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
