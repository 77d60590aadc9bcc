import { z } from 'zod';
import { changeEventEntity } from '../../salesforce/topics.js';
import type { SourceFacts } from '../types.js';

export const pubsubSubscriberConfigSchema = z
  .strictObject({
    type: z.literal('pubsub'),
    /** Org name under `orgs:`. */
    org: z.string().min(1),
    /** `/data/ChangeEvents`, `/data/<Object>ChangeEvent`, `/data/<Name>__chn`, `/event/<Name>__e`, … */
    topic: z.string().regex(/^\/(data|event)\/\S+$/, 'must be a Pub/Sub topic such as /data/AccountChangeEvent or /event/Order_Event__e'),
    /** stored: resume from the stored position (default); earliest / latest: ignore it for this run. */
    start: z.enum(['stored', 'earliest', 'latest']).default('stored'),
    /**
     * Where a route with no stored position begins. snapshot (one object's change events): first
     * export the object's current records (Bulk API 2.0) as `snapshot` envelopes, then stream from
     * the moment the export began.
     */
    initial: z.enum(['earliest', 'latest', 'snapshot']).default('latest'),
    /**
     * What to do when the stored replay id is refused or older than retention (always logged
     * loudly). backfill (one object's change events): first export the records changed since the
     * last delivered event (Bulk API 2.0 queryAll, deleted ones included), then resume at earliest.
     */
    onInvalidReplay: z.enum(['earliest', 'latest', 'fail', 'backfill']).default('earliest'),
    /** Events per FetchRequest (Salesforce's maximum is 100). */
    batchSize: z.number().int().min(1).max(100).default(100),
    /**
     * Rebuild a stream that has a pending request but has sent neither an event nor a keepalive for
     * this long (Salesforce sends a keepalive at least every 270 s): the "silent subscription".
     */
    silentSeconds: z.number().positive().default(330),
    /** The channel's retention; a stored position older than this is treated as invalid before subscribing. */
    retentionHours: z.number().positive().default(72),
    /** Use a managed subscription (server-side commits) by developer name or id instead of Subscribe. */
    managedSubscription: z
      .string()
      .regex(
        /^(?:18x(?:[A-Za-z0-9]{12}|[A-Za-z0-9]{15})|[A-Za-z][A-Za-z0-9_]*)$/,
        'must be a managed subscription id (18x…, 15 or 18 characters) or its developer name (letters, digits, underscores)',
      )
      .optional(),
  })
  .refine((c) => c.initial !== 'snapshot' || changeEventEntity(c.topic) !== null, {
    path: ['initial'],
    message: 'snapshot needs the change events of one object, e.g. /data/AccountChangeEvent or /data/Invoice__ChangeEvent',
  });

export type PubSubSubscriberConfig = z.infer<typeof pubsubSubscriberConfigSchema>;

/**
 * In flight by default: 500. Events in flight are what survives young-generation collections; at
 * 2000 they got promoted and collected again as old objects, which cost a Kafka catch-up 30 % more
 * CPU and lower throughput (docs/benchmarks.md).
 */
export function pubsubSourceFacts(c: PubSubSubscriberConfig): SourceFacts {
  return {
    key: c.topic,
    org: c.org,
    channel: c.topic,
    retentionMs: c.retentionHours * 3_600_000,
    maxInFlight: 500,
    exclusive: [],
    snapshot: c.initial === 'snapshot',
    backfill: c.onInvalidReplay === 'backfill',
  };
}
