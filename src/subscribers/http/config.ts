import { z } from 'zod';
import type { SourceFacts } from '../types.js';

/**
 * An HTTP ingest endpoint as a source: `POST /ingest/<route>` with one JSON event or an array of
 * them, answered 2xx only once every sink of the route accepted them.
 */
export const httpSubscriberConfigSchema = z.strictObject({
  type: z.literal('http'),
  /** host:port of its own listener (loopback by default). */
  listen: z
    .string()
    .regex(/^[^\s:]+:\d+$/, 'host:port, such as 127.0.0.1:8088')
    .default('127.0.0.1:8088'),
  /** A bearer token callers send (`Authorization: Bearer …`); a `${…}` secret. */
  token: z.string().min(16, 'use a token of at least 16 characters').optional(),
  /** Standard Webhooks signing secrets (`whsec_…`) callers sign with; several while rotating. */
  signingSecrets: z.array(z.string().min(1)).min(1).optional(),
  /** A request body larger than this is refused (413) before it is read. */
  maxBodyBytes: z
    .number()
    .int()
    .positive()
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  /** Events in one request. */
  maxEvents: z.number().int().positive().max(10_000).default(1000),
  /** How long a request waits for its events to be accepted before it is answered 503 (they still go on). */
  ackTimeoutMs: z.number().int().positive().default(60_000),
  /** Channel name on the envelopes (default `http:<route>`). */
  channel: z.string().min(1).optional(),
});
export type HttpSubscriberConfig = z.infer<typeof httpSubscriberConfigSchema>;

export function httpSourceFacts(c: HttpSubscriberConfig): SourceFacts {
  return {
    key: `http:${c.listen}`,
    org: null,
    channel: c.channel ?? null,
    retentionMs: null,
    maxInFlight: 2000,
    exclusive: [{ claim: `http listener ${c.listen}`, why: 'two sources cannot listen on one address' }],
    snapshot: false,
    backfill: false,
  };
}

/** `check`: an ingest endpoint never accepts unauthenticated writes. */
export function httpSourceProblems(c: HttpSubscriberConfig): string[] {
  return c.token === undefined && c.signingSecrets === undefined
    ? ['token or signingSecrets: an http source needs one (a `${…}` secret); it never accepts unauthenticated writes']
    : [];
}
