import { z } from 'zod';

/** Redis Streams sink: one XADD per event. */
export const redisStreamSinkConfigSchema = z.strictObject({
  type: z.literal('redis-stream'),
  url: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .refine((u) => URL.canParse(u), 'is not a valid URL (check the host, port and any %-escapes in the password)'),
  /** Stream key template: {org}, {channel} (without its leading /), {route}, {kind}. */
  stream: z
    .string()
    .min(1)
    .refine((t) => !/\{(?!org\}|channel\}|route\}|kind\})/.test(t), 'only {org}, {channel}, {route} and {kind} may be used')
    .default('salesforce:{org}:{channel}'),
  /** Trim each stream to about this many entries (XADD MAXLEN ~): trimming can drop entries nobody has read yet. */
  maxLen: z.number().int().positive().optional(),
  /** envelope: one field `envelope` with the JSON; fields: `replay-id`, `event-id`, `channel`, `kind` fields and `payload`. */
  layout: z.enum(['envelope', 'fields']).default('envelope'),
});
export type RedisStreamSinkConfig = z.infer<typeof redisStreamSinkConfigSchema>;
