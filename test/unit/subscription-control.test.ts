/**
 * The subscription control's start choice and invalid-replay policy (issue 27): ages are judged on
 * Salesforce's clock, a backfill runs on the credit the subscriber held and hands the rest back,
 * and a route that cannot backfill says so in its marker.
 */
import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/envelope.js';
import { silentLogger } from '../../src/log.js';
import type { StoredPosition } from '../../src/positions.js';
import { isRefusal, type StartSettings, SubscriptionControl } from '../../src/subscribers/subscription-control.js';
import type { SubscriberContext } from '../../src/subscribers/types.js';

const HOUR = 3600_000;

function harness(from: StoredPosition | undefined, settings: Partial<StartSettings>, backfill?: SubscriberContext['backfill']) {
  const emitted: Envelope[] = [];
  const failed: Error[] = [];
  const ctx: SubscriberContext = {
    key: 'r',
    from,
    emit: (evs) => emitted.push(...evs),
    checkpoint: () => {},
    end: () => {},
    fail: (e) => failed.push(e),
    log: silentLogger(),
    ...(backfill ? { backfill } : {}),
  };
  const tk = new SubscriptionControl(
    ctx,
    '/data/AccountChangeEvent',
    {},
    {
      start: 'stored',
      initial: 'latest',
      onInvalidReplay: 'backfill',
      retentionMs: 72 * HOUR,
      now: () => Date.now(),
      ...settings,
    },
  );
  return { tk, emitted, failed };
}

describe('subscription control', () => {
  const oneHourAgo = new Date(Date.now() - HOUR).toISOString();
  const stored: StoredPosition = { key: 'r', replayId: 'AAE=', eventTime: oneHourAgo, committedAt: oneHourAgo };

  it("judges a stored position's age on Salesforce's clock", () => {
    const ours = harness(stored, {});
    expect(ours.tk.chooseStart(() => null)).toEqual({ replayId: 'AAE=' });
    // Salesforce's clock is 4 days ahead of ours: the same position is past the 72 h retention.
    const theirs = harness(stored, { now: () => Date.now() + 96 * HOUR });
    const at = theirs.tk.chooseStart(() => null);
    expect(isRefusal(at)).toBe(true);
    if (isRefusal(at)) {
      expect(at.refused).toMatchObject({ storedId: 'AAE=', storedEventTime: oneHourAgo });
      expect(at.refused.reason).toMatch(/97\.0 h old, beyond the channel's 72 h retention/);
    }
  });

  it('runs the backfill on the credit the subscriber held, hands back what is left, then sends the marker', async () => {
    const calls: Array<{ since: string | null; credit: number }> = [];
    const { tk, emitted } = harness(stored, {}, async (req) => {
      calls.push(req);
      expect(tk.available).toBe(0); // the subscriber holds no credit while the export spends it
      return { since: '2026-12-01T00:00:00.000Z', records: 42, credit: 3 };
    });
    tk.grant(7);
    await expect(tk.invalidReplay('00D', 'AAE=', oneHourAgo, 'Salesforce rejected the replay id')).resolves.toBe('earliest');
    expect(calls).toEqual([{ since: oneHourAgo, credit: 7 }]);
    expect(tk.available).toBe(2); // 3 handed back, 1 taken by the marker
    expect(emitted).toHaveLength(1);
    expect(emitted[0]?.kind).toBe('replay-gap');
    expect(emitted[0]?.payload).toMatchObject({ policy: 'backfill', backfilled: { since: '2026-12-01T00:00:00.000Z', records: 42 } });
  });

  it('a route that cannot backfill says so in its marker and resumes at earliest', async () => {
    const { tk, emitted } = harness(stored, {});
    tk.grant(1);
    await expect(tk.invalidReplay('00D', 'AAE=', oneHourAgo, 'refused')).resolves.toBe('earliest');
    expect(emitted[0]?.payload).toMatchObject({ policy: 'backfill', backfilled: null });
    expect(emitted[0]?.payload).toMatchObject({ backfillImpossible: expect.stringMatching(/not one object's change events/) });
  });

  it('a backfill that fails fails the route (it restarts from its last committed position and tries again)', async () => {
    const { tk, emitted, failed } = harness(stored, {}, async () => {
      throw new Error('Bulk API down');
    });
    tk.grant(5);
    await expect(tk.invalidReplay('00D', 'AAE=', oneHourAgo, 'refused')).resolves.toBeNull();
    expect(failed.map((e) => e.message)).toEqual(['Bulk API down']);
    expect(emitted).toHaveLength(0);
  });
});
