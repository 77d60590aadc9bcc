import { z } from 'zod';

/** Amazon SQS sink: SendMessageBatch, each entry's result is that event's outcome. */
export const sqsSinkConfigSchema = z.strictObject({
  type: z.literal('sqs'),
  queueUrl: z.url({
    protocol: /^https?$/,
    error: 'must be the queue URL, e.g. https://sqs.eu-west-1.amazonaws.com/123456789012/events.fifo',
  }),
  /** Default: AWS_REGION, else the region in the queue URL. */
  region: z.string().min(1).optional(),
  /** Another endpoint (an SQS-compatible server such as ElasticMQ); credentials still come from the standard AWS chain. */
  endpoint: z.url({ protocol: /^https?$/ }).optional(),
  /** FIFO queues: the message group (per-record order), as the Kafka key is chosen. */
  messageGroup: z.enum(['recordId', 'eventId', 'none']).default('recordId'),
});
export type SqsSinkConfig = z.infer<typeof sqsSinkConfigSchema>;
