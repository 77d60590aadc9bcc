import { z } from 'zod';
import { defaultRetentionHours } from '../retention.js';
import type { SourceFacts } from '../types.js';

export const cometdSubscriberConfigSchema = z.strictObject({
  type: z.literal('cometd'),
  org: z.string().min(1),
  /** `/topic/<PushTopic>`, `/u/<generic>`, `/data/...ChangeEvent(s)`, `/event/<Name>__e`. */
  channel: z
    .string()
    .regex(
      /^\/(topic|u|data|event)\/\S+$/,
      'must be a streaming channel such as /topic/NewCases, /u/Notifications, /data/AccountChangeEvent or /event/Order_Event__e',
    ),
  start: z.enum(['stored', 'earliest', 'latest']).default('stored'),
  initial: z.enum(['earliest', 'latest']).default('latest'),
  /**
   * What to do when the stored replay id is refused or older than retention (always logged
   * loudly). backfill (one object's change events, /data/<Object>ChangeEvent): first export the
   * records changed since the last delivered event (Bulk API 2.0 queryAll), then resume at -2.
   */
  onInvalidReplay: z.enum(['earliest', 'latest', 'fail', 'backfill']).default('earliest'),
  /** Retention of the channel; defaults to 24 h for /topic and /u, 72 h otherwise. */
  retentionHours: z.number().positive().optional(),
  /** Rebuild the client when no /meta/connect completed for this long (Salesforce holds connects 110 s). */
  watchdogSeconds: z.number().positive().default(240),
  /**
   * A server that answers a new handshake while no /meta/connect completes and a channel waits
   * for its replay is seeking the replay id (after large data loads: hours). Wait this long before
   * rebuilding the client anyway (a rebuild starts the seek over).
   */
  maxSeekSeconds: z.number().positive().default(43_200),
  /** Long-poll timeout the client allows (must exceed the server's 110 s hold). */
  timeoutSeconds: z.number().positive().default(120),
  /** After pausing for back-pressure, reconnect once this fraction of the credit is free again. */
  resumeAt: z.number().gt(0).max(1).default(0.5),
});
export type CometdSubscriberConfig = z.infer<typeof cometdSubscriberConfigSchema>;

/**
 * In flight by default: 2000, not 500: CometD's back-pressure is a disconnect and a resubscribe
 * that Salesforce counts against the delivery allocation, so its window stays wide. The org's one
 * CometD client carries one route per channel (session.ts): a channel is claimed per org.
 */
export function cometdSourceFacts(c: CometdSubscriberConfig): SourceFacts {
  return {
    key: c.channel,
    org: c.org,
    channel: c.channel,
    retentionMs: (c.retentionHours ?? defaultRetentionHours(c.channel)) * 3_600_000,
    maxInFlight: 2000,
    exclusive: [
      {
        claim: `${c.channel} of org ${c.org} over CometD`,
        why: "the org's one CometD connection carries one route per channel: give the channel one route (it can have several sinks)",
      },
    ],
    snapshot: false,
    backfill: c.onInvalidReplay === 'backfill',
  };
}
