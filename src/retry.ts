/**
 * Exponential backoff with "equal jitter" (each delay is random between half and all of the
 * exponential step), shared by every component that retries: spread out, yet never much shorter
 * than the step.
 */

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor?: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 30_000, factor: 2 };

/** Delay before retry number `attempt` (1-based): random in [base/2, base], base capped at maxMs. */
export function backoffDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF, random = Math.random): number {
  const factor = opts.factor ?? 2;
  const base = Math.min(opts.maxMs, opts.initialMs * factor ** Math.max(0, attempt - 1));
  return Math.round(base / 2 + random() * (base / 2));
}

/**
 * When Salesforce asks a client to stay away (delivery allocation spent, client limit reached,
 * throttling): minutes, not seconds — 5 min doubling to 1 h (attempt is 1-based). Retrying sooner
 * fixes nothing and may count against the same limit.
 */
export function stayAwayDelay(attempt: number): number {
  return Math.min(3_600_000, 300_000 * 2 ** Math.max(0, attempt - 1));
}

/** Sleep that an AbortSignal can cut short (resolves early, never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
