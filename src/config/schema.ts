/**
 * The configuration file's schema. A leaf: the component schemas (subscribers, sinks, stores)
 * live beside their implementations and are passed in by the registry, which assembles the whole
 * (`configSchema` in registry.ts); nothing here imports a component.
 */
import { z } from 'zod';
import { duration } from './duration.js';

/** A component's config as the bridge sees it; its own schema has checked the rest. */
export type ComponentConfig = { type: string } & Record<string, unknown>;
export type ComponentSchema = z.ZodType<ComponentConfig, ComponentConfig>;

/** The schemas of every registered component type, by role (from the registry). */
export interface ComponentSchemas {
  source: ComponentSchema;
  sink: ComponentSchema;
  replayStore: ComponentSchema;
  deadLetter: ComponentSchema;
}

const jwtAuth = z.strictObject({
  flow: z.literal('jwt'),
  clientId: z.string().min(1),
  username: z.string().min(1),
  /** The assertion's `aud`; default from loginUrl (My Domain → https://login.salesforce.com, sandbox → https://test.salesforce.com). */
  audience: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  privateKey: z.string().min(1).optional(),
  privateKeyFile: z.string().min(1).optional(),
});
const clientCredentialsAuth = z.strictObject({
  flow: z.literal('client_credentials'),
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
});
const refreshTokenAuth = z.strictObject({
  flow: z.literal('refresh_token'),
  clientId: z.string().min(1),
  clientSecret: z.string().min(1).optional(),
  refreshToken: z.string().min(1),
});
const passwordAuth = z.strictObject({
  flow: z.literal('password'),
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  username: z.string().min(1),
  password: z.string().min(1),
  securityToken: z.string().optional(),
});
const staticAuth = z.strictObject({
  flow: z.literal('static'),
  accessToken: z.string().min(1),
  instanceUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
});

/** A ManagedEventSubscription (Pub/Sub API managed subscriptions), reconciled by `sfbridge managed apply`. */
export const managedSubscriptionSchema = z.strictObject({
  /** Its developer name (FullName): letters, digits and single underscores, starting with a letter. */
  name: z
    .string()
    .regex(/^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*$/, 'letters, digits and single underscores, starting with a letter')
    .max(80),
  label: z.string().min(1).max(80).optional(),
  topic: z.string().regex(/^\/(data|event)\//, 'a change-event or platform-event topic (/data/… or /event/…)'),
  /** Where a subscription with no committed position starts (Salesforce's default: LATEST). */
  defaultReplay: z.enum(['LATEST', 'EARLIEST']).default('LATEST'),
  /** Where it resumes when the committed position is no longer valid (Salesforce's default: LATEST). */
  errorRecoveryReplay: z.enum(['LATEST', 'EARLIEST']).default('LATEST'),
  state: z.enum(['RUN', 'STOP']).default('RUN'),
});
export type ManagedSubscriptionConfig = z.infer<typeof managedSubscriptionSchema>;

export const pushTopicSchema = z.strictObject({
  name: z.string().min(1).max(25, 'PushTopic names are at most 25 characters'),
  query: z.string().regex(/^\s*SELECT\s/i, 'must be a SOQL SELECT (with Id)'),
  apiVersion: z.number().positive().optional(),
  notifyForOperationCreate: z.boolean().default(true),
  notifyForOperationUpdate: z.boolean().default(true),
  notifyForOperationDelete: z.boolean().default(true),
  notifyForOperationUndelete: z.boolean().default(true),
  notifyForFields: z.enum(['All', 'Referenced', 'Select', 'Where']).default('Referenced'),
  description: z.string().optional(),
});
export type PushTopicConfig = z.infer<typeof pushTopicSchema>;

/** An HTTP proxy (CONNECT tunnels): `http://host:port`, credentials as `${…}` secrets. */
export const proxySchema = z.strictObject({
  url: z
    .string()
    .regex(
      /^http:\/\/[^\s/@]+\/?$/,
      'an http:// proxy URL such as http://proxy.example.com:3128, without credentials (use username and password); https:// proxies are not supported',
    ),
  username: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
});

export const orgSchema = z.strictObject({
  /** login.salesforce.com, test.salesforce.com or a My Domain URL. */
  loginUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).default('https://login.salesforce.com'),
  apiVersion: z
    .string()
    .regex(/^\d+\.\d$/, 'must look like "63.0"')
    .default('63.0'),
  /** Extra CA certificate (PEM file) to trust, e.g. the local emulator's. */
  caCertFile: z.string().optional(),
  /**
   * Pub/Sub API endpoint (host:port): api.pubsub.salesforce.com, or api.deu.pubsub.salesforce.com
   * for processing in Germany, on port 7443 or 443 (Salesforce serves both; 443 where 7443 is blocked).
   */
  pubsubEndpoint: z
    .string()
    .regex(/^[^\s:/]+:\d+$/, 'must be host:port')
    .default('api.pubsub.salesforce.com:7443'),
  /** Talk to Pub/Sub without TLS (only for a local emulator started with --plaintext). */
  plaintext: z.boolean().default(false),
  /**
   * HTTP/2 pings on the Pub/Sub connection: every `intervalSeconds`, and a connection that does not
   * answer one within `timeoutSeconds` is dead (its streams are rebuilt from their positions).
   * 310 s stays above the 300 s a Java gRPC server (Salesforce's) allows between client pings,
   * and under the 350 s after which AWS's NAT gateway silently drops an idle connection. A
   * black-holed connection is therefore found within interval + timeout (330 s by default).
   */
  pubsubKeepalive: z
    .strictObject({
      intervalSeconds: z.number().positive().default(310),
      timeoutSeconds: z.number().positive().default(20),
    })
    .default({ intervalSeconds: 310, timeoutSeconds: 20 }),
  /**
   * An HTTP proxy for every connection to this org (OAuth, REST, Bulk, CometD, and the Pub/Sub
   * API through a CONNECT tunnel); without it, HTTPS_PROXY / HTTP_PROXY and NO_PROXY apply.
   * Credentials as `${…}` secrets; a TLS-inspecting proxy's CA goes in `caCertFile`.
   */
  proxy: proxySchema.optional(),
  /** The org's session timeout, if you want tokens refreshed before they expire (else on 401). */
  sessionSeconds: z.number().int().positive().optional(),
  auth: z.discriminatedUnion('flow', [jwtAuth, clientCredentialsAuth, refreshTokenAuth, passwordAuth, staticAuth]),
  /** PushTopics created or updated through REST when the bridge starts (and by `sfbridge pushtopic apply`). */
  pushTopics: z.array(pushTopicSchema).default([]),
  /** Managed subscriptions (ManagedEventSubscription), reconciled by `sfbridge managed apply` through the Tooling API. */
  managedSubscriptions: z.array(managedSubscriptionSchema).default([]),
  /**
   * Custom channels with filtered members, reconciled by `sfbridge channels apply` through the
   * Tooling API (PlatformEventChannel, PlatformEventChannelMember): Salesforce then delivers only
   * matching events on `/data/<name>` or `/event/<name>`, so filtered events cost no delivery allocation.
   */
  channels: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[A-Za-z][A-Za-z0-9_]*__chn$/, 'custom channel names end in __chn, e.g. Energy__chn'),
        /** data: change events (/data/<name>); event: platform events (/event/<name>). */
        type: z.enum(['data', 'event']).default('data'),
        label: z.string().min(1).optional(),
        members: z
          .array(
            z.strictObject({
              /** The event entity: AccountChangeEvent, Invoice__ChangeEvent, or a platform event such as Order_Event__e. */
              entity: z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'an event entity such as AccountChangeEvent or Order_Event__e'),
              /** A filter expression in Salesforce's syntax, e.g. "Industry = 'Energy'". */
              filter: z.string().min(1).optional(),
            }),
          )
          .min(1, 'a channel needs at least one member'),
      }),
    )
    .default([]),
  /**
   * Exports (snapshot, backfill) pause while the org's DailyApiRequests, DailyBulkV2QueryJobs or DailyBulkV2QueryFileStorageMB
   * has less than `reservePercent` left, and look again every `recheck`: the rest of the org's
   * integrations keep their API allowance.
   */
  limits: z
    .strictObject({
      reservePercent: z.number().min(0).max(100).default(10),
      recheck: duration.default(300_000),
      /** How often the running bridge reads /limits for metrics and warnings (0: never). */
      poll: duration.default(300_000),
      /** Log a warning when a limit is this much used. */
      warnPercent: z.number().min(0).max(100).default(80),
    })
    .default({ reservePercent: 10, recheck: 300_000, poll: 300_000, warnPercent: 80 }),
});

export const pipelineSchema = z.strictObject({
  /** Events a route may hold unacknowledged; bounds memory whatever the backlog (default: the source's, route-facts.ts). */
  maxInFlight: z.number().int().positive().max(1_000_000).optional(),
  /** Largest write handed to one sink (queued batches are coalesced up to this). */
  maxBatchEvents: z.number().int().positive().default(2000),
  /** Commit the replay position at most this often… */
  commitIntervalMs: z.number().int().positive().default(1000),
  /** …or as soon as this many events were acknowledged since the last commit. */
  commitMaxEvents: z.number().int().positive().default(10_000),
  /** Graceful shutdown: how long to wait for in-flight events to reach the sinks. */
  drainTimeoutMs: z.number().int().nonnegative().default(30_000),
});

/** `ChangeEventHeader.changeType` values a structured filter can name (`SNAPSHOT`: exported records). */
const CHANGE_TYPES = [
  'CREATE',
  'UPDATE',
  'DELETE',
  'UNDELETE',
  'GAP_CREATE',
  'GAP_UPDATE',
  'GAP_DELETE',
  'GAP_UNDELETE',
  'GAP_OVERFLOW',
  'SNAPSHOT',
] as const;
/** The envelope's kinds (envelope.ts EVENT_KINDS, kept equal by a unit test) and `undecodable` stand-ins. */
export const FILTER_KINDS = [
  'pushtopic',
  'cdc',
  'platform',
  'generic',
  'gap',
  'overflow',
  'replay-gap',
  'snapshot',
  'undecodable',
] as const;

const fieldNames = z
  .array(z.string().regex(/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/, 'field names are like Industry or BillingAddress.City'))
  .min(1);

/**
 * Shaping, on a route (every sink) and on each sink (src/shaping/): which events go on (`filter`:
 * every condition given must hold) and what each carries (`fields`, `mask`, `transform`, in that
 * order). A filtered-out event is acknowledged like a delivered one, so positions still move.
 */
export const shapingShape = {
  filter: z
    .strictObject({
      changeTypes: z.array(z.enum(CHANGE_TYPES)).min(1).optional(),
      entities: z.array(z.string().min(1)).min(1).optional(),
      /** At least one of these fields changed (ChangeEventHeader changed or nulled fields; `Name` covers `Name.FirstName`). */
      changedFieldsAny: fieldNames.optional(),
      kinds: z.array(z.enum(FILTER_KINDS)).min(1).optional(),
      /** A JSONata expression over the envelope; the event goes on when it is truthy. */
      expression: z.string().min(1).optional(),
      /**
       * Drop change events caused by this API client (`changeOrigin` ends in `;client=<name>`): the
       * loop guard of a two-way setup, where a `salesforce-records` sink writes with that client name.
       */
      notFromClient: z
        .string()
        .regex(/^[^\s,;]+$/, 'a client name without spaces, commas or semicolons')
        .optional(),
    })
    .refine(
      (f) => Object.values(f).some((v) => v !== undefined),
      'name at least one condition: changeTypes, entities, changedFieldsAny, kinds, expression or notFromClient',
    )
    .optional(),
  fields: z
    .strictObject({ include: fieldNames.optional(), exclude: fieldNames.optional() })
    .refine((f) => (f.include === undefined) !== (f.exclude === undefined), 'give either include or exclude')
    .optional(),
  /** Payload fields whose values are replaced by "[masked]". */
  mask: fieldNames.optional(),
  /** A JSONata expression mapping the envelope to the payload delivered (the identity fields stay). */
  transform: z.string().min(1).optional(),
};
const shapingSchema = z.strictObject(shapingShape);
export type ShapingConfig = z.infer<typeof shapingSchema>;

function routeSchemaWith(c: ComponentSchemas) {
  return z.strictObject({
    /** Subscription key under which the replay position is stored; defaults to the source's channel. */
    name: z
      .string()
      .min(1)
      .regex(/^[A-Za-z0-9_./:@-]+$/, 'may contain only letters, digits and _ . / : @ -')
      .optional(),
    source: c.source,
    sinks: z.array(c.sink).min(1, 'a route needs at least one sink'),
    /** Overrides of the pipeline settings for this route. */
    maxInFlight: z.number().int().positive().optional(),
    /**
     * When a sink keeps failing. block (default): hold the replay commit and keep retrying;
     * Salesforce's retention is the buffer. dead-letter: after `after`, set the failing events aside
     * in the dead-letter store and move on (`sfbridge dlq replay` delivers them later).
     */
    sinkOutage: z
      .strictObject({
        mode: z.enum(['block', 'dead-letter']).default('block'),
        after: duration.default(3_600_000),
      })
      .default({ mode: 'block', after: 3_600_000 }),
    /** CDC `GAP_*` events: pass them on as they are, or enrich them with the records' current state (REST). */
    gaps: z.enum(['pass', 'enrich']).default('pass'),
    /** CDC `GAP_OVERFLOW` events: pass them on, or follow each with an export of the records changed (Bulk API). */
    overflow: z.enum(['pass', 'recover']).default('pass'),
    /**
     * CDC UPDATE events carry the record's current values (all fields, or `fields`), fetched
     * through the Composite sObject Collections API: values as of the fetch, not of the change.
     */
    fullRecord: z.union([z.boolean(), z.strictObject({ fields: fieldNames })]).default(false),
    ...shapingShape,
  });
}

/** The whole file's schema, given the component schemas. */
export function configSchemaWith(c: ComponentSchemas) {
  return z.strictObject({
    log: z
      .strictObject({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
        format: z.enum(['json', 'pretty', 'auto']).default('auto'),
      })
      .default({ level: 'info', format: 'auto' }),
    health: z
      .strictObject({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535),
        /**
         * Route API changes (POST /routes/<name>/pause|resume|restart) from clients other than
         * loopback need `Authorization: Bearer <token>`; write it as a `${…}` secret.
         */
        token: z.string().min(16, 'use at least 16 characters').optional(),
        /**
         * `writable`: PUT and DELETE /routes/<name> add, replace and remove routes; they are kept
         * in the replay store (src/pipeline/api-routes.ts), so a restart keeps them.
         */
        routesApi: z.enum(['read-only', 'writable']).default('read-only'),
      })
      .optional(),
    orgs: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/, 'org names may contain only letters, digits, _ and -'), orgSchema).default({}),
    replayStore: c.replayStore.default({ type: 'file', path: './data/replay.json', fsync: true }),
    /** Dead letters: events a sink rejected or (sinkOutage.mode: dead-letter) could not deliver in time. */
    deadLetter: c.deadLetter.default({ type: 'file', dir: './data/dead-letters', fsync: true }),
    pipeline: pipelineSchema.default(pipelineSchema.parse({})),
    /** Several instances on one Redis / PostgreSQL replay store: one owner per subscription. */
    ha: z
      .strictObject({
        enabled: z.boolean().default(false),
        /** Stable name of this instance (default: host-pid-random). */
        instanceId: z.string().min(1).optional(),
        /** A standby takes over within this long after the owner dies. */
        leaseTtlMs: z.number().int().min(300).default(15_000),
      })
      .optional(),
    /**
     * When a route fails for good: restart it after a back-off (default), leave it stopped while
     * the others run, or exit the daemon with code 1 (src/pipeline/supervisor.ts).
     */
    onRouteFailure: z.enum(['restart', 'stop', 'exit']).default('restart'),
    /** Back-off between restarts of a failed route: `initial`, doubling up to `max`. */
    routeRestart: z
      .strictObject({ initial: duration.default(30_000), max: duration.default(3_600_000) })
      .default({ initial: 30_000, max: 3_600_000 }),
    // At least one, unless the route API may add them (configProblems).
    routes: z.array(routeSchemaWith(c)).default([]),
  });
}

export type BridgeConfig = z.infer<ReturnType<typeof configSchemaWith>>;

/** What `check` gives a component's `problems` hook (src/registry.ts): the whole config and the route at hand. */
export interface CheckContext {
  config: BridgeConfig;
  route: { key: string; index: number; sinks: number };
}
export type RouteConfig = BridgeConfig['routes'][number];
export type OrgConfig = z.infer<typeof orgSchema>;
