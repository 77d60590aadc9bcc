import { z } from 'zod';

/**
 * The PostgreSQL sink (issue 30): `mirror` keeps one table per object equal to the Salesforce
 * object; `history` appends one row per change; `events` keeps the raw envelopes (an outbox).
 */
export const postgresSinkConfigSchema = z.strictObject({
  type: z.literal('postgres'),
  url: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .refine((u) => URL.canParse(u), 'is not a valid URL (check the host, port and any %-escapes in the password)'),
  mode: z.enum(['mirror', 'history', 'events']).default('mirror'),
  /** The schema the tables live in (created when missing). */
  schema: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, 'lower-case letters, digits and _')
    .default('salesforce'),
  /**
   * Table name template: `{object}` (the object's API name, lower case), `{route}`, `{channel}`
   * (made identifier-safe). Default: `{object}` (mirror), `{object}_history`, `events`.
   */
  tables: z
    .string()
    .regex(/^([a-z0-9_]|\{object\}|\{route\}|\{channel\})+$/, 'lower-case letters, digits, _ and {object}, {route}, {channel}')
    .optional(),
  /** Mirror: a DELETE removes the row (hard) or sets is_deleted and deleted_at (soft). */
  deletes: z.enum(['hard', 'soft']).default('hard'),
  /** Write the route's replay position in the same transaction as the rows (needs the postgres replay store on this database). */
  exactlyOnce: z.boolean().default(false),
  /** Connections in the pool. */
  poolSize: z.number().int().min(1).max(32).default(2),
});
export type PostgresSinkConfig = z.infer<typeof postgresSinkConfigSchema>;

/** The table template of a mode when none is given. */
export function tableTemplate(c: PostgresSinkConfig): string {
  return c.tables ?? (c.mode === 'mirror' ? '{object}' : c.mode === 'history' ? '{object}_history' : 'events');
}
