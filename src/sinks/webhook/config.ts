import { z } from 'zod';
import { duration } from '../../config/duration.js';
import { proxySchema } from '../../config/schema.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
/** 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: about 27.6 hours in all. */
export const DEFAULT_RETRY_SCHEDULE = [5 * S, 5 * M, 30 * M, 2 * H, 5 * H, 10 * H, 10 * H];

export const webhookSinkConfigSchema = z.strictObject({
  type: z.literal('webhook'),
  url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  /**
   * Standard Webhooks signing secrets (`whsec_` + base64). Every secret signs each request, so a
   * receiver can move to a new secret while the old one is still listed (rotation).
   */
  secrets: z
    .array(z.string().regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, 'must be a Standard Webhooks secret: "whsec_" followed by base64'))
    .min(1, 'at least one signing secret is needed'),
  /**
   * event: one POST per envelope; batch: one POST of {"events": [...]} per up to maxBatchEvents;
   * cloudevents: one POST per event as a CloudEvents 1.0 structured event (application/cloudevents+json).
   */
  body: z.enum(['event', 'batch', 'cloudevents']).default('event'),
  maxBatchEvents: z.number().int().min(1).max(10_000).default(100),
  /** Give up on one attempt after this long (the attempt then counts as failed and is retried). */
  timeout: duration.default(10_000),
  /** Delay before each retry; when exhausted, `block` routes keep retrying at the last delay. */
  retrySchedule: z.array(duration).min(1).default(DEFAULT_RETRY_SCHEDULE),
  /** Each delay is varied by up to this fraction, so retries from many events don't align. */
  jitter: z.number().min(0).max(1).default(0.2),
  /** A receiver's Retry-After is honoured (as a minimum delay) up to this long. */
  maxRetryAfter: duration.default(24 * H),
  /** POSTs in flight at once (event mode): events of one key are still delivered one at a time, in order. */
  concurrency: z.number().int().min(1).max(256).default(4),
  /** What orders deliveries: auto = first CDC record id, else the event id; none = no ordering. */
  orderKey: z.enum(['auto', 'recordId', 'eventId', 'none']).default('auto'),
  /** Extra request headers (e.g. an Authorization header your receiver wants). */
  headers: z
    .record(
      z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "header names may contain only letters, digits and !#$%&'*+.^_`|~-"),
      z.string().regex(/^[^\r\n\0]*$/, 'header values must not contain line breaks or NUL'),
    )
    .default({}),
  /** Extra CA certificate (PEM) to trust besides the system ones. TLS verification is always on. */
  caCertFile: z.string().optional(),
  /** An HTTP proxy for this endpoint; without it, HTTPS_PROXY / HTTP_PROXY and NO_PROXY apply. */
  proxy: proxySchema.optional(),
});
export type WebhookSinkConfig = z.infer<typeof webhookSinkConfigSchema>;
