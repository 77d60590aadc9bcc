/** Turns schema issues into one line each: `<path>: <reason>`, e.g. `routes[0].sinks[1].url: must be an http(s) URL`. */
import type { z } from 'zod';

export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(top level)';
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function valueAt(root: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let cur: unknown = root;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p as string];
  }
  return cur;
}

function closest(word: string, options: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const o of options) {
    const d = distance(word.toLowerCase(), o.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = o;
    }
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function distance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0] as number;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j] as number;
      dp[j] = Math.min((dp[j] as number) + 1, (dp[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length] as number;
}

/** Known keys of the object schema at an issue's path, for "did you mean" hints (best effort). */
export type KnownKeys = (path: ReadonlyArray<PropertyKey>) => readonly string[];

const NOT_SHOWN = 'a value from ${…} (not shown)';

/**
 * `hidden(path)` is true for values that came from `${ENV}` / `${file:}`: those are never echoed
 * (a typo must not print a secret, nor a whole file named by mistake).
 */
export function formatIssues(
  issues: readonly z.core.$ZodIssue[],
  input: unknown,
  knownKeys?: KnownKeys,
  hidden: (path: ReadonlyArray<PropertyKey>) => boolean = () => false,
): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const path = issue.path as PropertyKey[];
    const at = formatPath(path);
    if (hidden(path)) {
      lines.push(hiddenLine(issue, at, valueAt(input, path)));
      continue;
    }
    switch (issue.code) {
      case 'invalid_type': {
        const got = valueAt(input, path);
        lines.push(
          got === undefined
            ? `${at}: is required (${issue.expected})`
            : `${at}: must be ${article(issue.expected)}, got ${describeValue(got)}`,
        );
        break;
      }
      case 'unrecognized_keys':
        for (const key of issue.keys) {
          const hint = knownKeys ? closest(key, knownKeys(path)) : undefined;
          // A key another variant of the union accepts (e.g. `initial` on a file source) is not a typo.
          const why = hint === key ? ' (not a setting of this type)' : hint ? ` (did you mean "${hint}"?)` : '';
          lines.push(`${formatPath([...path, key])}: unknown key${why}`);
        }
        break;
      case 'invalid_union': {
        const u = issue as unknown as { discriminator?: string; options?: unknown[] };
        if (u.discriminator && u.options) {
          const got = valueAt(input, path);
          const opts = u.options.map(String);
          const hint = typeof got === 'string' ? closest(got, opts) : undefined;
          lines.push(
            got === undefined
              ? `${at}: is required (one of: ${opts.join(', ')})`
              : `${at}: unknown ${u.discriminator} ${JSON.stringify(got)}; must be one of: ${opts.join(', ')}${hint ? ` (did you mean "${hint}"?)` : ''}`,
          );
        } else {
          lines.push(`${at}: ${issue.message}`);
        }
        break;
      }
      case 'invalid_value':
        lines.push(`${at}: must be one of: ${issue.values.map((v) => String(v)).join(', ')}, got ${describeValue(valueAt(input, path))}`);
        break;
      case 'too_small':
      case 'too_big': {
        const cmp = issue.code === 'too_small' ? (issue.inclusive ? '>=' : '>') : issue.inclusive ? '<=' : '<';
        const lim = issue.code === 'too_small' ? issue.minimum : issue.maximum;
        const what = issue.origin === 'array' ? 'number of items' : issue.origin === 'string' ? 'length' : 'value';
        lines.push(issue.message.startsWith('Too') ? `${at}: ${what} must be ${cmp} ${String(lim)}` : `${at}: ${issue.message}`);
        break;
      }
      default:
        lines.push(`${at}: ${issue.message}`);
    }
  }
  return lines;
}

/** An issue about a substituted value: the expected form only, the value never. */
function hiddenLine(issue: z.core.$ZodIssue, at: string, got: unknown): string {
  switch (issue.code) {
    case 'invalid_type':
      return `${at}: must be ${article(issue.expected)}, got ${NOT_SHOWN}`;
    case 'invalid_value':
      return `${at}: must be one of: ${issue.values.map((v) => String(v)).join(', ')}, got ${NOT_SHOWN}`;
    case 'invalid_union': {
      const u = issue as unknown as { discriminator?: string; options?: unknown[] };
      if (u.discriminator && u.options) return `${at}: must be one of: ${u.options.map(String).join(', ')}, got ${NOT_SHOWN}`;
      return `${at}: invalid, got ${NOT_SHOWN}`;
    }
    default: {
      // Custom messages may quote the value (e.g. a duration): cut it out.
      let msg = issue.message;
      if (typeof got === 'string' && got.length >= 4) msg = msg.split(JSON.stringify(got)).join('(value)').split(got).join('(value)');
      return `${at}: ${msg} (${NOT_SHOWN})`;
    }
  }
}

function article(t: string): string {
  if (t === 'array') return 'a list';
  if (t === 'object') return 'a mapping';
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}
