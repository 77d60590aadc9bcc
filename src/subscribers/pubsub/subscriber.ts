/**
 * Pub/Sub API subscriber. Credits from the pipeline become `num_requested` (at most `batchSize`
 * per FetchRequest, never more outstanding than the pipeline has room for), so memory stays
 * bounded whatever the backlog. Responses are decoded in order (schemas fetched once per id);
 * keepalives advance the position of a quiet channel. Any stream error leads to a resubscribe
 * with backoff from the last position handed to the pipeline (the pipeline still delivers and
 * commits everything before it, so nothing is fetched twice); UNAUTHENTICATED refreshes the token
 * once; invalid or expired replay ids follow the route's policy, loudly, with a replay-gap marker.
 */
import { randomUUID } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import type { TokenProvider } from '../../auth/types.js';
import type { DeadLetterInput } from '../../deadletter/types.js';
import { type Envelope, filterKind, MARKER_KINDS } from '../../envelope.js';
import { BridgeError, errorMessage } from '../../errors.js';
import type { OrgServices } from '../../orgs.js';
import type { PayloadSchema } from '../../payload-schema.js';
import type { StoredPosition } from '../../positions.js';
import { backoffDelay, DEFAULT_BACKOFF, stayAwayDelay } from '../../retry.js';
import { authMetadata, type PubSubStub, sfErrorCode, unary } from '../../salesforce/pubsub-client.js';
import { isRefusal, type Refusal, type StartAt, SubscriptionControl } from '../subscription-control.js';
import type { Subscriber, SubscriberContext } from '../types.js';
import { kindOfChannel, undecodable } from '../undecodable.js';
import { type ParsedSchema, SchemaCache } from './avro.js';
import type { PubSubSubscriberConfig } from './config.js';
import { type RawConsumerEvent, toEnvelope } from './decode.js';
import { classifyError } from './error-codes.js';
import { SchemaNotFound, SchemaResolver } from './schema-lookup.js';

type Preset = 'LATEST' | 'EARLIEST' | 'CUSTOM';

interface FetchResponse {
  events: RawConsumerEvent[];
  latest_replay_id: Buffer;
  pending_num_requested: number;
  /** ManagedSubscribe: the answer to a commit request. */
  commit_response?: { replay_id?: Buffer; error?: { code?: string; msg?: string } | null } | null;
}

const schemaCaches = new WeakMap<PubSubStub, SchemaCache>();
/** A stream open this long without an error counts as subscribed even before it sends anything. */
// Salesforce refuses a bad Subscribe (auth, topic, replay id) within a round trip or two; a stream
// open this long without a refusal is taken as subscribed (readiness, /status, the route API).
const SUBSCRIBED_AFTER_MS = 3000;

export class PubSubSubscriber implements Subscriber {
  private ctx!: SubscriberContext;
  private client!: PubSubStub;
  private tokens!: TokenProvider;
  private call: grpc.ClientDuplexStream<unknown, FetchResponse> | null = null;
  private token: string | null = null;
  private orgId = '';
  /** Credit gate, start choice, invalid-replay policy, auth retry, LATEST guard (../subscription-control.ts). */
  private control!: SubscriptionControl;
  /** Schema by id, or by the event's topic when the id is blank or unknown (schema-lookup.ts). */
  private schemas!: SchemaResolver;
  /** Requested from the server and not yet received on the current stream (the server's count). */
  private outstanding = 0;
  /** Events received on the current stream and not yet handed to the pipeline. */
  private arrived = 0;
  /** Replay id of the last event (or keepalive) handed to the pipeline. */
  private position: Buffer | null = null;
  private nextPreset: Preset = 'LATEST';
  /** Time of the last event handed to the pipeline (else the stored one's): where a backfill starts. */
  private lastEventTime: string | null = null;
  /** The position was refused and its policy (maybe a backfill) is running: no stream until it is done. */
  private holding = false;
  private stopped = false;
  private failures = 0;
  /** Consecutive long back-offs (allocation spent, client limit…), reset by the next event. */
  private longFailures = 0;
  private queue: Promise<void> = Promise.resolve();
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly counters = {
    resubscribes: 0,
    authRefreshes: 0,
    keepalives: 0,
    decodeErrors: 0,
    received: 0,
    deferredForCredit: 0,
    silentRebuilds: 0,
    commitErrors: 0,
  };
  /** When the current stream last sent anything (event or keepalive). */
  private lastHeard = Date.now();
  /** The current stream has sent something; when it opened. */
  private heard = false;
  private openedAt = 0;
  private silenceTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly config: PubSubSubscriberConfig,
    private readonly orgs: OrgServices,
  ) {}

  describe(): string {
    const mode = this.config.managedSubscription ? `managed subscription ${this.config.managedSubscription}` : `start ${this.config.start}`;
    return `pubsub ${this.config.topic} (org ${this.config.org}, ${mode})`;
  }

  /** Subscriber.payloadSchema: Salesforce's own schema of the event's type (GetSchema, cached). */
  readonly payloadSchema = async (e: Envelope): Promise<PayloadSchema | null> => {
    if (!this.schemas) return null;
    const event = filterKind(e) !== 'undecodable' && !MARKER_KINDS.has(e.kind);
    const s = await this.schemas.forPayload(event ? e.schemaId : null);
    return s ? { id: s.id, avro: s.schema } : null;
  };

  stats(): Record<string, number> {
    return {
      ...this.counters,
      replayGaps: this.control?.replayGaps ?? 0,
      schemaFetches: schemaCaches.get(this.client)?.fetches ?? 0,
      schemaFallbacks: this.schemas?.fallbacks ?? 0,
      outstanding: this.outstanding,
      subscribed: this.subscribed() ? 1 : 0,
    };
  }

  /**
   * A working subscription: the stream has answered, or has stayed open for SUBSCRIBED_AFTER_MS
   * (Salesforce refuses a bad subscribe within moments; a quiet channel sends nothing for minutes).
   * With no stream because the pipeline holds all credit, the subscription is merely waiting.
   */
  private subscribed(): boolean {
    if (this.call) return this.heard || Date.now() - this.openedAt >= SUBSCRIBED_AFTER_MS;
    return this.failures === 0 && this.reconnectTimer === null && (this.control?.available ?? 1) <= 0;
  }

  async start(ctx: SubscriberContext): Promise<void> {
    this.ctx = ctx;
    this.control = new SubscriptionControl(
      ctx,
      this.config.topic,
      { topic: this.config.topic },
      {
        ...this.config,
        // snapshot: the export ran before this start (src/pipeline/snapshot.ts); the stream then
        // begins like `latest`, from the moment the export began (below).
        initial: this.config.initial === 'snapshot' ? 'latest' : this.config.initial,
        retentionMs: this.config.retentionHours * 3600_000,
        now: () => Date.now() + this.orgs.clockOffsetMs(this.config.org),
      },
    );
    this.lastEventTime = ctx.from?.eventTime ?? null;
    // After a snapshot: replay from EARLIEST, skipping only events from before the export began.
    if (!ctx.from && ctx.snapshotTakenAt !== undefined) this.control.latest.subscribedAtLatest(ctx.snapshotTakenAt);
    this.tokens = this.orgs.tokenProvider(this.config.org);
    this.client = this.orgs.pubsub(this.config.org);
    if (!schemaCaches.has(this.client)) {
      const client = this.client;
      schemaCaches.set(
        client,
        new SchemaCache(async (id) => {
          const res = await unary<{ schema_id: string }, { schema_json: string }>(
            client,
            'GetSchema',
            { schema_id: id },
            await this.metadata(),
          );
          return res.schema_json;
        }),
      );
    }
    const client = this.client;
    this.schemas = new SchemaResolver(
      schemaCaches.get(client) as SchemaCache,
      async (topic) =>
        (await unary<{ topic_name: string }, { schema_id: string }>(client, 'GetTopic', { topic_name: topic }, await this.metadata()))
          .schema_id,
      this.config.topic,
    );
    // Fail fast on bad credentials: a clear line at start beats a retry loop.
    const tok = await this.tokens.getToken();
    this.orgId = tok.orgId;
    const at = this.control.chooseStart((id) =>
      Buffer.from(id, 'base64').length === 0 ? 'the stored replay id is empty or not base64' : null,
    );
    if (isRefusal(at)) void this.invalidReplay(at.refused, false);
    else this.resumeAt(at);
    this.silenceTimer = setInterval(() => this.checkSilence(), Math.min(30_000, this.config.silentSeconds * 250));
    this.silenceTimer.unref();
  }

  /**
   * A stream the server holds a request on but that has sent nothing for `silentSeconds` is dead
   * in all but name (the most common complaint about streaming clients): rebuild it from the
   * last position handed to the pipeline.
   */
  private checkSilence(): void {
    const call = this.call;
    if (!call || this.stopped || this.outstanding <= 0) return;
    const silentMs = Date.now() - this.lastHeard;
    if (silentMs <= this.config.silentSeconds * 1000) return;
    this.counters.silentRebuilds++;
    this.ctx.log.warn(
      { topic: this.config.topic, silentSeconds: Math.round(silentMs / 1000), pending: this.outstanding },
      'stream silent for too long with a request pending (no event, no keepalive); rebuilding it from the last position',
    );
    this.call = null;
    call.cancel();
    this.scheduleReconnect(0);
  }

  request(n: number): void {
    this.control.grant(n);
    if (!this.call && !this.reconnectTimer && !this.stopped) this.connect();
    else this.topUp();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.silenceTimer) clearInterval(this.silenceTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.call?.cancel();
    this.call = null;
    await this.queue;
  }

  onCommitted(position: StoredPosition): void {
    if (!this.config.managedSubscription || !this.call) return;
    this.call.write({ commit_replay_id_request: { commit_request_id: randomUUID(), replay_id: Buffer.from(position.replayId, 'base64') } });
  }

  private resumeAt(at: StartAt): void {
    if (typeof at === 'string') {
      this.position = null;
      this.nextPreset = at === 'earliest' ? 'EARLIEST' : 'LATEST';
    } else {
      this.position = Buffer.from(at.replayId, 'base64');
      this.nextPreset = 'CUSTOM';
    }
  }

  private async metadata(): Promise<grpc.Metadata> {
    const tok = await this.tokens.getToken();
    this.token = tok.accessToken;
    this.orgId = tok.orgId;
    return authMetadata(tok);
  }

  private connect(): void {
    if (this.stopped || this.call || this.holding) return;
    // A stream opens only with credit: its first FetchRequest must ask for at least one event
    // (Salesforce refuses 0). Without credit, the next request() opens it.
    if (this.control.available <= 0) {
      this.counters.deferredForCredit++;
      return;
    }
    void this.open().catch((err) => this.onStreamError(err, null));
  }

  private async open(): Promise<void> {
    const md = await this.metadata();
    if (this.stopped) return;
    const managed = this.config.managedSubscription;
    const call = (managed ? this.client.ManagedSubscribe(md) : this.client.Subscribe(md)) as grpc.ClientDuplexStream<
      unknown,
      FetchResponse
    >;
    this.call = call;
    this.heard = false;
    this.openedAt = Date.now();
    this.outstanding = 0;
    this.arrived = 0;
    this.lastHeard = Date.now();
    call.on('data', (res: FetchResponse) => {
      // Flow control follows the server as events arrive, before they are decoded: its pending
      // count is the truth, and the next request goes out while this batch is being processed.
      if (call === this.call) {
        this.arrived += res.events?.length ?? 0;
        if (typeof res.pending_num_requested === 'number') this.outstanding = res.pending_num_requested;
        this.topUp();
      }
      // Decoding waits for the next turn of the event loop: run as a microtask, it would hold the
      // top-up just written in Node's HTTP/2 send buffer until the batch is decoded (about 1 ms a
      // round trip, measured by bench/wan.mjs), which over a WAN is 1 ms less of every cycle.
      this.queue = this.queue
        .then(nextTurn)
        .then(() => this.onResponse(call, res))
        .catch((err) => this.ctx.fail(err));
    });
    call.on('error', (err: grpc.ServiceError) => this.onStreamError(err, call));
    call.on('end', () => this.onStreamEnd(call));
    const first = Math.min(this.config.batchSize, this.control.available);
    if (managed) {
      const id = /^18x(?:\w{12}|\w{15})$/.test(managed) ? { subscription_id: managed } : { developer_name: managed };
      call.write({ ...id, num_requested: first });
    } else {
      let preset = this.nextPreset;
      if (preset === 'LATEST' && this.control.latest.mustReplayEarliest) {
        // Resubscribing at LATEST would skip what was published since we first said "subscribed".
        preset = 'EARLIEST';
        this.ctx.log.warn(
          { topic: this.config.topic, skipBefore: this.control.latest.cutoff },
          'no position yet since subscribing at LATEST; resubscribing from EARLIEST and skipping only events from before the subscription',
        );
      }
      call.write({
        topic_name: this.config.topic,
        replay_preset: preset,
        replay_id: preset === 'CUSTOM' ? this.position : Buffer.alloc(0),
        num_requested: first,
      });
      this.ctx.log.info(
        { topic: this.config.topic, preset, replayId: preset === 'CUSTOM' ? this.position?.toString('base64') : undefined },
        'subscribed',
      );
      if (preset === 'LATEST') this.control.latest.subscribedAtLatest();
    }
    this.outstanding = first;
    this.topUp();
  }

  /**
   * Keep the server's pending request at min(batchSize, room): Salesforce counts at most 100
   * requested events per Subscribe in total (more is treated as 100), so asking for more than
   * that only makes the bridge's count drift from the server's. Room is the pipeline's credit
   * less what has arrived and is not yet handed on.
   */
  private topUp(): void {
    const call = this.call;
    if (!call || this.stopped) return;
    const want = Math.min(this.config.batchSize, this.control.available - this.arrived) - this.outstanding;
    if (want <= 0) return;
    call.write({ num_requested: want });
    this.outstanding += want;
  }

  private async onResponse(call: grpc.ClientDuplexStream<unknown, FetchResponse>, res: FetchResponse): Promise<void> {
    if (this.stopped || call !== this.call) return;
    this.lastHeard = Date.now();
    this.heard = true;
    if (res.commit_response?.error?.msg) this.onCommitError(res.commit_response);
    this.failures = 0;
    this.longFailures = 0;
    this.control.streamWorked();
    const events = res.events ?? [];
    if (events.length === 0) {
      this.counters.keepalives++;
      // A keepalive's position is trusted only when the server held a request (it has sent us
      // everything up to it); its own pending count says so.
      if (res.latest_replay_id?.length && (res.pending_num_requested ?? 0) > 0) {
        this.position = Buffer.from(res.latest_replay_id);
        this.nextPreset = 'CUSTOM';
        this.ctx.checkpoint(this.position.toString('base64'), null);
      }
      return;
    }
    this.arrived = Math.max(0, this.arrived - events.length);
    this.control.available -= events.length;
    this.counters.received += events.length;
    const receivedAt = new Date().toISOString();
    const out: Envelope[] = [];
    const undecodableInputs: DeadLetterInput[] = [];
    for (const raw of events) await this.decodeOne(raw, receivedAt, out, undecodableInputs);
    // The raw bytes are kept durably before anything after them can be committed.
    if (undecodableInputs.length > 0 && this.ctx.deadLetter) await this.ctx.deadLetter(undecodableInputs);
    if (this.stopped || call !== this.call) return;
    this.position = Buffer.from((events[events.length - 1] as RawConsumerEvent).replay_id);
    this.nextPreset = 'CUSTOM';
    // Events skipped as older than a LATEST subscription take no credit; the position still moves.
    this.control.available += events.length - out.length;
    for (let i = out.length - 1; i >= 0; i--) {
      const t = (out[i] as Envelope).eventTime;
      if (t) {
        this.lastEventTime = t;
        break;
      }
    }
    if (out.length > 0) this.ctx.emit(out);
    else this.ctx.checkpoint(this.position.toString('base64'), null);
    this.topUp();
  }

  /**
   * One event into `out`: its envelope, or (undecodable: no schema fits, or the payload does not
   * decode) a stand-in, with its raw bytes for the dead-letter store. Never crashes on one bad
   * payload; failures that may pass (network, token) throw, and the route resumes from its last
   * position.
   */
  private async decodeOne(raw: RawConsumerEvent, receivedAt: string, out: Envelope[], dead: DeadLetterInput[]): Promise<void> {
    let schema: ParsedSchema | SchemaNotFound;
    try {
      schema = this.schemas.get(raw) ?? (await this.schemas.resolve(raw));
    } catch (err) {
      if (!(err instanceof SchemaNotFound)) throw err;
      schema = err;
    }
    try {
      if (schema instanceof SchemaNotFound) throw schema;
      const found = schema.id === raw.event.schema_id ? raw : { ...raw, event: { ...raw.event, schema_id: schema.id } };
      const env = toEnvelope(found, schema, this.config.topic, this.orgId, receivedAt);
      if (!this.control.latest.skip(env.eventTime)) out.push(env);
    } catch (err) {
      this.counters.decodeErrors++;
      const replayId = Buffer.from(raw.replay_id).toString('base64');
      this.ctx.log.error(
        { topic: this.config.topic, replayId, error: errorMessage(err) },
        'cannot decode event payload; passing it on undecoded',
      );
      const u = undecodable({
        route: this.ctx.key,
        org: this.orgId,
        channel: this.config.topic,
        replayId,
        eventId: raw.event.id || `${this.config.topic}:${replayId}`,
        schemaId: raw.event.schema_id,
        kind: kindOfChannel(this.config.topic),
        raw: Buffer.from(raw.event.payload),
        error: errorMessage(err),
        receivedAt,
      });
      out.push(u.marker);
      dead.push(u.deadLetter);
    }
  }

  private onStreamEnd(call: grpc.ClientDuplexStream<unknown, FetchResponse>): void {
    if (call !== this.call || this.stopped) return;
    this.call = null;
    this.ctx.log.info({ topic: this.config.topic }, 'server closed the stream; resubscribing');
    this.scheduleReconnect(0);
  }

  private onStreamError(err: grpc.ServiceError, call: grpc.ClientDuplexStream<unknown, FetchResponse> | null): void {
    if (this.stopped) return;
    if (call && call !== this.call) return;
    this.call = null;
    this.outstanding = 0;
    if ((err as unknown) instanceof BridgeError && !(err as unknown as BridgeError).retriable) {
      this.ctx.fail(err as unknown as Error);
      return;
    }
    const c = classifyError(sfErrorCode(err), (err as { code?: number }).code);
    const said = `${c.code ?? `gRPC status ${err.code}`}: ${err.details ?? err.message}`;
    switch (c.action) {
      case 'reauth':
        this.tokens.invalidate(this.token ?? undefined);
        this.counters.authRefreshes++;
        this.ctx.log.warn({ topic: this.config.topic, errorCode: c.code }, 'access token rejected; refreshing it and resubscribing');
        if (this.control.retryAuthNow()) this.scheduleReconnect(0);
        else this.backoff(err, c.code);
        return;
      case 'invalid-replay': {
        // Salesforce's word wins over any age the bridge judged on its own clock.
        const storedId = this.position?.toString('base64') ?? '';
        void this.invalidReplay(
          { storedId, storedEventTime: this.lastEventTime, reason: `Salesforce rejected the replay id (${said})` },
          true,
        );
        return;
      }
      case 'fatal':
        this.ctx.fail(
          new BridgeError(
            'PUBSUB_REFUSED',
            `Salesforce refused the subscription to ${this.config.topic} in org ${this.config.org} (${said}): ${c.fix}`,
          ),
        );
        return;
      case 'long': {
        this.longFailures++;
        const delay = stayAwayDelay(this.longFailures);
        this.ctx.log.error(
          { topic: this.config.topic, errorCode: c.code, retryInMs: delay, attempt: this.longFailures, error: err.details ?? err.message },
          `Salesforce asks the bridge to stay away: ${c.fix}; resubscribing from the last position in ${Math.round(delay / 60_000)} min`,
        );
        this.scheduleReconnect(delay);
        return;
      }
      default:
        this.backoff(err, c.code);
    }
  }

  private backoff(err: grpc.ServiceError, code: string | null): void {
    this.failures++;
    // The service said it is unavailable: give it at least a second.
    const delay = Math.max(code?.endsWith('service.unavailable') ? 1000 : 0, backoffDelay(this.failures, DEFAULT_BACKOFF));
    this.ctx.log.warn(
      {
        topic: this.config.topic,
        attempt: this.failures,
        retryInMs: delay,
        status: err.code,
        errorCode: code,
        error: err.details ?? err.message,
      },
      'stream failed; resubscribing from the last position handed to the pipeline',
    );
    this.scheduleReconnect(delay);
  }

  private scheduleReconnect(delayMs: number): void {
    if (this.stopped || this.reconnectTimer) return;
    this.counters.resubscribes++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      // Wait for the queue so responses of the old stream are processed first (order, position).
      void this.queue.then(() => this.connect());
    }, delayMs);
  }

  /**
   * Salesforce refused a managed subscription's commit. Nothing is lost (the bridge's own replay
   * store has the position), but after a restart the managed subscription resumes from its last
   * accepted commit, so events after it are delivered again: say so loudly.
   */
  private onCommitError(cr: NonNullable<FetchResponse['commit_response']>): void {
    this.counters.commitErrors++;
    this.ctx.log.error(
      {
        topic: this.config.topic,
        managedSubscription: this.config.managedSubscription,
        replayId: cr.replay_id ? Buffer.from(cr.replay_id).toString('base64') : null,
        code: cr.error?.code,
        error: cr.error?.msg,
      },
      'Salesforce refused the managed subscription commit; a restart would resume from the last accepted commit (events after it delivered again)',
    );
  }

  /**
   * The invalid-replay policy (../subscription-control.ts; a backfill may run first, while the stream is held),
   * then resume where it says, or stop.
   */
  private async invalidReplay(r: Refusal['refused'], reconnect: boolean): Promise<void> {
    this.holding = true;
    const at = await this.control.invalidReplay(this.orgId, r.storedId, r.storedEventTime, r.reason);
    this.holding = false;
    if (at === null) {
      this.stopped = true;
      return;
    }
    this.resumeAt(at);
    if (reconnect) this.scheduleReconnect(0);
    else this.connect();
  }
}

/** Resolves on a later turn of the event loop, after pending socket writes have gone out. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
