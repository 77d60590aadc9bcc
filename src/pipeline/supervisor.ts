/**
 * What happens when a route fails (a permanent error: a topic gone, a permission removed, an
 * endpoint that answers 410, an event too large on a `block` route). The other routes never stop
 * for it. `onRouteFailure`:
 * - `restart` (default): restart the route from its last committed position after a back-off
 *   (`routeRestart.initial` doubling to `routeRestart.max`), so a failure whose cause goes away
 *   heals itself; the reason and the next attempt are in /status.
 * - `stop`: the route stays failed until the process restarts; the others run on.
 * - `exit`: stop the whole daemon with exit code 1, for supervisors that should see every failure.
 */
import type { Logger } from '../log.js';

export type OnRouteFailure = 'restart' | 'stop' | 'exit';

export interface RestartInfo {
  /** Restarts so far. */
  restarts: number;
  /** When the next restart is due (ISO), while one is scheduled. */
  nextRestartAt: string | null;
  /** Why the route last failed. */
  lastFailure: string | null;
}

interface Entry extends RestartInfo {
  timer: NodeJS.Timeout | null;
  /** Consecutive failures (reset when a run outlasted the longest back-off). */
  streak: number;
  startedAt: number;
}

export class RouteSupervisor {
  private readonly entries = new Map<string, Entry>();
  private closed = false;
  /** Set in `exit` mode by the first failure. */
  exitReason: string | null = null;

  constructor(
    private readonly mode: OnRouteFailure,
    private readonly schedule: { initialMs: number; maxMs: number },
    private readonly log: Logger,
    private readonly restart: (key: string) => Promise<void>,
    private readonly onExit: () => void,
  ) {}

  get restarting(): boolean {
    return this.mode === 'restart';
  }

  /** A route (re)started running. */
  started(key: string): void {
    const e = this.entry(key);
    e.startedAt = Date.now();
    e.nextRestartAt = null;
  }

  info(key: string): RestartInfo | undefined {
    const e = this.entries.get(key);
    return e ? { restarts: e.restarts, nextRestartAt: e.nextRestartAt, lastFailure: e.lastFailure } : undefined;
  }

  /** A route failed with `reason`: act on the mode. */
  failed(key: string, reason: string): void {
    if (this.closed) return;
    const e = this.entry(key);
    e.lastFailure = reason;
    if (this.mode === 'exit') {
      this.exitReason ??= `route ${key} failed: ${reason}`;
      this.log.error({ route: key, error: reason }, 'route failed; onRouteFailure is exit: stopping the bridge');
      this.onExit();
      return;
    }
    if (this.mode === 'stop') {
      this.log.error(
        { route: key, error: reason },
        'route failed; onRouteFailure is stop: it stays stopped until sfbridge restarts (the other routes run on)',
      );
      return;
    }
    if (Date.now() - e.startedAt >= this.schedule.maxMs) e.streak = 0;
    e.streak++;
    const delay = Math.min(this.schedule.maxMs, this.schedule.initialMs * 2 ** (e.streak - 1));
    e.nextRestartAt = new Date(Date.now() + delay).toISOString();
    this.log.error(
      { route: key, error: reason, restartInMs: delay, restarts: e.restarts },
      `route failed; restarting it from its last committed position in ${Math.round(delay / 1000)} s (the other routes run on)`,
    );
    e.timer = setTimeout(() => {
      e.timer = null;
      e.restarts++;
      this.restart(key).catch((err) => this.failed(key, `restart failed: ${err instanceof Error ? err.message : String(err)}`));
    }, delay);
  }

  /** Restart now (operator request); false when the route is not waiting for a restart. */
  restartNow(key: string): boolean {
    const e = this.entries.get(key);
    if (!e?.timer) return false;
    clearTimeout(e.timer);
    e.timer = null;
    e.restarts++;
    void this.restart(key).catch((err) => this.failed(key, `restart failed: ${err instanceof Error ? err.message : String(err)}`));
    return true;
  }

  /** The route left this instance (HA: its lease went elsewhere): no restart here, no record. */
  forget(key: string): void {
    const e = this.entries.get(key);
    if (e?.timer) clearTimeout(e.timer);
    this.entries.delete(key);
  }

  close(): void {
    this.closed = true;
    for (const e of this.entries.values()) if (e.timer) clearTimeout(e.timer);
  }

  private entry(key: string): Entry {
    let e = this.entries.get(key);
    if (!e) {
      e = { restarts: 0, nextRestartAt: null, lastFailure: null, timer: null, streak: 0, startedAt: Date.now() };
      this.entries.set(key, e);
    }
    return e;
  }
}
