/**
 * JSONata expressions (filter.expression, transform) through the maintained `jsonata` package.
 * Each distinct expression is compiled once per process, when the config is checked; routes
 * built later (restarts) reuse the compiled form.
 */
import jsonata from 'jsonata';

export type Compiled = jsonata.Expression;

const cache = new Map<string, Compiled>();

/** The compiled expression, or throws an Error whose message says where and what is wrong. */
export function compileExpression(text: string): Compiled {
  let c = cache.get(text);
  if (!c) {
    try {
      c = jsonata(text);
    } catch (err) {
      throw new Error(expressionMessage(err));
    }
    cache.set(text, c);
  }
  return c;
}

/** Why an expression does not compile, or null when it does (for `sfbridge check`). */
export function expressionProblem(text: string): string | null {
  try {
    compileExpression(text);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** A JSONata error as one line: its message, and where in the expression (its parser gives a character position). */
export function expressionMessage(err: unknown): string {
  const e = err as { message?: string; position?: number; code?: string };
  const where = typeof e.position === 'number' ? ` (at character ${e.position}${e.code ? `, JSONata ${e.code}` : ''})` : '';
  return `${e.message ?? String(err)}${where}`;
}

/** JSONata's own truthiness (its $boolean): what a filter expression's result means. */
export function truthy(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v.length > 0;
  if (Array.isArray(v)) return v.some(truthy);
  if (typeof v === 'function') return false;
  return Object.keys(v as object).length > 0;
}
