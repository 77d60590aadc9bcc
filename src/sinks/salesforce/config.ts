import { z } from 'zod';

/**
 * Platform events published into Salesforce over the Pub/Sub API. Limits from Salesforce's
 * "Pub/Sub API and Event Allocations": at most 200 events per PublishRequest is the recommended
 * batch, 3 MB the recommended request size (4 MB fails the call), 1 MB per event.
 */
export const salesforceSinkConfigSchema = z.strictObject({
  type: z.literal('salesforce'),
  /** The org to publish into (`orgs.<name>`). */
  org: z.string().min(1),
  /** `/event/<Name>__e`. */
  topic: z.string().regex(/^\/event\/\w+__e$/, 'a platform event topic such as /event/Order_Event__e'),
  /** JSONata from the envelope to the event's fields; without it, the payload's fields. */
  mapping: z.string().min(1).optional(),
  /** `stream`: PublishStream, one long-lived stream, requests pipelined; `unary`: one Publish call per request. */
  rpc: z.enum(['stream', 'unary']).default('stream'),
  /** Events per PublishRequest (Salesforce recommends no more than 200). */
  batchSize: z.number().int().min(1).max(200).default(200),
  /** Bytes per PublishRequest (Salesforce recommends 3 MB; over 4 MB the call fails). */
  maxRequestBytes: z
    .number()
    .int()
    .min(1024)
    .max(4 * 1024 * 1024)
    .default(3 * 1024 * 1024),
  /** How long one write may wait for Salesforce's answers before its events are retried. */
  timeoutMs: z.number().int().positive().default(60_000),
});
export type SalesforceSinkConfig = z.infer<typeof salesforceSinkConfigSchema>;
