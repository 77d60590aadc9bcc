/**
 * CometD (Bayeux long-polling) subscriber on the faye client, for PushTopic, generic streaming and
 * CDC / platform events over CometD. The Salesforce replay extension always carries the replay id
 * of the last event handed to the pipeline, so every re-handshake resumes there.
 * CometD cannot be paused: when the pipeline's credit runs out the client disconnects cleanly and
 * reconnects later from that replay id (events that arrived past the credit are fetched again),
 * so memory stays bounded. A watchdog rebuilds the client when no /meta/connect completes for too
 * long (the "silent death" of CometD clients). 401 refreshes the token once and rebuilds; an
 * invalid replay id follows the route's policy, loudly, with a replay-gap marker.
 */
import type { Client as FayeClient, Message } from 'faye';
import Faye from 'faye';
import type { TokenProvider } from '../../auth/types.js';
import type { DeadLetterInput } from '../../deadletter/types.js';
import type { Envelope } from '../../envelope.js';
import { BridgeError, errorMessage } from '../../errors.js';
import type { OrgServices } from '../../orgs.js';
import { backoffDelay, DEFAULT_BACKOFF, stayAwayDelay } from '../../retry.js';
import { SubscriberToolkit } from '../toolkit.js';
import type { Subscriber, SubscriberContext } from '../types.js';
import { kindOfChannel, undecodable } from '../undecodable.js';
import type { CometdSubscriberConfig } from './config.js';
import { useExactJsonInFaye } from './exact-json.js';
import { classifyMetaError } from './meta-errors.js';
import { normaliseCometd } from './normalise.js';

export class CometdSubscriber implements Subscriber {
  private ctx!: SubscriberContext;
  private tokens!: TokenProvider;
  private client: FayeClient | null = null;
  private generation = 0;
  private token: string | null = null;
  private orgId = '';
  /** Credit gate, start choice, invalid-replay policy, auth retry, LATEST guard (../toolkit.ts). */
  private tk!: SubscriberToolkit;
  private maxCredit = 0;
  private paused = false;
  private stopped = false;
  /** -1 (new only), -2 (all retained) or the replay id of the last event handed to the pipeline. */
  private replayFrom = -1;
  private lastConnectOk = Date.now();
  private watchdog: NodeJS.Timeout | null = null;
  private rebuildTimer: NodeJS.Timeout | null = null;
  private batch: Envelope[] = [];
  private deadLetters: DeadLetterInput[] = [];
  private flushing: Promise<void> | null = null;
  private flushScheduled = false;
  private failures = 0;
  /** Consecutive stay-away back-offs (limits), reset by the next event. */
  private stayAways = 0;
  private ca: string | null = null;
  private readonly counters = {
    received: 0,
    rehandshakes: 0,
    rebuilds: 0,
    watchdogRebuilds: 0,
    backpressurePauses: 0,
    droppedPastCredit: 0,
    authRefreshes: 0,
    decodeErrors: 0,
  };

  constructor(
    private readonly config: CometdSubscriberConfig,
    private readonly orgs: OrgServices,
  ) {}

  describe(): string {
    return `cometd ${this.config.channel} (org ${this.config.org}, start ${this.config.start})`;
  }

  stats(): Record<string, number> {
    return { ...this.counters, replayGaps: this.tk?.replayGaps ?? 0 };
  }

  private get retentionMs(): number {
    const h = this.config.retentionHours ?? (/^\/(topic|u)\//.test(this.config.channel) ? 24 : 72);
    return h * 3600_000;
  }

  async start(ctx: SubscriberContext): Promise<void> {
    this.ctx = ctx;
    this.tokens = this.orgs.tokenProvider(this.config.org);
    this.ca = this.orgs.cas(this.config.org);
    this.orgId = (await this.tokens.getToken()).orgId;
    this.tk = new SubscriberToolkit(
      ctx,
      this.config.channel,
      { channel: this.config.channel },
      {
        ...this.config,
        retentionMs: this.retentionMs,
      },
    );
    const at = this.tk.chooseStart(this.orgId, (id) =>
      Number.isSafeInteger(Number(id)) && Number(id) >= 0 ? null : 'the stored replay id is not a CometD replay id (a number)',
    );
    if (at === null) this.stopped = true;
    else this.replayFrom = at === 'earliest' ? -2 : at === 'latest' ? -1 : Number(at.replayId);
    this.watchdog = setInterval(() => this.checkWatchdog(), Math.min(5000, this.config.watchdogSeconds * 250));
    this.watchdog.unref();
  }

  request(n: number): void {
    this.maxCredit = Math.max(this.maxCredit, this.tk.available + n);
    this.tk.grant(n);
    if (this.stopped) return;
    if (!this.client && !this.rebuildTimer && (!this.paused || this.tk.available >= this.maxCredit * this.config.resumeAt)) {
      if (this.paused)
        this.ctx.log.info({ channel: this.config.channel, replayFrom: this.replayFrom }, 'credit available again; reconnecting');
      this.paused = false;
      void this.connect();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.watchdog) clearInterval(this.watchdog);
    if (this.rebuildTimer) clearTimeout(this.rebuildTimer);
    this.teardown();
  }

  private teardown(): void {
    this.generation++;
    const c = this.client;
    this.client = null;
    try {
      c?.disconnect();
    } catch {
      // the client may already be dead
    }
  }

  private async connect(): Promise<void> {
    if (this.stopped || this.client) return;
    const gen = ++this.generation;
    let tok: Awaited<ReturnType<TokenProvider['getToken']>>;
    try {
      tok = await this.tokens.getToken();
    } catch (err) {
      if (err instanceof BridgeError && !err.retriable) this.ctx.fail(err);
      else this.scheduleRebuild(`token: ${errorMessage(err)}`);
      return;
    }
    if (gen !== this.generation || this.stopped) return;
    this.token = tok.accessToken;
    this.orgId = tok.orgId;
    const apiVersion = this.orgs.config(this.config.org).apiVersion;
    useExactJsonInFaye();
    const client = new Faye.Client(`${tok.instanceUrl}/cometd/${apiVersion}`, {
      timeout: this.config.timeoutSeconds,
      retry: 5,
      ...(this.ca ? { tls: { ca: this.ca } } : {}),
    });
    client.disable('websocket');
    client.setHeader('Authorization', `Bearer ${tok.accessToken}`);
    client.addExtension({
      outgoing: (m, cb) => {
        if (m.channel === '/meta/subscribe') {
          const from = this.subscribeFrom();
          if (from === -1) this.tk.latest.subscribedAtLatest(); // the moment we ask; the margin covers the rest
          m.ext = { ...(m.ext ?? {}), replay: { [this.config.channel]: from } };
        }
        cb(m);
      },
      incoming: (m, cb) => {
        if (gen === this.generation) this.onMeta(m);
        else if (m.successful && (m.channel === '/meta/handshake' || m.channel === '/meta/connect')) {
          // Torn down before its handshake finished: faye ignores disconnect() until connected,
          // so the stale client would keep polling (and keep the process alive). Disconnect now.
          setImmediate(() => client.disconnect());
        }
        cb(m);
      },
    });
    client.on(
      'transport:down',
      () => gen === this.generation && this.ctx.log.warn({ channel: this.config.channel }, 'CometD transport down; the client retries'),
    );
    this.client = client;
    this.lastConnectOk = Date.now();
    this.counters.rebuilds++;
    client
      .subscribe(this.config.channel, (data) => this.onEvent(gen, data as Record<string, unknown>))
      .then(
        () => {
          if (gen !== this.generation) return;
          this.failures = 0;
          this.ctx.log.info({ channel: this.config.channel, replayFrom: this.replayFrom }, 'subscribed');
        },
        (err) => gen === this.generation && this.onSubscribeError(bayeuxError(err)),
      );
  }

  /**
   * The replay id to subscribe with. -1 (new events only) is used once: after that first
   * subscribe, a resubscribe with no event yet replays -2 and skips what predates it (latest-start.ts).
   */
  private subscribeFrom(): number {
    if (this.replayFrom !== -1 || !this.tk.latest.mustReplayEarliest) return this.replayFrom;
    this.ctx.log.warn(
      { channel: this.config.channel, skipBefore: this.tk.latest.cutoff },
      'no event yet since subscribing with -1; resubscribing with -2 and skipping only events from before the subscription',
    );
    return -2;
  }

  private onMeta(m: Message): void {
    if (m.channel === '/meta/connect' || m.channel === '/meta/handshake') {
      if (m.successful) {
        this.lastConnectOk = Date.now();
        this.tk.streamWorked();
        return;
      }
      const reason = String(((m.ext?.sfdc ?? {}) as { failureReason?: string }).failureReason ?? '');
      const e = classifyMetaError(m.channel, String(m.error ?? ''), reason);
      if (!e.said) return;
      switch (e.action) {
        case 'reauth':
          this.onAuthFailure(e.said);
          return;
        case 'rehandshake':
          // faye re-handshakes by itself; the outgoing extension resubscribes from the last position.
          this.counters.rehandshakes++;
          this.ctx.log.info(
            { channel: this.config.channel, replayFrom: this.replayFrom },
            'server forgot the session (403::Unknown client); re-handshaking',
          );
          return;
        case 'stay-away':
          this.stayAway(e.said, e.fix as string);
          return;
        case 'retry':
          // 503 too busy and the like: rebuild with backoff (whatever reconnect advice came with it).
          this.teardown();
          this.scheduleRebuild(e.said);
          return;
        default:
          this.ctx.log.warn({ channel: this.config.channel, meta: m.channel, error: e.said }, 'CometD error');
      }
    }
  }

  /** Salesforce asks the client to stay away (a limit): no handshake loop, minutes of back-off, said loudly. */
  private stayAway(said: string, fix: string): void {
    this.teardown();
    this.stayAways++;
    const delay = stayAwayDelay(this.stayAways);
    this.ctx.log.error(
      { channel: this.config.channel, error: said, retryInMs: delay, attempt: this.stayAways },
      `Salesforce asks the bridge to stay away: ${fix}; reconnecting from the last position in ${Math.round(delay / 60_000)} min`,
    );
    this.scheduleRebuild(said, delay);
  }

  private onAuthFailure(error: string): void {
    this.tokens.invalidate(this.token ?? undefined);
    this.counters.authRefreshes++;
    this.ctx.log.warn({ channel: this.config.channel, error }, 'CometD authentication failed; refreshing the token and re-handshaking');
    this.teardown();
    if (this.tk.retryAuthNow()) void this.connect();
    else this.scheduleRebuild('authentication failed again');
  }

  private onSubscribeError(message: string): void {
    if (message.startsWith('400::The replayId')) {
      this.invalidReplay(String(this.replayFrom), null, `Salesforce rejected the replay id (${message})`);
      this.teardown();
      if (!this.stopped) void this.connect();
      return;
    }
    if (/does not exist|Unknown channel|403::Unknown channel/i.test(message)) {
      this.ctx.fail(
        new BridgeError(
          'COMETD_CHANNEL',
          `channel ${this.config.channel} does not exist in org ${this.config.org} (${message}); check the route's source.channel (PushTopics must exist; see orgs.<name>.pushTopics)`,
        ),
      );
      return;
    }
    if (message.startsWith('401')) {
      this.onAuthFailure(message);
      return;
    }
    const permanent = permanentSubscribeError(message);
    if (permanent) {
      this.teardown();
      this.ctx.fail(
        new BridgeError(
          'COMETD_SUBSCRIBE',
          `cannot subscribe to ${this.config.channel} in org ${this.config.org}: ${message}; ${permanent}`,
        ),
      );
      return;
    }
    this.teardown();
    this.scheduleRebuild(`subscribe failed: ${message}`);
  }

  private onEvent(gen: number, data: Record<string, unknown>): void {
    this.stayAways = 0;
    if (gen !== this.generation || this.stopped) return;
    if (this.tk.available <= 0) {
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
    if (this.tk.latest.skip(env.eventTime)) return; // predates a LATEST subscription: no credit used
    this.tk.available--;
    this.counters.received++;
    this.batch.push(env);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    if (this.tk.available === 0) this.pauseForBackpressure();
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
      'pipeline full: disconnecting; will resubscribe from the last delivered replay id',
    );
    this.teardown();
  }

  private checkWatchdog(): void {
    if (this.stopped || this.paused || !this.client) return;
    const silentMs = Date.now() - this.lastConnectOk;
    if (silentMs > this.config.watchdogSeconds * 1000) {
      this.counters.watchdogRebuilds++;
      this.ctx.log.warn(
        { channel: this.config.channel, silentSeconds: Math.round(silentMs / 1000), replayFrom: this.replayFrom },
        'no /meta/connect completed for too long; rebuilding the CometD client',
      );
      this.teardown();
      void this.connect();
    }
  }

  private scheduleRebuild(why: string, delayMs?: number): void {
    if (this.stopped || this.rebuildTimer) return;
    this.failures++;
    const delay = delayMs ?? backoffDelay(this.failures, DEFAULT_BACKOFF);
    this.ctx.log.warn(
      { channel: this.config.channel, attempt: this.failures, retryInMs: delay, why },
      'CometD client failed; reconnecting with backoff',
    );
    this.rebuildTimer = setTimeout(() => {
      this.rebuildTimer = null;
      void this.connect();
    }, delay);
  }

  /** The invalid-replay policy (../toolkit.ts), then resume where it says, or stop. */
  private invalidReplay(storedId: string, storedEventTime: string | null, reason: string): void {
    const at = this.tk.invalidReplay(this.orgId, storedId, storedEventTime, reason);
    if (at === null) {
      this.stopped = true;
      this.teardown();
      return;
    }
    this.replayFrom = at === 'earliest' ? -2 : -1;
  }
}

/**
 * The Salesforce error string of a failed subscribe. faye parses `NNN:params:message` into
 * {code, message} and drops the prefix when the text fits its grammar (`403::Restricted channel`
 * arrives as code 403 + "Restricted channel"), and keeps the text whole when it does not: put the
 * code back so every error reads as Salesforce sent it.
 */
export function bayeuxError(err: unknown): string {
  const e = err as { code?: number | null; params?: string[]; message?: string } | null;
  if (e && typeof e === 'object' && typeof e.code === 'number') return `${e.code}:${(e.params ?? []).join(',')}:${e.message ?? ''}`;
  return String(e?.message ?? err);
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
