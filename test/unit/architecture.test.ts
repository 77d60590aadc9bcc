/**
 * The import rules of docs/architecture.md are enforced by dependency-cruiser in CI
 * (`npm run check:deps`). This runs the real checker with the project's rules on a fixture tree
 * that breaks them, so a rule that stopped matching would fail here.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

const depcruise = join(ROOT, 'node_modules', '.bin', 'depcruise');
const require = createRequire(import.meta.url);

describe('architecture rules', () => {
  // One violating import per rule in the fixture, each asserted: a rule that stopped matching (or
  // was removed from .dependency-cruiser.cjs) fails here.
  const violations: Array<[string, RegExp]> = [
    ['no-circular', /error no-circular: src\/pipeline\/a\.ts → \s*src\/pipeline\/b\.ts/],
    [
      'subscribers-speak-only-their-protocol',
      /error subscribers-speak-only-their-protocol: src\/subscribers\/x\/sub\.ts → src\/pipeline\/b\.ts/,
    ],
    ['sinks-only-write', /error sinks-only-write: src\/sinks\/x\/sink\.ts → src\/replay\/store\.ts/],
    ['replay-stores-stand-alone', /error replay-stores-stand-alone: src\/replay\/leaky\.ts → src\/subscribers\/x\/sub\.ts/],
    ['emulator-only-through-lazy-cli', /error emulator-only-through-lazy-cli: src\/pipeline\/a\.ts → src\/emulator\/emu\.ts/],
    ['cli-loads-emulator-lazily', /error cli-loads-emulator-lazily: src\/cli\/main\.ts → src\/cli\/demo\.ts/],
    ['emulator-stands-alone', /error emulator-stands-alone: src\/emulator\/bridge-user\.ts → src\/auth\/token\.ts/],
    ['config-schema-is-a-leaf', /error config-schema-is-a-leaf: src\/config\/schema\.ts → src\/sinks\/x\/sink\.ts/],
    ['stages-only-shape-the-source', /error stages-only-shape-the-source: src\/stages\/x\.ts → src\/replay\/store\.ts/],
    ['shaping-sees-only-envelopes', /error shaping-sees-only-envelopes: src\/shaping\/x\.ts → src\/sinks\/x\/sink\.ts/],
    ['orgs-speak-no-protocol', /error orgs-speak-no-protocol: src\/orgs\.ts → src\/subscribers\/x\/sub\.ts/],
    ['config-below-registry', /error config-below-registry: src\/config\/defaults\.ts → src\/registry\.ts/],
  ];
  const fixture = join(ROOT, 'test', 'fixtures', 'arch-violation');
  const run = () => spawnSync(depcruise, ['src', '--config', join(ROOT, '.dependency-cruiser.cjs')], { cwd: fixture, encoding: 'utf8' });

  it('every rule of .dependency-cruiser.cjs has a violating fixture, and each is reported', () => {
    const rules = (require(join(ROOT, '.dependency-cruiser.cjs')) as { forbidden: Array<{ name: string }> }).forbidden.map((r) => r.name);
    expect(rules.sort()).toEqual(violations.map(([name]) => name).sort());
    const r = run();
    expect(r.status).not.toBe(0);
    for (const [, line] of violations) expect(r.stdout).toMatch(line);
  });

  it('pass on the project itself', () => {
    const r = spawnSync(depcruise, ['src', '--config', '.dependency-cruiser.cjs'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stdout).toMatch(/no dependency violations found/);
    expect(r.status).toBe(0);
  });
});
