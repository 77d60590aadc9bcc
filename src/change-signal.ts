/** Wake whoever waits for "something changed" (e.g. a drain loop), with a timeout. */
export class ChangeSignal {
  private waiters: Array<() => void> = [];

  /** Resolves at the next notify(), or after `ms`. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, ms));
      this.waiters.push(done);
    });
  }

  notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
