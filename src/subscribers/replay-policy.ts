/**
 * The invalid-replay policy shared by every subscriber: an ERROR log naming the channel, the stored
 * id and its age (on Salesforce's clock where known), then either a route failure (`fail`) or a
 * replay-gap marker for the sinks (`earliest` / `latest` / `backfill`). The caller moves its own
 * position accordingly. `backfill` exports the records changed since the refused position before
 * the marker (the route's export stage does that; see SubscriberContext.backfill).
 */
import { type Envelope, replayGapEnvelope } from '../envelope.js';
import { BridgeError } from '../errors.js';
import type { SubscriberContext } from './types.js';

/** backfill: like earliest, after an export of the records changed since the stored position (src/stages/record-export.ts). */
export type InvalidReplayPolicy = 'earliest' | 'latest' | 'fail' | 'backfill';

/** What a backfill delivered: records changed since `since` (null: every record of the object). */
export interface Backfilled {
  since: string | null;
  records: number;
}

export interface InvalidReplay {
  ctx: SubscriberContext;
  /** Extra log fields identifying the subscription (e.g. `{ topic }` or `{ channel }`). */
  logFields: Record<string, unknown>;
  channel: string;
  orgId: string;
  storedId: string;
  storedEventTime: string | null;
  reason: string;
  policy: InvalidReplayPolicy;
  /** Salesforce's clock (ms), for the position's age. */
  now: number;
}

/** Why a route cannot backfill, or null when it can (its context offers an export). */
export function backfillImpossible(ctx: SubscriberContext, channel: string): string | null {
  if (ctx.backfill) return null;
  return `${channel} is not one object's change events, so there is nothing to export`;
}

/** The loud part, said as soon as the position is refused (before any backfill runs). */
export function reportInvalidReplay(r: InvalidReplay): void {
  const { policy, reason, storedId, storedEventTime } = r;
  const at = storedEventTime ? Date.parse(storedEventTime) : Number.NaN;
  const age = Number.isFinite(at) ? `${((r.now - at) / 3600_000).toFixed(1)} h` : 'unknown';
  const cannot = policy === 'backfill' ? backfillImpossible(r.ctx, r.channel) : null;
  const next =
    policy === 'fail'
      ? ': stopping the route'
      : policy === 'backfill'
        ? cannot
          ? `: no backfill is possible (${cannot}); resumes at earliest; events between may be missing (replay-gap marker sent downstream)`
          : `: exporting the records changed since ${storedEventTime ?? 'ever (the position has no time: every record)'}, then resuming at earliest (replay-gap marker sent downstream)`
        : ` resumes at ${policy}; events between may be missing (replay-gap marker sent downstream)`;
  r.ctx.log.error(
    { ...r.logFields, storedReplayId: storedId, storedEventTime, age, policy },
    `replay position cannot be used: ${reason}; policy "${policy}"${next}`,
  );
}

/** What follows the report: a route failure, or the marker (with what a backfill delivered). */
export function invalidReplayOutcome(r: InvalidReplay, backfilled: Backfilled | null): { fail: BridgeError } | { marker: Envelope } {
  if (r.policy === 'fail') {
    return {
      fail: new BridgeError(
        'REPLAY_INVALID',
        `${r.channel}: ${r.reason}; onInvalidReplay is "fail" — set a new position with \`sfbridge replay set\` or \`replay reset\`, or change the policy`,
      ),
    };
  }
  const cannot = r.policy === 'backfill' && !backfilled ? backfillImpossible(r.ctx, r.channel) : null;
  return {
    marker: replayGapEnvelope({
      org: r.orgId,
      channel: r.channel,
      replayId: '',
      storedReplayId: r.storedId || null,
      storedEventTime: r.storedEventTime,
      policy: r.policy,
      reason: r.reason,
      ...(r.policy === 'backfill' ? { backfilled, ...(cannot ? { backfillImpossible: cannot } : {}) } : {}),
    }),
  };
}
