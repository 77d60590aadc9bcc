/**
 * Polls an org's `/limits` at an interval so operators see how much of the org's allowances
 * (API requests, delivered platform events, streaming events…) is spent, as metrics and in
 * /status, and get a log warning when one crosses `warnPercent`. The last poll's Date header also
 * tells how far Salesforce's clock is from ours (rest.ts), which retention headroom needs.
 */
import { BridgeError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { RestClient } from './rest.js';

export type LimitValues = Record<string, { max: number; remaining: number }>;

export interface LimitsSnapshot {
  org: string;
  values: LimitValues;
  polledAt: string | null;
  error: string | null;
}

export class LimitsPoller {
  private values: LimitValues = {};
  private polledAt: string | null = null;
  private error: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Limits currently over warnPercent (warned once per crossing). */
  private readonly warned = new Set<string>();

  constructor(
    readonly org: string,
    readonly rest: RestClient,
    private readonly opts: { intervalMs: number; warnPercent: number },
    private readonly log: Logger,
  ) {}

  start(): void {
    const tick = () => {
      void this.poll().finally(() => {
        if (this.timer) this.timer = setTimeout(tick, this.opts.intervalMs).unref();
      });
    };
    this.timer = setTimeout(tick, 0).unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  snapshot(): LimitsSnapshot {
    return { org: this.org, values: this.values, polledAt: this.polledAt, error: this.error };
  }

  async poll(): Promise<void> {
    try {
      const raw = await this.rest.request<Record<string, { Max?: unknown; Remaining?: unknown }>>('GET', '/limits');
      const values: LimitValues = {};
      for (const [name, v] of Object.entries(raw ?? {})) {
        if (typeof v?.Max === 'number' && typeof v.Remaining === 'number') values[name] = { max: v.Max, remaining: v.Remaining };
      }
      this.values = values;
      this.polledAt = new Date().toISOString();
      this.error = null;
      this.warnWhereHigh();
    } catch (err) {
      this.error = errorMessage(err);
      // Not news: a poll still out when the bridge stopped, or a login that failed (the org's
      // token provider says so itself, in the same words).
      if (this.stopped || (err instanceof BridgeError && err.code.startsWith('AUTH_'))) return;
      this.log.warn({ error: this.error }, 'could not read the org limits (/limits); limit metrics keep their last values');
    }
  }

  private warnWhereHigh(): void {
    for (const [name, v] of Object.entries(this.values)) {
      if (v.max <= 0) continue;
      const usedPercent = ((v.max - v.remaining) / v.max) * 100;
      if (usedPercent >= this.opts.warnPercent && !this.warned.has(name)) {
        this.warned.add(name);
        this.log.warn(
          { limit: name, max: v.max, remaining: v.remaining, usedPercent: Math.round(usedPercent) },
          `Salesforce limit ${name} is ${Math.round(usedPercent)}% used (${v.remaining} of ${v.max} left); past it Salesforce refuses the calls or deliveries it counts`,
        );
      } else if (usedPercent < this.opts.warnPercent) this.warned.delete(name);
    }
  }
}
