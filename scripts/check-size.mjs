#!/usr/bin/env node
// Size rules from docs/architecture.md, checked in CI: no file under src/pipeline/ over 300 lines,
// no function over 80 lines in src/ outside the emulator. Prints each offender; exit 1 if any.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

const MAX_PIPELINE_FILE = 300;
const MAX_FUNCTION = 80;

function files(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const problems = [];
for (const file of files('src')) {
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n').length;
  if (file.startsWith(join('src', 'pipeline')) && lines > MAX_PIPELINE_FILE) {
    problems.push(`${file}: ${lines} lines (src/pipeline/ files stay under ${MAX_PIPELINE_FILE}; split it)`);
  }
  if (file.startsWith(join('src', 'emulator'))) continue;
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const visit = (node) => {
    if (ts.isFunctionLike(node) && node.body) {
      const from = sf.getLineAndCharacterOfPosition(node.getStart()).line + 1;
      const to = sf.getLineAndCharacterOfPosition(node.end).line + 1;
      if (to - from + 1 > MAX_FUNCTION) {
        const name = node.name ? node.name.getText(sf) : '(anonymous)';
        problems.push(`${file}:${from}: function ${name} is ${to - from + 1} lines (at most ${MAX_FUNCTION}; split it)`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
}
for (const p of problems) process.stderr.write(`check-size: ${p}\n`);
if (problems.length === 0) process.stdout.write('check-size: ok\n');
process.exit(problems.length ? 1 : 0);
