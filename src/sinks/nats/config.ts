import { z } from 'zod';

const natsUrl = z
  .string()
  .regex(/^(nats|tls):\/\/[^\s]+$/, 'must be a nats:// or tls:// URL such as nats://127.0.0.1:4222')
  .refine((u) => URL.canParse(u), 'is not a valid URL');

/** NATS JetStream sink: one message per event, delivered when the stream's PubAck arrives. */
export const natsSinkConfigSchema = z
  .strictObject({
    type: z.literal('nats'),
    servers: z.array(natsUrl).min(1),
    /** Subject template: {org}, {channel} (its / become subject tokens), {route}, {kind}. */
    subject: z
      .string()
      .regex(/^[A-Za-z0-9_.{}-]+$/, 'letters, digits, _ - . and {org}, {channel}, {route}, {kind}')
      .refine((t) => !/\{(?!org\}|channel\}|route\}|kind\})/.test(t), 'only {org}, {channel}, {route} and {kind} may be used')
      .default('salesforce.{org}.{channel}'),
    token: z.string().min(1).optional(),
    user: z.string().min(1).optional(),
    pass: z.string().min(1).optional(),
    /** An nkey seed (SU…) to sign the server's challenge. */
    nkeySeed: z
      .string()
      .regex(/^SU[A-Z2-7]+$/, 'an nkey user seed starts with SU')
      .optional(),
    tls: z.strictObject({ caFile: z.string().min(1).optional() }).optional(),
    /** Create the stream when it is missing (else it must exist). */
    createStream: z
      .strictObject({
        name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and -'),
        subjects: z.array(z.string().min(1)).min(1),
        retention: z.enum(['limits', 'interest', 'workqueue']).default('limits'),
        /** JetStream's duplicate window (Nats-Msg-Id), in seconds. */
        duplicateWindowSeconds: z.number().int().positive().default(120),
      })
      .optional(),
    /** CloudEvents attributes as ce-* headers. */
    cloudEvents: z.boolean().default(false),
    /** How long to wait for each PubAck. */
    ackTimeoutMs: z.number().int().positive().default(10_000),
  })
  .refine((c) => (c.user === undefined) === (c.pass === undefined), { path: ['pass'], message: 'user and pass go together' });
export type NatsSinkConfig = z.infer<typeof natsSinkConfigSchema>;
