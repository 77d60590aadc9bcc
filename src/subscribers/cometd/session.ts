/**
 * One CometD client per org, shared by every CometD route of that org. Salesforce counts
 * concurrent CometD clients per org (2,000; 20 on Developer Edition) and each client is a
 * handshake, a long poll and a session on its side; several subscriptions ride one client.
 *
 * The session owns the connection: handshake, the replay extension (each channel subscribes from
 * its own member's position), /meta errors read by `failureReason`, token refresh, the watchdog
 * against silent death, back-off and rebuilds. Rebuilding resubscribes every member from its last
 * handed-over event. A member (one route's subscriber) owns its channel: events, credit and
 * back-pressure — a paused route unsubscribes its channel only, the others keep streaming.
 */
import type { Client as FayeClient, Message, Subscription } from 'faye';
import Faye from 'faye';
import type { TokenProvider } from '../../auth/types.js';
import { BridgeError, errorMessage } from '../../errors.js';
import { agentTrusting } from '../../http.js';
import type { Logger } from '../../log.js';
import type { OrgServices } from '../../orgs.js';
import { backoffDelay, DEFAULT_BACKOFF, stayAwayDelay } from '../../retry.js';
import { sharedSecureContext } from '../../tls-ca.js';
import { useExactJsonInFaye } from './exact-json.js';
import { cometdServerAnswers } from './liveness.js';
import { classifyMetaError } from './meta-errors.js';

/** What the session needs from one route's subscriber. */
export interface SessionMember {
  readonly channel: string;
  readonly log: Logger;
  /** The replay id to subscribe with now (-1 new only, -2 all retained, or the last handed-over id). */
  subscribeFrom(): number;
  onEvent(data: Record<string, unknown>): void;
  onSubscribed(): void;
  /** A subscribe the member must judge (invalid replay id, permissions, unknown channel). */
  onSubscribeError(message: string): void;
  /** The session connected (a /meta/connect or handshake succeeded). */
  onConnected(): void;
  /** Token, transport or connection failure that stops this member for good. */
  fail(err: Error): void;
  /** Subscribed from a replay id and nothing received since: Salesforce may be seeking it. */
  awaitingReplay(): boolean;
  /** The server is alive but seeking this member's replay id (since when), or no longer (null). */
  onSeeking(since: number | null): void;
}

export interface SessionSettings {
  timeoutSeconds: number;
  watchdogSeconds: number;
  /** How long to wait for a server that is alive but seeking a replay id before rebuilding anyway. */
  maxSeekSeconds: number;
}

export interface SessionCounters {
  rehandshakes: number;
  rebuilds: number;
  watchdogRebuilds: number;
  /** Handshakes sent to tell a seeking server from a dead connection. */
  livenessProbes: number;
  authRefreshes: number;
  sessionMembers: number;
}

const sessions = new WeakMap<OrgServices, Map<string, CometdSession>>();

/** The org's session (created on first use, closed when its last member leaves). */
export function sessionFor(orgs: OrgServices, org: string, settings: SessionSettings): CometdSession {
  let byOrg = sessions.get(orgs);
  if (!byOrg) {
    byOrg = new Map();
    sessions.set(orgs, byOrg);
  }
  let s = byOrg.get(org);
  if (!s) {
    s = new CometdSession(orgs, org, settings, () => byOrg.delete(org));
    byOrg.set(org, s);
  }
  return s;
}

export class CometdSession {
  private readonly tokens: TokenProvider;
  private readonly members = new Map<string, SessionMember>();
  private readonly subs = new Map<string, Subscription>();
  private client: FayeClient | null = null;
  private generation = 0;
  private token: string | null = null;
  private connecting = false;
  private rebuildTimer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private lastConnectOk = Date.now();
  private failures = 0;
  private stayAways = 0;
  private lastAuthRetry = 0;
  /** The server answers but /meta/connect does not: seeking since (our clock), else null. */
  private seekingSince: number | null = null;
  private probing = false;
  private lastProbe = 0;
  /** The message id of each channel's latest /meta/subscribe. */
  private readonly subscribeIds = new Map<string, string>();
  /** The last /meta/connect or handshake succeeded and the transport has not gone down since. */
  connected = false;
  readonly counters: SessionCounters = {
    rehandshakes: 0,
    rebuilds: 0,
    watchdogRebuilds: 0,
    livenessProbes: 0,
    authRefreshes: 0,
    sessionMembers: 0,
  };

  constructor(
    private readonly orgs: OrgServices,
    private readonly org: string,
    private readonly settings: SessionSettings,
    private readonly onEmpty: () => void,
  ) {
    this.tokens = orgs.tokenProvider(org);
  }

  /** Start (or resume after back-pressure) a member's subscription. */
  join(m: SessionMember): void {
    const existing = this.members.get(m.channel);
    if (existing && existing !== m)
      throw new BridgeError('CONFIG', `two CometD routes of org ${this.org} subscribe to ${m.channel}; give each channel one route`);
    this.members.set(m.channel, m);
    this.counters.sessionMembers = this.members.size;
    if (!this.watchdog) {
      this.watchdog = setInterval(() => this.checkWatchdog(), Math.min(5000, this.settings.watchdogSeconds * 250));
      this.watchdog.unref();
    }
    if (this.client) this.subscribe(m, this.client, this.generation);
    else if (!this.rebuildTimer) void this.connect();
  }

  /** Stop a member's subscription (back-pressure pause or route stop); the client stays for the others. */
  leave(m: SessionMember): void {
    if (this.members.get(m.channel) !== m) return;
    this.members.delete(m.channel);
    this.counters.sessionMembers = this.members.size;
    const sub = this.subs.get(m.channel);
    this.subs.delete(m.channel);
    try {
      sub?.cancel();
    } catch {
      // the client may already be gone
    }
    if (this.members.size === 0) this.close();
  }

  /** Subscribe a member's channel again (after its invalid-replay policy moved its position). */
  resubscribe(m: SessionMember): void {
    const sub = this.subs.get(m.channel);
    this.subs.delete(m.channel);
    try {
      sub?.cancel();
    } catch {
      // ignore
    }
    if (this.client && this.members.get(m.channel) === m) this.subscribe(m, this.client, this.generation);
  }

  /** A member saw `401` on its subscribe: the token is bad for the whole session. */
  authFailed(error: string): void {
    this.onAuthFailure(error);
  }

  private close(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    if (this.rebuildTimer) clearTimeout(this.rebuildTimer);
    this.rebuildTimer = null;
    this.teardown();
    this.onEmpty();
  }

  private teardown(): void {
    this.generation++;
    this.setSeeking(null);
    this.subs.clear();
    const c = this.client;
    this.client = null;
    try {
      c?.disconnect();
    } catch {
      // the client may already be dead
    }
  }

  private get log(): Logger | undefined {
    return this.members.values().next().value?.log;
  }

  private async connect(): Promise<void> {
    if (this.client || this.connecting || this.members.size === 0) return;
    this.connecting = true;
    const gen = ++this.generation;
    let tok: Awaited<ReturnType<TokenProvider['getToken']>>;
    try {
      tok = await this.tokens.getToken();
    } catch (err) {
      this.connecting = false;
      if (err instanceof BridgeError && !err.retriable) for (const m of [...this.members.values()]) m.fail(err);
      else this.scheduleRebuild(`token: ${errorMessage(err)}`);
      return;
    }
    this.connecting = false;
    if (gen !== this.generation || this.members.size === 0) return;
    this.token = tok.accessToken;
    useExactJsonInFaye();
    const ca = this.orgs.cas(this.org);
    const endpoint = `${tok.instanceUrl}/cometd/${this.orgs.config(this.org).apiVersion}`;
    // Through a proxy: faye's HTTP transport copies its `tls` options into each request, so our
    // tunnelling agent rides there (faye's own proxy support cannot verify a host given by IP).
    // Else, with a private CA, that CA's own keep-alive agent (http.ts says why not the global one).
    const agent = this.orgs.agentFor(this.org)(endpoint) ?? (ca && endpoint.startsWith('https:') ? agentTrusting(ca) : undefined);
    const tls = { ...(ca ? { secureContext: sharedSecureContext(ca) } : {}), ...(agent ? { agent } : {}) };
    const client = new Faye.Client(endpoint, {
      timeout: this.settings.timeoutSeconds,
      retry: 5,
      ...(Object.keys(tls).length > 0 ? { tls } : {}),
    });
    client.disable('websocket');
    client.setHeader('Authorization', `Bearer ${tok.accessToken}`);
    client.addExtension({
      outgoing: (msg, cb) => {
        if (msg.channel === '/meta/subscribe') {
          const channel = String((msg as { subscription?: unknown }).subscription ?? '');
          const m = this.members.get(channel);
          if (m) msg.ext = { ...(msg.ext ?? {}), replay: { [channel]: m.subscribeFrom() } };
          if (m && msg.id) this.subscribeIds.set(channel, String(msg.id));
        }
        cb(msg);
      },
      incoming: (msg, cb) => {
        if (gen === this.generation) {
          this.onMeta(msg);
          if (msg.channel === '/meta/subscribe') this.onSubscribeReply(msg);
        } else if (msg.successful && (msg.channel === '/meta/handshake' || msg.channel === '/meta/connect')) {
          // Torn down before its handshake finished: faye ignores disconnect() until connected,
          // so the stale client would keep polling (and keep the process alive). Disconnect now.
          setImmediate(() => client.disconnect());
        }
        cb(msg);
      },
    });
    client.on('transport:down', () => {
      if (gen !== this.generation) return;
      this.connected = false;
      this.log?.warn({ org: this.org }, 'CometD transport down; the client retries');
    });
    this.client = client;
    this.connected = false;
    this.lastConnectOk = Date.now();
    this.counters.rebuilds++;
    for (const m of this.members.values()) this.subscribe(m, client, gen);
  }

  private subscribe(m: SessionMember, client: FayeClient, gen: number): void {
    const sub = client.subscribe(m.channel, (data) => {
      if (gen === this.generation && this.members.get(m.channel) === m && this.subs.get(m.channel) === sub) {
        this.stayAways = 0;
        m.onEvent(data as Record<string, unknown>);
      }
    });
    this.subs.set(m.channel, sub);
    // Replies are read in onSubscribeReply (faye's promise misses the subscribes it sends again after a re-handshake).
    sub.then(
      () => {},
      () => {},
    );
  }

  /**
   * The answer to the latest /meta/subscribe of a member's channel, whoever sent it: ours, or
   * faye's own after a re-handshake (a replay id refused then must reach the member's policy).
   */
  private onSubscribeReply(msg: Message): void {
    const channel = String((msg as { subscription?: unknown }).subscription ?? '');
    const m = this.members.get(channel);
    if (!m || this.subscribeIds.get(channel) !== String(msg.id)) return;
    this.subscribeIds.delete(channel);
    if (msg.successful) {
      this.failures = 0;
      m.onSubscribed();
    } else m.onSubscribeError(String(msg.error ?? 'subscribe failed'));
  }

  private onMeta(msg: Message): void {
    if (msg.channel !== '/meta/connect' && msg.channel !== '/meta/handshake') return;
    if (msg.successful) {
      this.lastConnectOk = Date.now();
      if (this.seekingSince !== null) {
        this.log?.info(
          { org: this.org, seekingSeconds: Math.round((Date.now() - this.seekingSince) / 1000) },
          'CometD connects complete again: the seek is over',
        );
        this.setSeeking(null);
      }
      this.connected = true;
      for (const m of this.members.values()) m.onConnected();
      return;
    }
    const reason = String(((msg.ext?.sfdc ?? {}) as { failureReason?: string }).failureReason ?? '');
    const e = classifyMetaError(msg.channel, String(msg.error ?? ''), reason);
    if (!e.said) return;
    this.connected = false;
    switch (e.action) {
      case 'reauth':
        this.onAuthFailure(e.said);
        return;
      case 'rehandshake':
        // faye re-handshakes by itself and resubscribes every channel through the extension.
        this.counters.rehandshakes++;
        this.log?.info(
          { org: this.org, channels: [...this.members.keys()] },
          'server forgot the session (403::Unknown client); re-handshaking',
        );
        return;
      case 'stay-away': {
        this.teardown();
        this.stayAways++;
        const delay = stayAwayDelay(this.stayAways);
        this.log?.error(
          { org: this.org, error: e.said, retryInMs: delay, attempt: this.stayAways },
          `Salesforce asks the bridge to stay away: ${e.fix}; reconnecting from the last position in ${Math.round(delay / 60_000)} min`,
        );
        this.scheduleRebuild(e.said, delay);
        return;
      }
      case 'retry':
        // 503 too busy and the like: rebuild with backoff (whatever reconnect advice came with it).
        this.teardown();
        this.scheduleRebuild(e.said);
        return;
      default:
        this.log?.warn({ org: this.org, meta: msg.channel, error: e.said }, 'CometD error');
    }
  }

  private onAuthFailure(error: string): void {
    this.tokens.invalidate(this.token ?? undefined);
    this.counters.authRefreshes++;
    this.log?.warn({ org: this.org, error }, 'CometD authentication failed; refreshing the token and re-handshaking');
    this.teardown();
    // Once at once; again within a minute means the new token fails too: back off.
    if (Date.now() - this.lastAuthRetry > 60_000) {
      this.lastAuthRetry = Date.now();
      void this.connect();
    } else this.scheduleRebuild('authentication failed again');
  }

  private checkWatchdog(): void {
    if (!this.client || this.probing) return;
    const silentMs = Date.now() - this.lastConnectOk;
    if (silentMs <= this.settings.watchdogSeconds * 1000) return;
    const seekers = [...this.members.values()].filter((m) => m.awaitingReplay());
    const seekTooLong = this.seekingSince !== null && Date.now() - this.seekingSince > this.settings.maxSeekSeconds * 1000;
    if (seekers.length > 0 && !seekTooLong) {
      // While seeking, ask again once per watchdog period (a probe is a handshake on Salesforce's side).
      if (this.seekingSince === null || Date.now() - this.lastProbe > this.settings.watchdogSeconds * 1000) void this.probe(seekers);
      return;
    }
    if (seekTooLong)
      this.log?.error(
        { org: this.org, maxSeekSeconds: this.settings.maxSeekSeconds, channels: seekers.map((m) => m.channel) },
        'Salesforce has been seeking the replay ids for longer than maxSeekSeconds; rebuilding the CometD client (the seek starts over)',
      );
    this.rebuildSilent(silentMs);
  }

  /**
   * A channel waits for its replay and no connect is answered: a server that answers a fresh
   * handshake is seeking (wait; a rebuild would start the seek over), one that does not is gone.
   */
  private async probe(seekers: SessionMember[]): Promise<void> {
    this.probing = true;
    this.lastProbe = Date.now();
    this.counters.livenessProbes++;
    const gen = this.generation;
    const alive = await Promise.resolve()
      .then(() =>
        cometdServerAnswers(this.tokens, this.orgs.config(this.org).apiVersion, this.orgs.cas(this.org), this.orgs.agentFor(this.org)),
      )
      .catch(() => false);
    this.probing = false;
    const silentMs = Date.now() - this.lastConnectOk;
    if (gen !== this.generation || !this.client || silentMs <= this.settings.watchdogSeconds * 1000) return;
    if (!alive) return this.rebuildSilent(silentMs);
    if (this.seekingSince === null)
      this.log?.warn(
        { org: this.org, silentSeconds: Math.round(silentMs / 1000), channels: seekers.map((m) => m.channel) },
        'no /meta/connect answered, but Salesforce answers a new handshake: it is seeking the replay ids of these channels (after large data loads this can take hours); waiting instead of rebuilding, which would start the seek over',
      );
    this.setSeeking(this.seekingSince ?? this.lastConnectOk, seekers);
  }

  private setSeeking(since: number | null, members: SessionMember[] = [...this.members.values()]): void {
    this.seekingSince = since;
    for (const m of members) m.onSeeking(since);
  }

  private rebuildSilent(silentMs: number): void {
    this.counters.watchdogRebuilds++;
    this.log?.warn(
      { org: this.org, silentSeconds: Math.round(silentMs / 1000), channels: [...this.members.keys()] },
      'no /meta/connect completed for too long; rebuilding the CometD client',
    );
    this.teardown();
    void this.connect();
  }

  private scheduleRebuild(why: string, delayMs?: number): void {
    if (this.rebuildTimer || this.members.size === 0) return;
    this.failures++;
    const delay = delayMs ?? backoffDelay(this.failures, DEFAULT_BACKOFF);
    this.log?.warn({ org: this.org, attempt: this.failures, retryInMs: delay, why }, 'CometD client failed; reconnecting with backoff');
    this.rebuildTimer = setTimeout(() => {
      this.rebuildTimer = null;
      void this.connect();
    }, delay);
  }
}
