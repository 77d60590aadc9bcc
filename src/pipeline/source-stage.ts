/**
 * What every source stage (export-first, overflow recovery, gap enrichment; see source-stages.ts)
 * shares: it wraps the route's subscriber, reports its own counters beside the inner ones, passes
 * commits through, and stops the inner subscriber when it stops.
 */
import type { StoredPosition } from '../positions.js';
import type { Subscriber, SubscriberContext } from '../subscribers/types.js';

export abstract class SourceStage implements Subscriber {
  protected stopped = false;
  protected abstract readonly counters: Record<string, number>;

  constructor(
    protected readonly inner: Subscriber,
    /** What the stage adds to the subscriber's description ("gaps enriched"); empty: nothing. */
    private readonly label: string,
  ) {}

  describe(): string {
    return this.label ? `${this.inner.describe()}, ${this.label}` : this.inner.describe();
  }

  stats(): Record<string, number> {
    return { ...(this.inner.stats?.() ?? {}), ...this.counters };
  }

  onCommitted = (p: StoredPosition) => this.inner.onCommitted?.(p);

  async stop(): Promise<void> {
    this.stopped = true;
    await this.inner.stop();
  }

  abstract start(ctx: SubscriberContext): Promise<void>;
  abstract request(n: number): void;
}
