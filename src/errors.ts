/**
 * Typed errors. Every error the bridge raises says whether retrying can help (`retriable`), so
 * one retry helper can serve subscribers, sinks and stores alike.
 */

export class BridgeError extends Error {
  readonly code: string;
  readonly retriable: boolean;
  constructor(code: string, message: string, opts: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BridgeError';
    this.code = code;
    this.retriable = opts.retriable ?? false;
  }
}

/** Bad configuration: reported as one line per problem, exit code 2. */
export class ConfigError extends BridgeError {
  readonly problems: string[];
  constructor(problems: string[]) {
    // A hostile or generated file can have thousands of problems; the first fifty say enough.
    const shown = problems.length > 50 ? [...problems.slice(0, 50), `… and ${problems.length - 50} more problems`] : problems;
    super('CONFIG', shown.join('\n'));
    this.name = 'ConfigError';
    this.problems = shown;
  }
}

/** Bad command line: one line, exit code 2. */
export class UsageError extends BridgeError {
  constructor(message: string) {
    super('USAGE', message);
    this.name = 'UsageError';
  }
}

/** A transient failure (network, 5xx, full disk, broker down): retry with backoff. */
export class RetriableError extends BridgeError {
  constructor(code: string, message: string, cause?: unknown) {
    super(code, message, { retriable: true, cause });
    this.name = 'RetriableError';
  }
}

/** Errors without an explicit flag are treated as transient: losing data is worse than retrying. */
export function isRetriable(err: unknown): boolean {
  if (err instanceof BridgeError) return err.retriable;
  if (err && typeof err === 'object' && 'retriable' in err) return Boolean((err as { retriable: unknown }).retriable);
  return true;
}

/**
 * A bug, in the bridge or in a library, not an outage: retrying cannot fix it, so it fails the
 * route (stack in the log) and supervised restart applies. Network failures that some clients
 * report as a TypeError carry their cause (fetch's "fetch failed"), and stay transient.
 */
export function isProgrammingError(err: unknown): boolean {
  const bug = err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError || err instanceof SyntaxError;
  return bug && (err as { cause?: unknown }).cause === undefined;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** A failure while opening a store, a sink or an org at start: the component named, and why. */
export function asStartupError(what: string, err: unknown): BridgeError {
  if (err instanceof BridgeError) return err;
  return new BridgeError('STARTUP', `${what}: ${errorMessage(err)}`);
}

/**
 * An error and every error nested in it (its `errors`, then its `cause`), depth-first, at most 10
 * deep (@platformatic/kafka puts a refused SASL login 7 deep under a failed admin call).
 */
export function nestedErrors(err: unknown, depth = 0): object[] {
  if (!err || typeof err !== 'object' || depth > 9) return [];
  const e = err as { errors?: unknown[]; cause?: unknown };
  return [
    err,
    ...(Array.isArray(e.errors) ? e.errors.flatMap((x) => nestedErrors(x, depth + 1)) : []),
    ...nestedErrors(e.cause, depth + 1),
  ];
}
