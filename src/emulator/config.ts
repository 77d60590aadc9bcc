/** The emulator's optional config file (YAML): credentials, objects, events, timings. */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { formatIssues } from '../config/errors.js';
import { ConfigError } from '../errors.js';

const fieldType = z.enum(['string', 'boolean', 'int', 'long', 'double', 'datetime', 'date', 'address', 'name']);
const field = z.strictObject({ name: z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/), type: fieldType.default('string') });

export const emulatorConfigSchema = z.strictObject({
  orgId: z
    .string()
    .regex(/^00D[A-Za-z0-9]{15}$/, 'must be an 18-character org id starting with 00D')
    .optional(),
  username: z.string().default('admin@sfbridge.emulator'),
  password: z.string().default('emulator-password'),
  securityToken: z.string().default(''),
  clientId: z.string().default('sfbridge-emulator-client'),
  clientSecret: z.string().default('sfbridge-emulator-secret'),
  refreshToken: z.string().default('sfbridge-emulator-refresh-token'),
  tokenLifetimeSeconds: z.number().int().positive().default(7200),
  /** PEM certificate (or public key) that verifies JWT bearer assertions. */
  jwtCertFile: z.string().optional(),
  plaintext: z.boolean().default(false),
  keepaliveMs: z.number().int().positive().default(270_000),
  idleTimeoutMs: z.number().int().positive().default(70_000),
  /**
   * HTTP/2 PINGs from a client closer together than this count as strikes; after two, the
   * connection gets GOAWAY ENHANCE_YOUR_CALM "too_many_pings" (a default Java gRPC server: 5 min). 0: no limit.
   */
  minPingIntervalMs: z.number().int().nonnegative().default(300_000),
  cometdConnectTimeoutMs: z.number().int().positive().default(110_000),
  cometdSessionTimeoutMs: z.number().int().positive().default(40_000),
  ledger: z.boolean().default(true),
  /** Daily maxima /limits reports (Remaining goes down as REST calls, Bulk jobs and event deliveries are made). */
  limits: z
    .strictObject({
      DailyApiRequests: z.number().int().positive().default(15000),
      DailyBulkV2QueryJobs: z.number().int().positive().default(10000),
      DailyDeliveredPlatformEvents: z.number().int().positive().default(50000),
      DailyStreamingApiEvents: z.number().int().positive().default(1000000),
      /** Platform events that may be published per hour (Performance and Unlimited Editions: 250,000). */
      HourlyPublishedPlatformEvents: z.number().int().nonnegative().default(250000),
    })
    .default({
      DailyApiRequests: 15000,
      DailyBulkV2QueryJobs: 10000,
      DailyDeliveredPlatformEvents: 50000,
      DailyStreamingApiEvents: 1000000,
      HourlyPublishedPlatformEvents: 250000,
    }),
  retentionHours: z
    .strictObject({
      cdc: z.number().positive().default(72),
      platform: z.number().positive().default(72),
      pushtopic: z.number().positive().default(24),
      generic: z.number().positive().default(24),
    })
    .default({ cdc: 72, platform: 72, pushtopic: 24, generic: 24 }),
  objects: z.array(z.strictObject({ name: z.string(), keyPrefix: z.string().length(3), fields: z.array(field).min(1) })).default([]),
  platformEvents: z
    .array(z.strictObject({ name: z.string().regex(/__e$/, 'platform event names end in __e'), fields: z.array(field) }))
    .default([]),
  channels: z
    .array(z.strictObject({ name: z.string().regex(/__chn$/, 'custom channel names end in __chn'), entities: z.array(z.string()).min(1) }))
    .default([]),
  managedSubscriptions: z
    .array(z.strictObject({ developerName: z.string(), topic: z.string(), start: z.enum(['EARLIEST', 'LATEST']).default('EARLIEST') }))
    .default([]),
});
export type EmulatorConfig = z.infer<typeof emulatorConfigSchema>;

export function loadEmulatorConfig(path: string | undefined): EmulatorConfig {
  if (!path) return emulatorConfigSchema.parse({});
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, 'utf8')) ?? {};
  } catch (err) {
    throw new ConfigError([`${path}: ${(err as Error).message.split('\n')[0]}`]);
  }
  const r = emulatorConfigSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(formatIssues(r.error.issues, raw).map((l) => `${path}: ${l}`));
  return r.data;
}
