/**
 * CometD (Bayeux long-polling) subscriber for PushTopic, generic streaming and CDC / platform
 * events over CometD: one route's channel on its org's shared CometD session (session.ts owns the
 * connection, errors, token refresh and the watchdog). The replay extension always carries the
 * replay id of the last event handed to the pipeline, so every re-handshake resumes there.
 * CometD cannot be paused: when the pipeline's credit runs out the route unsubscribes its channel
 * and subscribes again later from that replay id (events that arrived past the credit are fetched
 * again), so memory stays bounded; the org's other routes keep streaming. An invalid replay id
 * follows the route's policy, loudly, with a replay-gap marker.
 */

import type { DeadLetterInput } from '../../deadletter/types.js';
import type { Envelope } from '../../envelope.js';
import { BridgeError, errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { OrgServices } from '../../orgs.js';
import type { PayloadSchema } from '../../payload-schema.js';
import { defaultRetentionHours } from '../retention.js';
import { isRefusal, type Refusal, SubscriptionControl } from '../subscription-control.js';
import type { Subscriber, SubscriberContext } from '../types.js';
import { kindOfChannel, undecodable } from '../undecodable.js';
import type { CometdSubscriberConfig } from './config.js';
import { normaliseCometd } from './normalise.js';
import { CometdPayloadSchemas } from './payload-schema.js';
import { type CometdSession, type SessionMember, sessionFor } from './session.js';

export class CometdSubscriber implements Subscriber, SessionMember {
  private ctx!: SubscriberContext;
  private session: CometdSession | null = null;
  /** Subscribed on the session (not paused, not stopped). */
  private joined = false;
  private orgId = '';
  /** Credit gate, start choice, invalid-replay policy, auth retry, LATEST guard (../subscription-control.ts). */
  private control!: SubscriptionControl;
  private maxCredit = 0;
  private paused = false;
  private stopped = false;
  /** The position was refused and its policy (maybe a backfill) is running: not subscribed until it is done. */
  private holding = false;
  /** Time of the last event handed to the pipeline (else the stored one's): where a backfill starts. */
  private lastEventTime: string | null = null;
  /** -1 (new only), -2 (all retained) or the replay id of the last event handed to the pipeline. */
  private replayFrom = -1;
  private batch: Envelope[] = [];
  private deadLetters: DeadLetterInput[] = [];
  private flushing: Promise<void> | null = null;
  private flushScheduled = false;
  /** The channel's last /meta/subscribe succeeded. */
  private subscribeOk = false;
  /** The replay id the last subscribe asked for, and the one that succeeded (-1/-2: presets). */
  private askedFrom = -1;
  private subscribedFrom = -1;
  /** An event arrived since the last successful subscribe. */
  private heardSinceSubscribe = false;
  /** Salesforce is alive but seeking this channel's replay id, since (our clock); null: not. */
  private seekingSince: number | null = null;
  private readonly counters = {
    received: 0,
    backpressurePauses: 0,
    droppedPastCredit: 0,
    decodeErrors: 0,
  };

  constructor(
    private readonly config: CometdSubscriberConfig,
    private readonly orgs: OrgServices,
  ) {}

  private schemas: CometdPayloadSchemas | null = null;
  /** Subscriber.payloadSchema: every event of the channel has the type its describe gives. */
  readonly payloadSchema = (): Promise<PayloadSchema | null> =>
    (this.schemas ??= new CometdPayloadSchemas(this.config.channel, () => this.orgs.rest(this.config.org))).get();

  describe(): string {
    return `cometd ${this.config.channel} (org ${this.config.org}, start ${this.config.start})`;
  }

  stats(): Record<string, number> {
    // Connection counters are the org's session's (shared by its CometD routes).
    // Paused for back-pressure is deliberate: still counted as subscribed.
    const subscribed = this.paused || (this.joined && this.subscribeOk && this.session?.connected === true);
    const seeking = this.seekingSince === null ? 0 : Math.round((Date.now() - this.seekingSince) / 1000);
    return {
      ...this.counters,
      ...(this.session?.counters ?? {}),
      replayGaps: this.control?.replayGaps ?? 0,
      subscribed: subscribed ? 1 : 0,
      // Alive but seeking the replay id: not a dead connection (liveness.ts).
      seeking: this.seekingSince === null ? 0 : 1,
      seekingSeconds: seeking,
    };
  }

  get channel(): string {
    return this.config.channel;
  }

  get log(): Logger {
    return this.ctx.log;
  }

  private get retentionMs(): number {
    const h = this.config.retentionHours ?? defaultRetentionHours(this.config.channel);
    return h * 3600_000;
  }

  async start(ctx: SubscriberContext): Promise<void> {
    this.ctx = ctx;
    this.orgId = (await this.orgs.tokenProvider(this.config.org).getToken()).orgId;
    this.control = new SubscriptionControl(
      ctx,
      this.config.channel,
      { channel: this.config.channel },
      {
        ...this.config,
        retentionMs: this.retentionMs,
        now: () => Date.now() + this.orgs.clockOffsetMs(this.config.org),
      },
    );
    this.lastEventTime = ctx.from?.eventTime ?? null;
    const at = this.control.chooseStart((id) =>
      Number.isSafeInteger(Number(id)) && Number(id) >= 0 ? null : 'the stored replay id is not a CometD replay id (a number)',
    );
    this.session = sessionFor(this.orgs, this.config.org, this.config);
    if (isRefusal(at)) void this.invalidReplay(at.refused);
    else this.replayFrom = at === 'earliest' ? -2 : at === 'latest' ? -1 : Number(at.replayId);
  }

  request(n: number): void {
    this.maxCredit = Math.max(this.maxCredit, this.control.available + n);
    this.control.grant(n);
    if (this.stopped || this.holding) return;
    if (!this.joined && (!this.paused || this.control.available >= this.maxCredit * this.config.resumeAt)) {
      if (this.paused)
        this.ctx.log.info({ channel: this.config.channel, replayFrom: this.replayFrom }, 'credit available again; resubscribing');
      this.paused = false;
      this.join();
    }
  }

  private join(): void {
    if (this.joined || this.stopped || !this.session) return;
    try {
      this.session.join(this);
      this.joined = true;
    } catch (err) {
      this.ctx.fail(err as Error);
    }
  }

  private leave(): void {
    if (!this.joined) return;
    this.joined = false;
    this.subscribeOk = false;
    this.session?.leave(this);
  }

  onConnected(): void {
    this.control.streamWorked();
  }

  onSubscribed(): void {
    this.subscribeOk = true;
    this.subscribedFrom = this.askedFrom;
    this.heardSinceSubscribe = false;
    this.ctx.log.info({ channel: this.config.channel, replayFrom: this.replayFrom }, 'subscribed');
  }

  fail(err: Error): void {
    this.leave();
    this.ctx.fail(err);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.leave();
  }

  /**
   * The replay id to subscribe with. -1 (new events only) is used once: after that first
   * subscribe, a resubscribe with no event yet replays -2 and skips what predates it (latest-start.ts).
   */
  subscribeFrom(): number {
    const from = this.replayFromNow();
    this.askedFrom = from;
    if (from === -1) this.control.latest.subscribedAtLatest(); // the moment we ask; the margin covers the rest
    return from;
  }

  private replayFromNow(): number {
    if (this.replayFrom !== -1 || !this.control.latest.mustReplayEarliest) return this.replayFrom;
    this.ctx.log.warn(
      { channel: this.config.channel, skipBefore: this.control.latest.cutoff },
      'no event yet since subscribing with -1; resubscribing with -2 and skipping only events from before the subscription',
    );
    return -2;
  }

  onSubscribeError(message: string): void {
    if (message.startsWith('400::The replayId')) {
      // Salesforce's word wins over any age the bridge judged on its own clock.
      if (this.holding) return;
      void this.invalidReplay({
        storedId: String(this.replayFrom),
        storedEventTime: this.lastEventTime,
        reason: `Salesforce rejected the replay id (${message})`,
      });
      return;
    }
    if (/does not exist|Unknown channel|403::Unknown channel/i.test(message)) {
      this.fail(
        new BridgeError(
          'COMETD_CHANNEL',
          `channel ${this.config.channel} does not exist in org ${this.config.org} (${message}); check the route's source.channel (PushTopics must exist; see orgs.<name>.pushTopics)`,
        ),
      );
      return;
    }
    if (message.startsWith('401')) {
      this.session?.authFailed(message);
      return;
    }
    const permanent = permanentSubscribeError(message);
    if (permanent) {
      this.fail(
        new BridgeError(
          'COMETD_SUBSCRIBE',
          `cannot subscribe to ${this.config.channel} in org ${this.config.org}: ${message}; ${permanent}`,
        ),
      );
      return;
    }
    // Anything else: subscribe again after a pause, from the same position.
    this.ctx.log.warn({ channel: this.config.channel, error: message }, 'subscribe failed; subscribing again shortly');
    this.leave();
    setTimeout(() => this.join(), 2000).unref();
  }

  awaitingReplay(): boolean {
    return this.joined && this.subscribeOk && this.subscribedFrom >= 0 && !this.heardSinceSubscribe;
  }

  onSeeking(since: number | null): void {
    if (since !== null && this.seekingSince === null)
      this.ctx.log.warn(
        { channel: this.config.channel, replayFrom: this.subscribedFrom },
        'Salesforce is seeking this channel\'s replay id (alive, nothing delivered yet); status shows "seeking"',
      );
    this.seekingSince = since;
  }

  onEvent(data: Record<string, unknown>): void {
    if (this.stopped || !this.joined) return;
    this.heardSinceSubscribe = true;
    this.seekingSince = null;
    if (this.control.available <= 0) {
      // Past the credit: drop it; it is fetched again after the reconnect from replayFrom.
      this.counters.droppedPastCredit++;
      this.pauseForBackpressure();
      return;
    }
    const receivedAt = new Date().toISOString();
    let env: Envelope;
    try {
      env = normaliseCometd(this.config.channel, data, this.orgId, receivedAt);
    } catch (err) {
      env = this.undecodable(data, err, receivedAt);
    }
    const id = Number(env.replayId);
    if (Number.isSafeInteger(id)) this.replayFrom = id;
    if (env.eventTime) this.lastEventTime = env.eventTime;
    if (this.control.latest.skip(env.eventTime)) return; // predates a LATEST subscription: no credit used
    this.control.available--;
    this.counters.received++;
    this.batch.push(env);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    if (this.control.available === 0) this.pauseForBackpressure();
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.stopped || this.batch.length === 0) return;
    const b = this.batch;
    const dls = this.deadLetters;
    this.batch = [];
    this.deadLetters = [];
    if (dls.length === 0 && this.flushing === null) {
      this.ctx.emit(b);
      return;
    }
    // Raw bytes of undecodable events are durable before anything after them can be committed;
    // later batches queue behind, so stream order holds.
    const prev = this.flushing ?? Promise.resolve();
    const run = prev
      .then(async () => {
        if (dls.length > 0 && this.ctx.deadLetter) await this.ctx.deadLetter(dls);
        if (!this.stopped) this.ctx.emit(b);
      })
      .catch((err) => this.ctx.fail(err as Error))
      .finally(() => {
        if (this.flushing === run) this.flushing = null;
      });
    this.flushing = run;
  }

  /** The bad-payload policy (../undecodable.ts): raw JSON to the dead-letter store, a stand-in downstream. */
  private undecodable(data: Record<string, unknown>, err: unknown, receivedAt: string): Envelope {
    this.counters.decodeErrors++;
    const replayId = String(((data.event ?? {}) as { replayId?: unknown }).replayId ?? '');
    this.ctx.log.error(
      { channel: this.config.channel, replayId, error: errorMessage(err) },
      'cannot normalise CometD event payload; passing it on undecoded',
    );
    const u = undecodable({
      route: this.ctx.key,
      org: this.orgId,
      channel: this.config.channel,
      replayId,
      eventId: `${this.config.channel}:${replayId}`,
      schemaId: typeof data.schema === 'string' ? data.schema : null,
      kind: kindOfChannel(this.config.channel),
      raw: Buffer.from(JSON.stringify(data)),
      error: errorMessage(err),
      receivedAt,
    });
    this.deadLetters.push(u.deadLetter);
    return u.marker;
  }

  private pauseForBackpressure(): void {
    if (this.paused) return;
    this.paused = true;
    this.counters.backpressurePauses++;
    this.ctx.log.info(
      { channel: this.config.channel, replayFrom: this.replayFrom },
      'pipeline full: unsubscribing this channel; will resubscribe from the last delivered replay id',
    );
    this.leave();
  }

  /**
   * The invalid-replay policy (../subscription-control.ts): the channel is left while it runs (a backfill may
   * take a while, and a re-handshake must not subscribe from the refused id again), then joined
   * again where the policy says, or the route stops.
   */
  private async invalidReplay(r: Refusal['refused']): Promise<void> {
    this.holding = true;
    this.leave();
    const at = await this.control.invalidReplay(this.orgId, r.storedId, r.storedEventTime, r.reason);
    this.holding = false;
    if (at === null) {
      this.stopped = true;
      return;
    }
    this.replayFrom = at === 'earliest' ? -2 : -1;
    if (!this.stopped && !this.paused && this.control.available > 0) this.join();
  }
}

/** Subscribe errors no retry can fix (permissions, limits, a bad query): what to do about each. */
function permanentSubscribeError(message: string): string | null {
  if (/^403::?Restricted channel/i.test(message)) return 'the user may not read this channel: check its profile or permission set';
  if (/not enabled for streaming|Streaming API.*not enabled/i.test(message))
    return 'enable the Streaming API permission for the integration user';
  if (/View All Data|Change Data Capture.*permission/i.test(message))
    return 'change events need View All Data (or View All for the object) for the integration user';
  if (/subscription limit|maximum number of subscriptions/i.test(message))
    return 'the org has reached its subscriber limit for this channel: stop other subscribers or ask Salesforce';
  if (/^400::/.test(message)) return 'Salesforce refused the subscription request: fix the channel (and the PushTopic query behind it)';
  return null;
}
