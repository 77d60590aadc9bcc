/** The emulator's notion of time: real time plus an offset that tests move forward (retention, token expiry). */
export class Clock {
  private offsetMs = 0;
  now(): number {
    return Date.now() + this.offsetMs;
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}
