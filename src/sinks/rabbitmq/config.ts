import { z } from 'zod';

/** RabbitMQ sink (AMQP 0-9-1): one persistent message per event, decided by publisher confirms. */
export const rabbitmqSinkConfigSchema = z.strictObject({
  type: z.literal('rabbitmq'),
  url: z
    .string()
    .regex(/^amqps?:\/\//, 'must be an amqp:// or amqps:// URL')
    .refine((u) => URL.canParse(u), 'is not a valid URL (check the host, port and any %-escapes in the password)'),
  exchange: z.string().min(1).default('salesforce'),
  exchangeType: z.enum(['topic', 'direct', 'fanout', 'headers']).default('topic'),
  /** Routing key template: {org}, {channel} (its / become dots), {route}, {kind}. */
  routingKey: z
    .string()
    .min(1)
    .refine((t) => !/\{(?!org\}|channel\}|route\}|kind\})/.test(t), 'only {org}, {channel}, {route} and {kind} may be used')
    .default('{org}.{channel}'),
  persistent: z.boolean().default(true),
  /** Unroutable messages come back (basic.return) and are refused per event, naming the routing key. */
  mandatory: z.boolean().default(true),
  /** Declare a queue bound to the exchange (a quorum queue when asked). */
  queue: z
    .strictObject({
      name: z.string().min(1),
      bindingKey: z.string().min(1).default('#'),
      quorum: z.boolean().default(false),
    })
    .optional(),
});
export type RabbitmqSinkConfig = z.infer<typeof rabbitmqSinkConfigSchema>;
