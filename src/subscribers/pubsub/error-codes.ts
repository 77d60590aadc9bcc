/**
 * What the Pub/Sub subscriber does about each error Salesforce can end a stream with, by the
 * `error-code` trailer (`sfdc.platform.eventbus.grpc.*`), from the table on Salesforce's
 * "Handle Errors" page (https://developer.salesforce.com/docs/platform/pub-sub-api/guide/handling-errors.html)
 * and the delivery-allocation page for `subscription.limit.exceeded`. docs/salesforce-fidelity.md
 * lists it with the reasons. One table, not substring tests: a code decides; the gRPC status
 * decides only when the code is unknown or missing.
 *
 * - `reauth`: get a new access token, resubscribe at once.
 * - `invalid-replay`: the stored position was refused; the route's `onInvalidReplay` policy decides.
 * - `retry`: resubscribe from the last position with the usual backoff (seconds, ≤ 30 s).
 * - `long`: Salesforce asks the client to stay away (allocation spent, client limit, protection):
 *   back off in minutes (`stayAwayDelay`, src/retry.ts), logged as an error each time.
 * - `fatal`: no retry can fix it; the route stops with what to fix.
 */
import * as grpc from '@grpc/grpc-js';

export type ErrorAction = 'reauth' | 'invalid-replay' | 'retry' | 'long' | 'fatal';

interface Entry {
  action: ErrorAction;
  /** For `fatal` and `long`: what the operator should do. */
  fix?: string;
}

const PREFIX = 'sfdc.platform.eventbus.grpc.';

const TABLE: Record<string, Entry> = {
  // General
  'service.unavailable': { action: 'retry' },
  'service.auth.error': { action: 'reauth' },
  'service.auth.headers.invalid': {
    action: 'fatal',
    fix: "Salesforce refused the request's auth headers (accesstoken, instanceurl, tenantid): check the org's instanceUrl and the token flow",
  },
  'service.auth.refresh.invalid': { action: 'fatal', fix: 'Salesforce refused an auth refresh in the request' },
  'service.protection.stream.limit.triggered': {
    action: 'long',
    fix: 'Salesforce throttled this stream for too many requests; lower batchSize or the number of routes on this topic',
  },
  'service.protection.triggered': { action: 'long', fix: 'Salesforce throttled the org for too many connections or requests' },
  'service.tenant.license': { action: 'fatal', fix: 'the org is not licensed for the Pub/Sub API; ask Salesforce to enable it' },
  'concurrent.client.limit.exceeded': {
    action: 'long',
    fix: "the org's limit of concurrent Pub/Sub clients is reached; stop other clients or share fewer routes per topic",
  },
  // Topics and schemas
  'topic.not.found': {
    action: 'fatal',
    fix: "check the route's source.topic (and that the object is selected for Change Data Capture or the event is deployed)",
  },
  'topic.notfound': {
    action: 'fatal',
    fix: "check the route's source.topic (and that the object is selected for Change Data Capture or the event is deployed)",
  },
  'topic.meta.permission': { action: 'fatal', fix: "the user may not read this topic's metadata; check its permissions" },
  'topic.api.unavailable': { action: 'retry' },
  'topic.validation.empty': { action: 'fatal', fix: "the route's source.topic is empty" },
  'schema.meta.permission': { action: 'fatal', fix: "the user may not read the event's schema; check its permissions" },
  'schema.api.unavailable': { action: 'retry' },
  'schema.validation.failed': { action: 'fatal', fix: 'Salesforce refused the schema id it sent with an event' },
  // Subscribe
  'subscription.fetch.replayid.corrupted': { action: 'invalid-replay' },
  'subscription.fetch.replayid.validation.failed': { action: 'invalid-replay' },
  'subscription.fetch.replay.repeated': { action: 'retry' },
  'subscription.limit.exceeded': {
    action: 'long',
    fix: "the org's 24-hour event delivery allocation is spent; events wait in the event bus (72 h) and the bridge resumes from its position when the allocation frees up (or buy the add-on, or cut other subscribers)",
  },
  'subscription.fetch.overflow': { action: 'retry' },
  'subscription.fetch.requested.events.invalid': { action: 'retry' },
  'subscription.fetch.topic.mismatch': { action: 'retry' },
  'subscription.fetch.request.invalid': { action: 'retry' },
  'subscription.topic.cannot.subscribe': {
    action: 'fatal',
    fix: 'the user may not subscribe to this topic; grant it read access to the event or change event (View All Data or the object for CDC)',
  },
  'subscription.internal.error': { action: 'retry' },
  // Managed subscriptions (beta)
  'managed.subscription.already.active': {
    action: 'long',
    fix: 'another client holds this managed subscription; stop it, or wait for its session to expire',
  },
  'managed.subscription.config.stopped': { action: 'fatal', fix: "the managed subscription's state is STOP; set it to RUN in Salesforce" },
  'managed.subscription.config.deleted': {
    action: 'fatal',
    fix: 'the managed subscription was deleted in Salesforce; recreate it or change source.managedSubscription',
  },
  'managed.subscription.developer.name.not.found': {
    action: 'fatal',
    fix: 'no managed subscription has this developer name; check source.managedSubscription',
  },
  'managed.subscription.subscription.id.not.found': {
    action: 'fatal',
    fix: 'no managed subscription has this id; check source.managedSubscription',
  },
  'managed.subscription.subscription.id.invalid': {
    action: 'fatal',
    fix: 'a managed subscription id has 15 or 18 characters; check source.managedSubscription',
  },
  'managed.subscription.id.or.developer.name.empty': {
    action: 'fatal',
    fix: 'give source.managedSubscription as an id or a developer name',
  },
  'managed.subscription.fetch.request.events.invalid': { action: 'retry' },
  'managed.subscription.fetch.request.invalid': { action: 'retry' },
  'managed.subscription.fetch.request.commit.request.restricted': { action: 'retry' },
  'managed.subscription.fetch.request.auth.request.restricted': { action: 'retry' },
};

export interface Classified extends Entry {
  /** The Salesforce code, or null when the error carried none. */
  code: string | null;
  /** Whether the code is in the documented table. */
  known: boolean;
}

/** What to do about a failed stream, from its Salesforce code or else its gRPC status. */
export function classifyError(code: string | null, status: number | undefined): Classified {
  const entry = code?.startsWith(PREFIX) ? TABLE[code.slice(PREFIX.length)] : undefined;
  if (entry) return { ...entry, code, known: true };
  // Unknown or missing code: the gRPC status is all there is.
  if (status === grpc.status.UNAUTHENTICATED) return { action: 'reauth', code, known: false };
  if (status === grpc.status.NOT_FOUND)
    return { action: 'fatal', code, known: false, fix: "check the route's source.topic (and the user's access to it)" };
  if (status === grpc.status.PERMISSION_DENIED)
    return { action: 'fatal', code, known: false, fix: "check the user's permissions for this topic" };
  return { action: 'retry', code, known: false };
}

/** Every documented code (for the emulator's tests and the fidelity table). */
export const DOCUMENTED_CODES: readonly string[] = Object.keys(TABLE).map((k) => PREFIX + k);
