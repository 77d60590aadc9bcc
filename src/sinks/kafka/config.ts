import { z } from 'zod';
import { proxySchema } from '../../config/schema.js';
import { kafkaConnectionFields } from '../../kafka-connection.js';

export const kafkaSinkConfigSchema = z.strictObject({
  type: z.literal('kafka'),
  ...kafkaConnectionFields,
  /** Topic template: {org}, {channel} (made topic-safe: data.AccountChangeEvent), {route}, {kind}. */
  topic: z
    .string()
    .min(1)
    .max(249)
    .regex(
      /^(?:[A-Za-z0-9._-]|\{(?:org|channel|route|kind)\})+$/,
      'must be a Kafka topic name (letters, digits, . _ -) with optional {org} {channel} {route} {kind}',
    )
    .default('salesforce.{org}.{channel}'),
  /** auto: first record id for CDC, the event id (EventUuid) otherwise. */
  key: z.enum(['auto', 'recordId', 'eventId', 'replayId', 'none']).default('auto'),
  /** Batch compression (zstd rides on Node's own zlib, which every supported Node.js line has). */
  compression: z.enum(['none', 'gzip', 'snappy', 'lz4', 'zstd']).default('none'),
  /** Create missing topics with this many partitions (else rely on the broker's auto-creation). */
  createTopics: z
    .strictObject({ partitions: z.number().int().positive().default(1), replicationFactor: z.number().int().default(-1) })
    .optional(),
  /**
   * Exactly-once: each batch and its replay checkpoint are written in one Kafka transaction.
   * Needs `replayStore.type: kafka` and this sink as the route's only sink.
   */
  exactlyOnce: z.boolean().default(false),
  /**
   * Record values: `json` (the envelope as JSON), or through a schema registry in the Confluent
   * wire format: `avro`, `json-schema` (docs/kafka-schemas.md).
   */
  format: z.enum(['json', 'avro', 'json-schema']).default('json'),
  /** The schema registry (Confluent REST API) for `avro` / `json-schema`; credentials as `${…}` secrets. */
  schemaRegistry: z
    .strictObject({
      url: z.string().regex(/^https?:\/\/\S+$/, 'must be an http:// or https:// URL'),
      username: z.string().min(1).optional(),
      password: z.string().optional(),
      /** A private CA for an https registry (PEM file). */
      caCertFile: z.string().optional(),
      timeoutMs: z.number().int().positive().default(10_000),
      /** An HTTP proxy for the registry; without it, HTTPS_PROXY / HTTP_PROXY and NO_PROXY apply. */
      proxy: proxySchema.optional(),
    })
    .optional(),
  /** Subject per schema: `<topic>-value` (topic), the record's full name (record), or `<topic>-<record>`. */
  subjectNameStrategy: z.enum(['topic', 'record', 'topic-record']).default('topic'),
  /** Record keys: UTF-8 text, or Avro strings registered as `<topic>-key`. */
  keyFormat: z.enum(['string', 'avro']).default('string'),
  /** Add CloudEvents 1.0 binary-mode headers (ce_specversion, ce_id, ce_source, ce_type, ce_time, content-type). */
  cloudEvents: z.boolean().default(false),
  requestTimeoutMs: z.number().int().positive().default(30_000),
  /**
   * Record batches are kept under each topic's max.message.bytes, read from the broker; when it
   * cannot be read (no DescribeConfigs permission), under this many bytes (the broker default is 1 MiB).
   */
  maxBatchBytes: z.number().int().min(16_384).default(1_000_000),
});
export type KafkaSinkConfig = z.infer<typeof kafkaSinkConfigSchema>;
