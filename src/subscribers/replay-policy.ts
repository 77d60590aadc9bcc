/**
 * The invalid-replay policy shared by every subscriber: an ERROR log naming the channel, the stored
 * id and its age, then either a route failure (`fail`) or a replay-gap marker for the sinks
 * (`earliest` / `latest`). The caller moves its own position accordingly.
 */
import { type Envelope, replayGapEnvelope } from '../envelope.js';
import { BridgeError } from '../errors.js';
import type { SubscriberContext } from './types.js';

/** backfill: like earliest, after an export of the records changed since the stored position (src/pipeline/export-first.ts). */
export type InvalidReplayPolicy = 'earliest' | 'latest' | 'fail' | 'backfill';

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
  /** policy backfill: what the export before the stream delivered (null: none ran). */
  backfilled?: { since: string; records: number } | null;
}

export function applyInvalidReplayPolicy(r: InvalidReplay): { fail: BridgeError } | { marker: Envelope } {
  const { policy, reason, storedId, storedEventTime } = r;
  const age = storedEventTime ? `${((Date.now() - Date.parse(storedEventTime)) / 3600_000).toFixed(1)} h` : 'unknown';
  r.ctx.log.error(
    { ...r.logFields, storedReplayId: storedId, storedEventTime, age, policy },
    `replay position cannot be used: ${reason}; policy "${policy}"${policy === 'fail' ? ': stopping the route' : policy === 'backfill' ? `${r.backfilled ? `: ${r.backfilled.records} records changed since ${r.backfilled.since} were exported first` : ': no backfill ran (the position was refused while streaming; a backfill runs when a route starts with a position older than retention)'}; resumes at earliest (replay-gap marker sent downstream)` : ` resumes at ${policy}; events between may be missing (replay-gap marker sent downstream)`}`,
  );
  if (policy === 'fail') {
    return {
      fail: new BridgeError(
        'REPLAY_INVALID',
        `${r.channel}: ${reason}; onInvalidReplay is "fail" — set a new position with \`sfbridge replay set\` or \`replay reset\`, or change the policy`,
      ),
    };
  }
  return {
    marker: replayGapEnvelope({
      org: r.orgId,
      channel: r.channel,
      replayId: '',
      storedReplayId: storedId || null,
      storedEventTime,
      policy,
      reason,
      ...(policy === 'backfill' ? { backfilled: r.backfilled ?? null } : {}),
    }),
  };
}
