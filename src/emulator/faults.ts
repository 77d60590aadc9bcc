/** Fault-injection switches shared by the emulator's servers (set through the admin API). */
export class Faults {
  /** Delay before each response / delivery. */
  delayMs = 0;
  /** Until this epoch ms, new Pub/Sub subscriptions and CometD handshakes are refused as unavailable. */
  refuseUntil = 0;

  /** Managed subscriptions answer every commit with an error (the position is not stored). */
  refuseCommits = false;

  refusing(): boolean {
    return Date.now() < this.refuseUntil;
  }

  /** The next this many published events are refused (PLATFORM_EVENT_PUBLISHING_UNAVAILABLE in their PublishResult). */
  publishRefusals = 0;

  /** Salesforce error codes the next Subscribe calls fail with, one each (admin `streams/fail`). */
  subscribeErrors: string[] = [];

  nextSubscribeError(): string | undefined {
    return this.subscribeErrors.shift();
  }
  /** Events per second across all Pub/Sub streams and CometD sessions; 0 = unlimited. */
  private throttlePerSec = 0;
  private bucket = 0;
  private bucketAt = Date.now();

  setThrottle(eventsPerSecond: number): void {
    this.throttlePerSec = Math.max(0, eventsPerSecond);
    this.bucket = this.throttlePerSec;
    this.bucketAt = Date.now();
  }

  get throttle(): number {
    return this.throttlePerSec;
  }

  /** How many of `want` events may go now under the throttle. */
  takeThrottle(want: number): number {
    if (this.throttlePerSec === 0) return want;
    const now = Date.now();
    this.bucket = Math.min(this.throttlePerSec, this.bucket + ((now - this.bucketAt) / 1000) * this.throttlePerSec);
    this.bucketAt = now;
    const n = Math.min(want, Math.floor(this.bucket));
    this.bucket -= n;
    return n;
  }

  /** True when the throttle has no whole event left to give right now. */
  throttleEmpty(): boolean {
    if (this.throttlePerSec === 0) return false;
    const refill = ((Date.now() - this.bucketAt) / 1000) * this.throttlePerSec;
    return Math.min(this.throttlePerSec, this.bucket + refill) < 1;
  }
}
