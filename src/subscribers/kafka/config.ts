import { z } from 'zod';
import { kafkaConnectionFields } from '../../kafka-connection.js';
import type { SourceFacts } from '../types.js';

/**
 * A Kafka topic as a source (for writing into Salesforce): each record's JSON value becomes the
 * envelope's payload. Offsets are committed to the consumer group only after every sink of the
 * route acknowledged the records (the pipeline's one commit path, then `onCommitted`).
 */
export const kafkaSubscriberConfigSchema = z.strictObject({
  type: z.literal('kafka'),
  ...kafkaConnectionFields,
  topics: z.array(z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name')).min(1),
  groupId: z.string().min(1),
  /** Read only committed transactional records (isolation.level=read_committed). */
  read_committed: z.boolean().default(false),
  /** Where a group without committed offsets starts. */
  initial: z.enum(['earliest', 'latest']).default('earliest'),
  /** Records per batch handed to the pipeline. */
  batchSize: z.number().int().positive().max(10_000).default(500),
  sessionTimeoutMs: z.number().int().positive().default(30_000),
  /**
   * Static group membership (group.instance.id): a restarted bridge takes its partitions back at
   * once instead of waiting for the group to drop the old member. Unique per consumer; HA leases
   * make one instance run a route at a time. Default `sfbridge-<groupId>`; null turns it off.
   */
  groupInstanceId: z.string().min(1).nullable().optional(),
});
export type KafkaSubscriberConfig = z.infer<typeof kafkaSubscriberConfigSchema>;

/** A Kafka source has no org and no retention (the topic's own is Kafka's business); keyed by group and topics. */
export function kafkaSourceFacts(c: KafkaSubscriberConfig): SourceFacts {
  return {
    key: `kafka:${c.groupId}:${c.topics.join(',')}`,
    org: null,
    channel: c.topics.length === 1 ? `kafka:${c.topics[0]}` : null,
    retentionMs: null,
    maxInFlight: 2000,
    // One route per consumer group and topic: two would split the partitions between them.
    exclusive: c.topics.map((t) => ({
      claim: `kafka group ${c.groupId} topic ${t}`,
      why: 'two routes would split its partitions and each commit the other’s offsets',
    })),
    snapshot: false,
    backfill: false,
  };
}
