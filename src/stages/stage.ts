/**
 * What every source stage (record export, overflow recovery, gap enrichment; see index.ts)
 * shares: it wraps the route's subscriber, reports its own counters beside the inner ones, passes
 * commits through, and stops the inner subscriber when it stops. QueuedStage adds the one queue
 * through which a stage that rewrites the stream takes batches, checkpoints and the end, in order.
 */
import type { Envelope } from '../envelope.js';
import type { StoredPosition } from '../positions.js';
import type { Subscriber, SubscriberContext } from '../subscribers/types.js';

export abstract class Stage implements Subscriber {
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
  close = async () => this.inner.close?.();

  async stop(): Promise<void> {
    this.stopped = true;
    await this.inner.stop();
  }

  abstract start(ctx: SubscriberContext): Promise<void>;
  abstract request(n: number): void;
}

/** What the subscriber hands a queued stage, in stream order. */
export type Step =
  | { kind: 'emit'; events: Envelope[] }
  | { kind: 'checkpoint'; replayId: string; eventTime: string | null }
  | { kind: 'end' };

/**
 * A stage that sits between the subscriber and the pipeline: batches, keepalive checkpoints and
 * the end of the stream pass through one queue, so a position is never committed ahead of an
 * event the stage still holds. `drain` empties the queue (one drain at a time: `running`).
 */
export abstract class QueuedStage extends Stage {
  protected readonly queue: Step[] = [];
  protected running = false;

  start(ctx: SubscriberContext): Promise<void> {
    const push = (s: Step) => {
      this.onQueued(s);
      this.queue.push(s);
      if (!this.running) void this.drain(ctx);
    };
    return this.inner.start({
      ...ctx,
      emit: (events) => push({ kind: 'emit', events }),
      checkpoint: (replayId, eventTime) => push({ kind: 'checkpoint', replayId, eventTime }),
      end: () => push({ kind: 'end' }),
    });
  }

  /** Told of each step as it joins the queue. */
  protected onQueued(_step: Step): void {}

  protected abstract drain(ctx: SubscriberContext): Promise<void>;
}
