/**
 * A Bayeux (CometD) long-polling server shaped like Salesforce's Streaming API endpoint
 * `/cometd/<version>`: Bearer/OAuth header auth, the replay extension (-1, -2 or a replay id),
 * Salesforce's payload shapes and errors (`403::Unknown client` after the session expires,
 * `401::Authentication invalid`, the 400 invalid-replay-id error). Written for per-client replay:
 * every client has its own cursor per channel, which a broadcast server cannot express.
 *
 * Seeking (admin `cometd/seek`), after Salesforce's knowledge article 005321562: CometD has no
 * replay tightening, so after a large data load a subscribe from a replay id makes the server seek
 * through the channel before it can deliver. The subscribe is acknowledged; the client's
 * /meta/connect is then not answered until the seek ends (other clients and new handshakes are
 * served: the server is alive). A subscribe from a replay id while the fault is armed starts the
 * seek over, so a client that rebuilds itself every few minutes never gets past it. The seek ends
 * by delivering, or (outcome `invalid`) by dropping the session and refusing that replay id.
 */
import { randomBytes } from 'node:crypto';
import type { BusEvent, EventBus, EventClass } from './bus.js';
import type { Faults } from './faults.js';
import type { OAuthServer } from './oauth.js';
import type { EmulatedOrg } from './org.js';

export interface CometdOptions {
  /** How long a /meta/connect is held when there is nothing to deliver (Salesforce: 110 s). */
  connectTimeoutMs: number;
  /** A client without a connect for this long is forgotten (Salesforce: ~40 s). */
  sessionTimeoutMs: number;
  /** Events delivered per connect response at most. */
  maxBatch: number;
}

type Msg = Record<string, unknown> & { channel?: string; id?: string; clientId?: string };

interface Sub {
  cls: EventClass;
  cursor: number;
  /** The bus channel: the subscription without a filtered PushTopic's `?Field=value` part. */
  base: string;
  /** A filtered PushTopic subscription's conditions (every one must hold), or null. */
  where: Array<[string, string]> | null;
}

interface Client {
  id: string;
  token: string;
  subs: Map<string, Sub>;
  lastSeen: number;
  held: { resolve: () => void; timer: NodeJS.Timeout } | null;
  /** A seek under way for this client: connects wait until `until` (wall clock). */
  seek: Seek | null;
  /** /meta/connect messages answered: the reference CometD server never holds a client's first. */
  connects: number;
}

interface Seek {
  channel: string;
  replayId: number;
  until: number;
  outcome: 'deliver' | 'invalid';
}

const INVALID_REPLAY = (id: unknown) =>
  `400::The replayId {${String(id)}} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events.`;

/**
 * Hold a client's /meta/connect for up to `ms`: a newer connect, an event for it or a dropped
 * session wakes it (`client.held.resolve`) sooner.
 */
async function hold(client: Client, ms: number): Promise<void> {
  client.held?.resolve();
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      resolve();
    }
    client.held = { resolve: done, timer };
  });
  client.held = null;
}

/** A connect answered with nothing to deliver (the client connects again at once). */
function emptyConnect(msg: Msg, clientId: string): Msg {
  return { channel: '/meta/connect', id: msg.id, clientId, successful: true, advice: { reconnect: 'retry', interval: 0 } };
}

/** The answer to a connect of a session the server has forgotten: handshake again. */
function unknownClient(msg: Msg, clientId: string): Msg {
  return {
    channel: '/meta/connect',
    id: msg.id,
    clientId,
    successful: false,
    error: '403::Unknown client',
    advice: { reconnect: 'handshake', interval: 0 },
  };
}

export class CometdServer {
  private readonly clients = new Map<string, Client>();
  /** Armed seeks per channel (admin `cometd/seek`): how long, and how they end. */
  readonly seeks = new Map<string, { ms: number; outcome: 'deliver' | 'invalid' }>();
  /** Replay ids refused after a seek ended `invalid`: per channel, ids up to this one. */
  private readonly refusedUpTo = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  delivered = 0;

  constructor(
    private readonly bus: EventBus,
    private readonly org: EmulatedOrg,
    private readonly oauth: OAuthServer,
    private readonly faults: Faults,
    private readonly opts: CometdOptions,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, opts.sessionTimeoutMs));
    this.sweeper.unref();
    this.unsubscribe = bus.onPublish((channels) => {
      for (const c of this.clients.values()) {
        // A seeking client's connect waits for the seek, whatever is published meanwhile.
        if (c.held && !c.seek && [...c.subs.values()].some((sub) => channels.includes(sub.base))) c.held.resolve();
      }
    });
  }

  stats() {
    return {
      clients: this.clients.size,
      delivered: this.delivered,
      channels: [...this.clients.values()].flatMap((c) => [...c.subs.keys()]),
    };
  }

  close(): void {
    clearInterval(this.sweeper);
    this.unsubscribe();
    for (const c of this.clients.values()) c.held?.resolve();
    this.clients.clear();
  }

  /** Fault injection: forget every session (clients get `403::Unknown client`). */
  dropAll(): number {
    const n = this.clients.size;
    for (const c of this.clients.values()) c.held?.resolve();
    this.clients.clear();
    return n;
  }

  private sweep(): void {
    const cutoff = Date.now() - this.opts.sessionTimeoutMs;
    for (const [id, c] of this.clients) if (!c.held && c.lastSeen < cutoff) this.clients.delete(id);
  }

  /** Handle one HTTP POST body (a message or an array of messages). Returns the reply array. */
  async handle(body: unknown, authorization: string | undefined): Promise<Msg[]> {
    const messages = (Array.isArray(body) ? body : [body]) as Msg[];
    // EMP-Connector sends the header as its caller gives it: `Bearer <token>`, `OAuth <token>`, or the
    // bare token (its README's bearer example) or SOAP session id; Salesforce takes all three.
    const token = (/^(?:Bearer|OAuth)\s+(.+)$/i.exec(authorization ?? '')?.[1] ?? authorization ?? '').trim() || undefined;
    const authOk = this.oauth.check(token) === 'ok';
    const replies: Msg[] = [];
    let connect: { msg: Msg; client: Client } | null = null;
    for (const msg of messages) {
      const base: Msg = { channel: msg.channel, id: msg.id };
      if (!authOk) {
        replies.push(
          msg.channel === '/meta/handshake'
            ? {
                ...base,
                successful: false,
                error: '403::Handshake denied',
                ext: { sfdc: { failureReason: '401::Authentication invalid' }, replay: true },
                advice: { reconnect: 'none' },
              }
            : { ...base, clientId: msg.clientId, successful: false, error: '401::Authentication invalid', advice: { reconnect: 'none' } },
        );
        continue;
      }
      const injected =
        msg.channel === '/meta/handshake' || msg.channel === '/meta/connect' ? this.metaFailures.get(msg.channel) : undefined;
      if (injected && injected.left > 0) {
        // Admin `cometd/fail`: this meta message fails as Salesforce words it (a handshake is
        // denied with the reason in ext.sfdc.failureReason; a connect carries the error itself).
        injected.left--;
        replies.push(
          msg.channel === '/meta/handshake'
            ? {
                ...base,
                successful: false,
                error: '403::Handshake denied',
                ext: { sfdc: { failureReason: injected.error } },
                advice: { reconnect: 'none' },
              }
            : { ...base, clientId: msg.clientId, successful: false, error: injected.error, advice: { reconnect: 'none' } },
        );
        continue;
      }
      if (msg.channel === '/meta/handshake' && this.faults.refusing()) {
        replies.push({ ...base, successful: false, error: '503::Server is too busy', advice: { reconnect: 'handshake', interval: 500 } });
        continue;
      }
      if (msg.channel === '/meta/handshake') {
        const id = randomBytes(16).toString('base64url');
        this.clients.set(id, { id, token: token as string, subs: new Map(), lastSeen: Date.now(), held: null, seek: null, connects: 0 });
        replies.push({
          ...base,
          version: '1.0',
          minimumVersion: '1.0',
          clientId: id,
          supportedConnectionTypes: ['long-polling'],
          successful: true,
          ext: { replay: true, 'payload.format': true },
          advice: { interval: 0, timeout: this.opts.connectTimeoutMs, reconnect: 'retry' },
        });
        continue;
      }
      const client = msg.clientId ? this.clients.get(String(msg.clientId)) : undefined;
      if (!client) {
        replies.push({
          ...base,
          clientId: msg.clientId,
          successful: false,
          error: '403::Unknown client',
          advice: { reconnect: 'handshake', interval: 0 },
        });
        continue;
      }
      client.lastSeen = Date.now();
      client.token = token as string;
      switch (msg.channel) {
        case '/meta/connect':
          connect = { msg, client };
          break;
        case '/meta/subscribe':
          replies.push(this.subscribe(client, msg));
          break;
        case '/meta/unsubscribe':
          client.subs.delete(String(msg.subscription));
          replies.push({ ...base, clientId: client.id, subscription: msg.subscription, successful: true });
          break;
        case '/meta/disconnect':
          this.clients.delete(client.id);
          client.held?.resolve();
          replies.push({ ...base, clientId: client.id, successful: true });
          break;
        default:
          replies.push({ ...base, clientId: client.id, successful: false, error: '403::Publishing is not supported' });
      }
    }
    // The CometD server suspends a /meta/connect only when it is the request's only message: in a
    // batch (faye sends its first connect with the subscribes) it answers at once, or every
    // subscribe reply would wait for the whole hold.
    // Nor does it hold a client's first connect, or one whose advice asks for timeout 0.
    if (connect) {
      const c = connect;
      const askedNoWait = (c.msg.advice as { timeout?: unknown } | undefined)?.timeout === 0;
      const mayHold = messages.length === 1 && c.client.connects > 0 && !askedNoWait;
      c.client.connects++;
      replies.push(...(await this.connect(c.client, c.msg, mayHold)));
    }
    if (this.faults.delayMs > 0) await new Promise((r) => setTimeout(r, this.faults.delayMs));
    return replies;
  }

  /** Injected /meta/handshake and /meta/connect failures (admin `cometd/fail`): error text and how many left. */
  readonly metaFailures = new Map<string, { error: string; left: number }>();

  /** Subscribe errors to answer per channel (admin `cometd/deny`), as Salesforce words them. */
  readonly denied = new Map<string, string>();

  private subscribe(client: Client, msg: Msg): Msg {
    const channel = String(msg.subscription ?? '');
    const base: Msg = { channel: '/meta/subscribe', id: msg.id, clientId: client.id, subscription: channel };
    const denial = this.denied.get(channel);
    if (denial) return { ...base, successful: false, error: denial };
    // Filtered subscriptions (`/topic/Name?Industry=Energy&Type=Customer`, Streaming API guide,
    // "Filtered Subscriptions"): PushTopic channels only, on fields of the topic's query.
    const q = channel.indexOf('?');
    const busChannel = q < 0 ? channel : channel.slice(0, q);
    const where = q < 0 ? null : [...new URLSearchParams(channel.slice(q + 1))];
    const resolved = this.org.resolveChannel(busChannel);
    if (!resolved || (where && (resolved.cls !== 'pushtopic' || where.length === 0)))
      return { ...base, successful: false, error: `400::The channel you requested to subscribe to does not exist {${channel}}` };
    const replayMap = ((msg.ext as Record<string, unknown> | undefined)?.replay ?? {}) as Record<string, unknown>;
    // A filtered subscription's replay id is keyed by the channel without its filter (as
    // EMP-Connector's replay extension sends it); the full name is taken too.
    const requested = replayMap[channel] ?? replayMap[busChannel] ?? -1;
    const n = Number(requested);
    let cursor: number;
    if (n === -1) cursor = this.bus.latestSeq;
    else if (n === -2) cursor = this.bus.earliestCursor(busChannel, resolved.cls);
    else if (this.bus.check(busChannel, resolved.cls, n) === 'ok' && n > (this.refusedUpTo.get(busChannel) ?? -1)) cursor = n;
    else return { ...base, successful: false, error: INVALID_REPLAY(requested) };
    const armed = n >= 0 ? this.seeks.get(channel) : undefined;
    if (armed) client.seek = { channel, replayId: n, until: Date.now() + armed.ms, outcome: armed.outcome };
    client.subs.set(channel, { cls: resolved.cls, cursor, base: busChannel, where });
    // Retained events to replay are queued for the client at once: a connect being held returns with them.
    if (client.held && this.hasPending(client)) setImmediate(() => client.held?.resolve());
    return { ...base, successful: true };
  }

  private async connect(client: Client, msg: Msg, mayHold: boolean): Promise<Msg[]> {
    const reply = (): Msg[] => {
      if (this.oauth.check(client.token) !== 'ok') {
        return [
          {
            channel: '/meta/connect',
            id: msg.id,
            clientId: client.id,
            successful: false,
            error: '401::Authentication invalid',
            advice: { reconnect: 'none' },
          },
        ];
      }
      if (!this.clients.has(client.id)) return [unknownClient(msg, client.id)];
      const events = this.take(client);
      client.lastSeen = Date.now();
      return [
        ...events,
        {
          channel: '/meta/connect',
          id: msg.id,
          clientId: client.id,
          successful: true,
          advice: { interval: 0, timeout: this.opts.connectTimeoutMs, reconnect: 'retry' },
        },
      ];
    };
    // Under an admin throttle, wait for budget rather than answer empty and be asked again at once.
    for (let i = 0; i < 20 && this.faults.throttle > 0 && this.faults.throttleEmpty() && this.hasPending(client); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    if (client.seek) {
      // In a batch (with the subscribe that started the seek) the connect is answered at once, empty.
      return mayHold ? this.seeking(client, msg, reply) : [emptyConnect(msg, client.id)];
    }
    if (!mayHold || this.hasPending(client) || this.oauth.check(client.token) !== 'ok') return reply();
    // Hold the connect until an event arrives, the timeout passes, or the session is dropped.
    await hold(client, this.opts.connectTimeoutMs);
    return reply();
  }

  /** A connect during a seek: no answer until the seek ends, then deliver or drop the session. */
  private async seeking(client: Client, msg: Msg, reply: () => Msg[]): Promise<Msg[]> {
    const seek = client.seek as Seek;
    await hold(client, Math.max(0, seek.until - Date.now()));
    // Superseded (a newer connect, a new subscribe restarting the seek) or the session is gone.
    if (client.seek !== seek || Date.now() < seek.until || !this.clients.has(client.id)) return [emptyConnect(msg, client.id)];
    client.seek = null;
    this.seeks.delete(seek.channel);
    if (seek.outcome === 'deliver') return reply();
    this.refusedUpTo.set(seek.channel, Math.max(this.refusedUpTo.get(seek.channel) ?? -1, seek.replayId));
    this.clients.delete(client.id);
    return [unknownClient(msg, client.id)];
  }

  private hasPending(client: Client): boolean {
    for (const sub of client.subs.values()) if (this.bus.read(sub.base, sub.cls, sub.cursor, 1).length > 0) return true;
    return false;
  }

  private take(client: Client): Msg[] {
    const out: Msg[] = [];
    const budget = this.faults.takeThrottle(this.opts.maxBatch);
    for (const [ch, sub] of client.subs) {
      if (out.length >= budget) break;
      const evs = this.bus.read(sub.base, sub.cls, sub.cursor, budget - out.length);
      for (const ev of evs) if (matches(sub, ev)) out.push({ channel: ch, data: this.data(ev) });
      this.org.countDelivered(sub.cls, evs.length);
      const last = evs[evs.length - 1];
      if (last) sub.cursor = last.seq;
      if (out.length >= this.opts.maxBatch) break;
    }
    this.delivered += out.length;
    return out;
  }

  /** Salesforce's `data` shape per event class. */
  private data(ev: BusEvent): Record<string, unknown> {
    const createdDate = new Date(ev.time).toISOString();
    switch (ev.cls) {
      case 'pushtopic': {
        const d = ev.data as { event: Record<string, unknown>; sobject: unknown };
        return { event: { ...d.event, createdDate, replayId: ev.seq }, sobject: d.sobject };
      }
      case 'generic':
        return { event: { createdDate, replayId: ev.seq }, payload: (ev.data as { payload: string }).payload };
      case 'platform': {
        // Salesforce's CometD platform events carry CreatedDate as an ISO string ("2017-04-14T13:35:23Z").
        const payload = this.payloadOf(ev) as Record<string, unknown> | string | null;
        if (payload && typeof payload === 'object' && typeof payload.CreatedDate === 'number')
          payload.CreatedDate = new Date(payload.CreatedDate).toISOString().replace(/\.\d{3}Z$/, 'Z');
        return { schema: ev.schemaId, payload, event: { replayId: ev.seq, EventUuid: ev.eventId } };
      }
      case 'cdc':
        return { schema: ev.schemaId, payload: this.payloadOf(ev), event: { replayId: ev.seq } };
    }
  }

  /** The JSON payload; an event whose bytes do not decode (`events/corrupt`) goes out as its raw base64 string. */
  private payloadOf(ev: BusEvent): unknown {
    try {
      return this.org.jsonPayload(ev);
    } catch {
      return ev.payload?.toString('base64') ?? null;
    }
  }
}

/** A filtered PushTopic subscription takes an event when each named field of its record equals the value (as text). */
function matches(sub: Sub, ev: BusEvent): boolean {
  if (!sub.where) return true;
  const record = ((ev.data as { sobject?: Record<string, unknown> } | null)?.sobject ?? {}) as Record<string, unknown>;
  return sub.where.every(([field, value]) => {
    const key = Object.keys(record).find((k) => k.toLowerCase() === field.toLowerCase());
    return key !== undefined && String(record[key]) === value;
  });
}
