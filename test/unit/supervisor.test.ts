/**
 * The route-failure policy (src/pipeline/supervisor.ts) on a controlled clock: back-off doubling
 * to its cap, reset after a healthy run, the other modes, and a route that left the instance.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { RouteSupervisor } from '../../src/pipeline/supervisor.js';

const S = 1000;

describe('route supervisor', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-12-05T12:00:00Z'));
  });
  afterEach(() => vi.useRealTimers());

  function supervisor(mode: 'restart' | 'stop' | 'exit' = 'restart') {
    const restarts: number[] = [];
    let exits = 0;
    const sup = new RouteSupervisor(
      mode,
      { initialMs: 1 * S, maxMs: 8 * S },
      silentLogger(),
      async () => {
        restarts.push(Date.now());
      },
      () => {
        exits++;
      },
    );
    return { sup, restarts, exits: () => exits };
  }

  /** Fail the route now and let the scheduled restart run; returns the delay it waited. */
  async function failAndRestart(sup: RouteSupervisor, restarts: number[]): Promise<number> {
    const before = restarts.length;
    const at = Date.now();
    sup.failed('r', 'boom');
    await vi.advanceTimersToNextTimerAsync();
    expect(restarts).toHaveLength(before + 1);
    sup.started('r');
    return (restarts.at(-1) as number) - at;
  }

  it('doubles the back-off from routeRestart.initial up to routeRestart.max', async () => {
    const { sup, restarts } = supervisor();
    sup.started('r');
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) delays.push(await failAndRestart(sup, restarts));
    expect(delays).toEqual([1 * S, 2 * S, 4 * S, 8 * S, 8 * S, 8 * S]);
    expect(sup.info('r')).toMatchObject({ restarts: 6, lastFailure: 'boom' });
  });

  it('shows the next attempt while waiting, and starts over after a run that outlasted the longest back-off', async () => {
    const { sup, restarts } = supervisor();
    sup.started('r');
    await failAndRestart(sup, restarts);
    await failAndRestart(sup, restarts);
    sup.failed('r', 'again');
    expect(sup.info('r')?.nextRestartAt).toBe(new Date(Date.now() + 4 * S).toISOString());
    await vi.advanceTimersToNextTimerAsync();
    sup.started('r');
    expect(sup.info('r')?.nextRestartAt).toBeNull();
    vi.advanceTimersByTime(8 * S); // healthy for as long as the longest back-off
    expect(await failAndRestart(sup, restarts)).toBe(1 * S);
  });

  it('restartNow runs a waiting restart at once; forget drops one (the route left this instance)', async () => {
    const { sup, restarts } = supervisor();
    sup.started('r');
    sup.failed('r', 'boom');
    expect(sup.restartNow('r')).toBe(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(restarts).toHaveLength(1);
    expect(sup.restartNow('r')).toBe(false);
    sup.started('r');
    sup.failed('r', 'boom');
    sup.forget('r');
    await vi.advanceTimersByTimeAsync(60 * S);
    expect(restarts).toHaveLength(1);
    expect(sup.info('r')).toBeUndefined();
  });

  it('stop leaves the route failed; exit asks the bridge to stop at the first failure', async () => {
    const stop = supervisor('stop');
    stop.sup.started('r');
    stop.sup.failed('r', 'boom');
    await vi.advanceTimersByTimeAsync(60 * S);
    expect(stop.restarts).toHaveLength(0);
    const exit = supervisor('exit');
    exit.sup.started('r');
    exit.sup.failed('r', 'boom');
    expect(exit.exits()).toBe(1);
    expect(exit.sup.exitReason).toBe('route r failed: boom');
  });
});
