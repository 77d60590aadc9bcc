import { z } from 'zod';

/** MQTT sink: one message per event, delivered on PUBACK (QoS 1) or PUBCOMP (QoS 2). */
export const mqttSinkConfigSchema = z.strictObject({
  type: z.literal('mqtt'),
  url: z
    .string()
    .regex(/^(mqtts?|wss?):\/\//, 'must be an mqtt://, mqtts://, ws:// or wss:// URL')
    .refine((u) => URL.canParse(u), 'is not a valid URL'),
  /** Topic template: {org}, {channel} (without its leading /), {route}, {kind}. */
  topic: z
    .string()
    .min(1)
    .refine((t) => !/[+#]/.test(t), 'a topic name may not contain the wildcards + or #')
    .refine((t) => !/\{(?!org\}|channel\}|route\}|kind\})/.test(t), 'only {org}, {channel}, {route} and {kind} may be used')
    .default('salesforce/{org}/{channel}'),
  qos: z.union([z.literal(1), z.literal(2)]).default(1),
  retain: z.boolean().default(false),
  username: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  clientId: z.string().min(1).optional(),
  caFile: z.string().min(1).optional(),
  /** A write whose acknowledgements take longer is retried (the broker is unreachable). */
  ackTimeoutMs: z.number().int().positive().default(30_000),
});
export type MqttSinkConfig = z.infer<typeof mqttSinkConfigSchema>;
