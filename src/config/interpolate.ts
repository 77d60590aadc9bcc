/**
 * `${ENV_VAR}`, `${ENV_VAR:-default}` and `${file:/path}` in any string value of the parsed YAML
 * (after parsing, so a secret can never inject YAML). `$${` is a literal `${`. Every interpolated
 * value (environment or file) is registered with the log scrubber: never printed or served.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { registerSecret } from '../log.js';
import { formatPath } from './errors.js';

const PATTERN = /\$\$\{|\$\{([^}]*)\}/g;

export interface Interpolation {
  env: NodeJS.ProcessEnv;
  baseDir: string;
  problems: string[];
  /** Paths (formatPath form) whose value came, wholly or partly, from `${…}`: never echoed in errors. */
  substituted: Set<string>;
  /** False: `${file:…}` is refused (routes sent to the route API). */
  files?: boolean;
}

/** Returns a copy with every `${…}` replaced; objects are null-prototype (no inherited keys). */
export function interpolate(value: unknown, ctx: Interpolation, path: PropertyKey[] = []): unknown {
  if (typeof value === 'string') return interpolateString(value, ctx, path);
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, ctx, [...path, i]));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = Object.create(null);
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, ctx, [...path, k]);
    return out;
  }
  return value;
}

function interpolateString(s: string, ctx: Interpolation, path: PropertyKey[]): string {
  if (!s.includes('${')) return s;
  const { env, baseDir, problems } = ctx;
  return s.replace(PATTERN, (whole, expr: string | undefined) => {
    if (whole === '$${') return '${';
    ctx.substituted.add(formatPath(path));
    const e = (expr ?? '').trim();
    if (e.startsWith('file:')) {
      if (ctx.files === false) {
        problems.push(
          `${formatPath(path)}: \${file:…} is not taken from the route API; use \${ENV_VAR}, or put the route in the config file`,
        );
        return '';
      }
      const p = e.slice(5).trim();
      const full = isAbsolute(p) ? p : resolve(baseDir, p);
      try {
        const v = readFileSync(full, 'utf8').replace(/\r?\n$/, '');
        registerSecret(v);
        return v;
      } catch (err) {
        problems.push(
          `${formatPath(path)}: cannot read ${full} for \${file:…}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        );
        return '';
      }
    }
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s.exec(e);
    if (!m) {
      problems.push(`${formatPath(path)}: malformed \${${e}}; use \${ENV_VAR}, \${ENV_VAR:-default} or \${file:/path}`);
      return '';
    }
    const name = m[1] as string;
    const v = env[name];
    if (v === undefined || v === '') {
      if (m[2] !== undefined) return m[2];
      problems.push(`${formatPath(path)}: environment variable ${name} is not set`);
      return '';
    }
    // Every substituted value is treated as a secret (a URL may carry credentials, a header a token).
    registerSecret(v);
    return v;
  });
}
