#!/usr/bin/env node
// Render the newest result of each reliability scenario (reports/reliability-<profile>.ndjson,
// written by test/reliability) as a Markdown table for docs/reliability.md.
import { readFileSync } from 'node:fs';

const profile = process.argv[2] ?? 'short';
const rows = readFileSync(new URL(`../reports/reliability-${profile}.ndjson`, import.meta.url), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l));
const latest = new Map();
for (const r of rows) latest.set(`${r.scenario}|${r.path}`, r);
console.log('| scenario | path | events | lost | duplicated | out of order | recovery | notes |');
console.log('|---|---|---:|---:|---:|---:|---:|---|');
for (const r of latest.values()) {
  const rec = r.recoveryMs === null ? '–' : r.recoveryMs >= 1000 ? `${(r.recoveryMs / 1000).toFixed(1)} s` : `${r.recoveryMs} ms`;
  console.log(`| ${r.scenario} | ${r.path} | ${r.events} | ${r.lost} | ${r.duplicated} | ${r.outOfOrder} | ${rec} | ${r.notes} |`);
}
