/**
 * The import rules of docs/architecture.md are enforced by dependency-cruiser in CI
 * (`npm run check:deps`). This runs the real checker with the project's rules on a fixture tree
 * that breaks them, so a rule that stopped matching would fail here.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

const depcruise = join(ROOT, 'node_modules', '.bin', 'depcruise');

describe('architecture rules', () => {
  it('fail on a sink importing a replay store, a cycle, and product code importing the emulator', () => {
    const fixture = join(ROOT, 'test', 'fixtures', 'arch-violation');
    const r = spawnSync(depcruise, ['src', '--config', join(ROOT, '.dependency-cruiser.cjs')], { cwd: fixture, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stdout).toMatch(/error sinks-only-write: src\/sinks\/x\/sink\.ts → src\/replay\/store\.ts/);
    expect(r.stdout).toMatch(/error no-circular: src\/pipeline\/a\.ts/);
    expect(r.stdout).toMatch(/error emulator-only-through-lazy-cli: src\/pipeline\/a\.ts → src\/emulator\/emu\.ts/);
  });

  it('pass on the project itself', () => {
    const r = spawnSync(depcruise, ['src', '--config', '.dependency-cruiser.cjs'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stdout).toMatch(/no dependency violations found/);
    expect(r.status).toBe(0);
  });
});
