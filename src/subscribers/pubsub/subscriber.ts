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
import * as grpc from '@grpc/grpc-js';
import type { TokenProvider } from '../../auth/types.js';
import type { DeadLetterInput } from '../../deadletter/types.js';
import type { Envelope } from '../../envelope.js';
import { BridgeError, errorMessage } from '../../errors.js';
import type { OrgServices } from '../../orgs.js';
import type { StoredPosition } from '../../positions.js';
import { backoffDelay, DEFAULT_BACKOFF } from '../../retry.js';
import { LatestStartGuard } from '../latest-start.js';
import { applyInvalidReplayPolicy } from '../replay-policy.js';
import type { Subscriber, SubscriberContext } from '../types.js';
import { kindOfChannel, undecodable } from '../undecodable.js';
import { SchemaCache } from './avro.js';
import type { PubSubSubscriberConfig } from './config.js';
import { type RawConsumerEvent, toEnvelope } from './decode.js';
import { authMetadata, type PubSubStub, sfErrorCode, unary } from './grpc-client.js';

type Preset = 'LATEST' | 'EARLIEST' | 'CUSTOM';

interface FetchResponse {
  events: RawConsumerEvent[];
  latest_replay_id: Buffer;
  pending_num_requested: number;
}

const schemaCaches = new WeakMap<PubSubStub, SchemaCache>();

export class PubSubSubscriber implements Subscriber {
  private ctx!: SubscriberContext;
  private client!: PubSubStub;
  private tokens!: TokenProvider;
  private call: grpc.ClientDuplexStream<unknown, FetchResponse> | null = null;
  private token: string | null = null;
  private orgId = '';
  /** Credit granted by the pipeline and not yet used by received events. */
  private available = 0;
  /** Requested from the server and not yet received on the current stream. */
  private outstanding = 0;
  /** Replay id of the last event (or keepalive) handed to the pipeline. */
  private position: Buffer | null = null;
  private nextPreset: Preset = 'LATEST';
  private stopped = false;
  private failures = 0;
  private authRetried = false;
  private queue: Promise<void> = Promise.resolve();
  private pendingMarker: Envelope | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly latest = new LatestStartGuard();
  private readonly counters = { resubscribes: 0, replayGaps: 0, authRefreshes: 0, keepalives: 0, decodeErrors: 0, received: 0 };

  constructor(
    private readonly config: PubSubSubscriberConfig,
    private readonly orgs: OrgServices,
  ) {}

  describe(): string {
    const mode = this.config.managedSubscription ? `managed subscription ${this.config.managedSubscription}` : `start ${this.config.start}`;
    return `pubsub ${this.config.topic} (org ${this.config.org}, ${mode})`;
  }

  stats(): Record<string, number> {
    return { ...this.counters, schemaFetches: schemaCaches.get(this.client)?.fetches ?? 0, outstanding: this.outstanding };
  }

  async start(ctx: SubscriberContext): Promise<void> {
    this.ctx = ctx;
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
    // Fail fast on bad credentials: a clear line at start beats a retry loop.
    const tok = await this.tokens.getToken();
    this.orgId = tok.orgId;
    this.choseStart(ctx.from);
  }

  request(n: number): void {
    this.available += n;
    if (this.pendingMarker && this.available > 0) {
      const m = this.pendingMarker;
      this.pendingMarker = null;
      this.available--;
      this.ctx.emit([m]);
    }
    if (!this.call && !this.reconnectTimer && !this.stopped) this.connect();
    else this.topUp();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.call?.cancel();
    this.call = null;
    await this.queue;
  }

  onCommitted(position: StoredPosition): void {
    if (!this.config.managedSubscription || !this.call) return;
    this.call.write({ commit_replay_id_request: { commit_request_id: randomUUID(), replay_id: Buffer.from(position.replayId, 'base64') } });
  }

  private choseStart(from: StoredPosition | undefined): void {
    if (this.config.start === 'earliest' || this.config.start === 'latest') {
      this.nextPreset = this.config.start === 'earliest' ? 'EARLIEST' : 'LATEST';
      return;
    }
    if (!from) {
      this.nextPreset = this.config.initial === 'earliest' ? 'EARLIEST' : 'LATEST';
      this.ctx.log.info(
        { topic: this.config.topic, start: this.nextPreset },
        'no stored position; starting at the configured initial position',
      );
      return;
    }
    const bytes = Buffer.from(from.replayId, 'base64');
    if (bytes.length === 0) {
      this.invalidReplay(from.replayId, from.eventTime, 'the stored replay id is empty or not base64');
      return;
    }
    const ageMs = from.eventTime ? Date.now() - Date.parse(from.eventTime) : null;
    if (ageMs !== null && ageMs > this.config.retentionHours * 3600_000) {
      this.invalidReplay(
        from.replayId,
        from.eventTime,
        `the stored position is ${hours(ageMs)} old, beyond the channel's ${this.config.retentionHours} h retention`,
      );
      return;
    }
    this.position = bytes;
    this.nextPreset = 'CUSTOM';
  }

  private async metadata(): Promise<grpc.Metadata> {
    const tok = await this.tokens.getToken();
    this.token = tok.accessToken;
    this.orgId = tok.orgId;
    return authMetadata(tok);
  }

  private connect(): void {
    if (this.stopped || this.call) return;
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
    this.outstanding = 0;
    call.on('data', (res: FetchResponse) => {
      this.queue = this.queue.then(() => this.onResponse(call, res)).catch((err) => this.ctx.fail(err));
    });
    call.on('error', (err: grpc.ServiceError) => this.onStreamError(err, call));
    call.on('end', () => this.onStreamEnd(call));
    const first = Math.min(this.config.batchSize, this.available);
    if (managed) {
      const id = /^18x\w{12,15}$/.test(managed) ? { subscription_id: managed } : { developer_name: managed };
      call.write({ ...id, num_requested: first });
    } else {
      let preset = this.nextPreset;
      if (preset === 'LATEST' && this.latest.mustReplayEarliest) {
        // Resubscribing at LATEST would skip what was published since we first said "subscribed".
        preset = 'EARLIEST';
        this.ctx.log.warn(
          { topic: this.config.topic, skipBefore: this.latest.cutoff },
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
      if (preset === 'LATEST') this.latest.subscribedAtLatest();
    }
    this.outstanding = first;
    this.topUp();
  }

  /** Ask for more events while the pipeline has room that is not already requested. */
  private topUp(): void {
    const call = this.call;
    if (!call || this.stopped) return;
    let want = this.available - this.outstanding;
    while (want > 0) {
      const n = Math.min(this.config.batchSize, want);
      call.write({ num_requested: n });
      this.outstanding += n;
      want -= n;
    }
  }

  private async onResponse(call: grpc.ClientDuplexStream<unknown, FetchResponse>, res: FetchResponse): Promise<void> {
    if (this.stopped || call !== this.call) return;
    this.failures = 0;
    this.authRetried = false;
    const events = res.events ?? [];
    if (events.length === 0) {
      this.counters.keepalives++;
      if (res.latest_replay_id?.length && this.outstanding > 0) {
        this.position = Buffer.from(res.latest_replay_id);
        this.nextPreset = 'CUSTOM';
        this.ctx.checkpoint(this.position.toString('base64'), null);
      }
      return;
    }
    this.outstanding = Math.max(0, this.outstanding - events.length);
    this.available -= events.length;
    this.counters.received += events.length;
    const cache = schemaCaches.get(this.client) as SchemaCache;
    const receivedAt = new Date().toISOString();
    const out: Envelope[] = [];
    const undecodableInputs: DeadLetterInput[] = [];
    for (const raw of events) {
      const schema = cache.get(raw.event.schema_id) ?? (await cache.load(raw.event.schema_id));
      try {
        const env = toEnvelope(raw, schema, this.config.topic, this.orgId, receivedAt);
        if (!this.latest.skip(env.eventTime)) out.push(env);
      } catch (err) {
        // Never crash on one bad payload: hand it on with its raw bytes for the dead-letter store.
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
        undecodableInputs.push(u.deadLetter);
      }
    }
    // The raw bytes are kept durably before anything after them can be committed.
    if (undecodableInputs.length > 0 && this.ctx.deadLetter) await this.ctx.deadLetter(undecodableInputs);
    if (this.stopped || call !== this.call) return;
    this.position = Buffer.from((events[events.length - 1] as RawConsumerEvent).replay_id);
    this.nextPreset = 'CUSTOM';
    // Events skipped as older than a LATEST subscription take no credit; the position still moves.
    this.available += events.length - out.length;
    if (out.length > 0) this.ctx.emit(out);
    else this.ctx.checkpoint(this.position.toString('base64'), null);
    this.topUp();
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
    const code = sfErrorCode(err) ?? '';
    const status = (err as { code?: number }).code;
    if ((err as unknown) instanceof BridgeError && !(err as unknown as BridgeError).retriable) {
      this.ctx.fail(err as unknown as Error);
      return;
    }
    if (status === grpc.status.UNAUTHENTICATED || code.endsWith('auth.error')) {
      this.tokens.invalidate(this.token ?? undefined);
      this.counters.authRefreshes++;
      this.ctx.log.warn({ topic: this.config.topic, errorCode: code }, 'access token rejected; refreshing it and resubscribing');
      if (!this.authRetried) {
        this.authRetried = true;
        this.scheduleReconnect(0);
      } else this.backoff(err);
      return;
    }
    if (code.includes('replayid.corrupted') || code.includes('replayid.validation.failed')) {
      const stored = this.position?.toString('base64') ?? '';
      const from = this.ctx.from;
      this.invalidReplay(
        stored,
        from && from.replayId === stored ? from.eventTime : null,
        `Salesforce rejected the replay id (${code}: ${err.details ?? err.message})`,
      );
      if (!this.stopped) this.scheduleReconnect(0);
      return;
    }
    if (status === grpc.status.NOT_FOUND || code.includes('topic')) {
      this.ctx.fail(
        new BridgeError(
          'PUBSUB_TOPIC',
          `topic ${this.config.topic} does not exist in org ${this.config.org} or its user may not subscribe to it (${code || err.message}); check the route's source.topic and the user's permissions`,
        ),
      );
      return;
    }
    if (status === grpc.status.PERMISSION_DENIED) {
      this.ctx.fail(new BridgeError('PUBSUB_DENIED', `not allowed to subscribe to ${this.config.topic}: ${err.details ?? err.message}`));
      return;
    }
    this.backoff(err);
  }

  private backoff(err: grpc.ServiceError): void {
    this.failures++;
    const serviceBusy = (sfErrorCode(err) ?? '').includes('service.unavailable');
    const delay = Math.max(serviceBusy ? 1000 : 0, backoffDelay(this.failures, DEFAULT_BACKOFF));
    this.ctx.log.warn(
      {
        topic: this.config.topic,
        attempt: this.failures,
        retryInMs: delay,
        status: err.code,
        errorCode: sfErrorCode(err),
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

  /** The invalid-replay policy: loud, counted, a marker downstream, then earliest / latest / fail. */
  private invalidReplay(storedId: string, storedEventTime: string | null, reason: string): void {
    this.counters.replayGaps++;
    const r = applyInvalidReplayPolicy({
      ctx: this.ctx,
      logFields: { topic: this.config.topic },
      channel: this.config.topic,
      orgId: this.orgId,
      storedId,
      storedEventTime,
      reason,
      policy: this.config.onInvalidReplay,
    });
    if ('fail' in r) {
      this.ctx.fail(r.fail);
      this.stopped = true;
      return;
    }
    this.position = null;
    this.latest.restart();
    this.nextPreset = this.config.onInvalidReplay === 'earliest' ? 'EARLIEST' : 'LATEST';
    this.emitMarker(r.marker);
  }

  /** A marker takes one event of credit; without credit it waits for the next request(). */
  private emitMarker(marker: Envelope): void {
    if (this.available > 0) {
      this.available--;
      this.ctx.emit([marker]);
    } else this.pendingMarker = marker;
  }
}

function hours(ms: number): string {
  return `${(ms / 3600_000).toFixed(1)} h`;
}
