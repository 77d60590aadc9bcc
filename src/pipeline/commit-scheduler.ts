/**
 * When to write the committable position. Group commit: at most every `intervalMs`, or at once
 * when `maxEvents` were acknowledged since the last write; one write at a time, the newest
 * position wins. A failed write is retried with backoff and reported (`onStoreDown`, so the route
 * can withhold credit: nothing new is fetched while positions cannot be stored); the first write
 * that succeeds again reports `onStoreUp`. A permanent failure (e.g. fenced by a newer lease
 * owner) goes to `onFatal`.
 */

import { isRetriable } from '../errors.js';
import type { CommitRequest, StoredPosition } from '../positions.js';
import { backoffDelay, DEFAULT_BACKOFF } from '../retry.js';

export interface CommitSchedulerOptions {
  intervalMs: number;
  maxEvents: number;
  /** Write a position (to the store, or take the one an atomic sink committed). */
  write(target: CommitRequest): Promise<StoredPosition>;
  onCommitted(stored: StoredPosition, events: number): void;
  onStoreDown(err: unknown, attempt: number, retryInMs: number): void;
  onStoreUp(): void;
  onFatal(err: unknown): void;
  /** False once the route stopped: no retry is scheduled then. */
  active(): boolean;
}

export class CommitScheduler {
  private target: CommitRequest | null = null;
  /** The request object last written (identity tells whether there is news). */
  private lastWritten: CommitRequest | null = null;
  private eventsSinceCommit = 0;
  private writing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  failures = 0;
  storeDown = false;

  constructor(private readonly opts: CommitSchedulerOptions) {}

  /** The head moved: `position` (if any) is now committable, `events` more were acknowledged. */
  offer(position: CommitRequest | null, events: number): void {
    if (position) this.target = position;
    this.eventsSinceCommit += events;
    this.schedule();
  }

  /** Write the newest committable position now (waits for a write in progress first). */
  async flush(): Promise<void> {
    this.clearTimer();
    while (this.writing) await this.writing;
    const target = this.target;
    if (!target || target === this.lastWritten) return;
    const events = this.eventsSinceCommit;
    this.eventsSinceCommit = 0;
    // Not cleared inside the async body: a write that completes synchronously (an atomic sink's
    // position) would run to the end before the assignment below, and `writing` would never clear.
    const write = this.writeOnce(target, events);
    this.writing = write;
    try {
      await write;
    } finally {
      if (this.writing === write) this.writing = null;
    }
    // A newer position may have become committable while writing.
    if (this.target !== target && !this.storeDown) this.schedule();
  }

  stop(): void {
    this.clearTimer();
  }

  private async writeOnce(target: CommitRequest, events: number): Promise<void> {
    try {
      const stored = await this.opts.write(target);
      this.lastWritten = target;
      this.failures = 0;
      this.opts.onCommitted(stored, events);
      if (this.storeDown) {
        this.storeDown = false;
        this.opts.onStoreUp();
      }
    } catch (err) {
      this.eventsSinceCommit += events;
      if (!isRetriable(err)) {
        this.opts.onFatal(err);
        return;
      }
      this.failures++;
      this.storeDown = true;
      const delay = backoffDelay(this.failures, DEFAULT_BACKOFF);
      this.opts.onStoreDown(err, this.failures, delay);
      if (this.opts.active()) this.setTimer(delay);
    }
  }

  private schedule(): void {
    if (this.eventsSinceCommit >= this.opts.maxEvents) {
      void this.flush();
      return;
    }
    if (!this.timer) this.setTimer(this.opts.intervalMs);
  }

  private setTimer(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, ms);
    this.timer.unref?.();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
