import { z } from 'zod';

/**
 * Records written into Salesforce: sObject Collections (≤ 200 records a call) for low latency, a
 * Bulk API 2.0 ingest job when one write holds more than `bulkAbove` events.
 */
export const salesforceRecordsSinkConfigSchema = z.strictObject({
  type: z.literal('salesforce-records'),
  /** The org to write into (`orgs.<name>`). */
  org: z.string().min(1),
  /** The sObject's API name (Account, Invoice__c). */
  object: z.string().regex(/^[A-Za-z]\w*$/, 'an sObject API name such as Account or Invoice__c'),
  operation: z.enum(['insert', 'update', 'upsert', 'delete']),
  /** upsert: the external id field records are matched on. */
  externalIdField: z
    .string()
    .regex(/^[A-Za-z]\w*$/, 'a field API name')
    .optional(),
  /** JSONata from the envelope to the record's fields (update and delete need `Id`); without it, the payload's fields. */
  mapping: z.string().min(1).optional(),
  /**
   * Sent as `Sforce-Call-Options: client=<client>` with every write: the change events the writes
   * cause carry it in changeOrigin, and a route's `filter: { notFromClient: <client> }` drops them.
   */
  client: z
    .string()
    .regex(/^[A-Za-z0-9_./-]+$/, 'letters, digits, _ . / -')
    .default('sfbridge'),
  /** Writes of more events than this go through a Bulk API 2.0 ingest job; unset: never. */
  bulkAbove: z.number().int().positive().optional(),
  /** How often a Bulk job's state is read, and how long it may take. */
  bulkPollMs: z.number().int().positive().default(1000),
  bulkTimeoutMs: z.number().int().positive().default(600_000),
});
export type SalesforceRecordsSinkConfig = z.infer<typeof salesforceRecordsSinkConfigSchema>;
