/**
 * The Pub/Sub API gRPC server (package eventbus.v1, service PubSub) on our proto/pubsub_api.proto.
 * Subscribe honours flow control exactly: a stream never gets more events than it requested;
 * while credit is outstanding and nothing is new it sends keepalives carrying latest_replay_id;
 * a stream with no credit for `idleTimeoutMs` is closed. Errors carry Salesforce's `error-code`
 * trailer.
 */
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { type BusEvent, type EventBus, replayIdBytes, replayIdFromBytes } from './bus.js';
import type { Faults } from './faults.js';
import type { OAuthServer } from './oauth.js';
import type { EmulatedOrg, ManagedSubscription } from './org.js';

export const PROTO_PATH = fileURLToPath(new URL('../../proto/pubsub_api.proto', import.meta.url));

/**
 * Codes from the error table of Salesforce's "Handle Errors" page (Pub/Sub API guide). Where the
 * table has no code for a case (an unknown schema id, publishing where not allowed) the nearest
 * documented one is used and docs/salesforce-fidelity.md says so.
 */
export const ERROR_CODES = {
  auth: 'sfdc.platform.eventbus.grpc.service.auth.error',
  replayCorrupted: 'sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted',
  replayValidation: 'sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed',
  requestedInvalid: 'sfdc.platform.eventbus.grpc.subscription.fetch.requested.events.invalid',
  topicNotFound: 'sfdc.platform.eventbus.grpc.topic.not.found',
  schemaNotFound: 'sfdc.platform.eventbus.grpc.schema.meta.permission',
  unavailable: 'sfdc.platform.eventbus.grpc.service.unavailable',
  publishNotAllowed: 'sfdc.platform.eventbus.grpc.topic.meta.permission',
  publishTopicMismatch: 'sfdc.platform.eventbus.grpc.publish.topic.mismatch',
  managedIdNotFound: 'sfdc.platform.eventbus.grpc.managed.subscription.subscription.id.not.found',
  managedNameNotFound: 'sfdc.platform.eventbus.grpc.managed.subscription.developer.name.not.found',
  managedRequestedInvalid: 'sfdc.platform.eventbus.grpc.managed.subscription.fetch.request.events.invalid',
  managedStopped: 'sfdc.platform.eventbus.grpc.managed.subscription.config.stopped',
} as const;

/** The gRPC status an injected Salesforce error code comes with (the table gives codes, not statuses). */
function statusOf(code: string): grpc.status {
  if (code.includes('.auth.')) return grpc.status.UNAUTHENTICATED;
  if (code.includes('not.found')) return grpc.status.NOT_FOUND;
  if (code.includes('permission') || code.includes('cannot.subscribe') || code.includes('license')) return grpc.status.PERMISSION_DENIED;
  if (code.includes('limit') || code.includes('protection')) return grpc.status.RESOURCE_EXHAUSTED;
  if (code.includes('unavailable') || code.includes('internal')) return grpc.status.UNAVAILABLE;
  return grpc.status.INVALID_ARGUMENT;
}

/** An injected failure (admin `streams/fail`): a documented code and its status. */
export function injectedError(code: string): grpc.ServiceError {
  return sfError(statusOf(code), `${code} (injected by the emulator)`, code);
}

export function loadPubSubProto(): grpc.GrpcObject {
  const def = protoLoader.loadSync(PROTO_PATH, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  return grpc.loadPackageDefinition(def);
}

export interface PubSubOptions {
  keepaliveMs: number;
  minPingIntervalMs: number;
  idleTimeoutMs: number;
  maxPerRequest: number;
}

function sfError(code: grpc.status, details: string, errorCode: string | null): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  if (errorCode) metadata.set('error-code', errorCode);
  return Object.assign(new Error(details), { code, details, metadata }) as grpc.ServiceError;
}

interface StreamLike {
  write(msg: unknown): boolean;
  end(): void;
  emit(ev: 'error', err: unknown): boolean;
  once(ev: 'drain', fn: () => void): unknown;
  getPeer?(): string;
}

/** One open Subscribe or ManagedSubscribe stream. */
class EventStream {
  credit = 0;
  ended = false;
  private cursor = 0;
  private scheduled = false;
  /** Until this epoch ms the stream takes requests but sends nothing, keepalives included. */
  frozenUntil = 0;
  private waitingDrain = false;
  private lastWrite: number;
  private noCreditSince: number;
  private readonly keepalive: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  readonly rpcId = randomUUID();
  delivered = 0;
  /** The client's address and port: one per HTTP/2 connection. */
  readonly peer: string;

  constructor(
    private readonly server: PubSubServer,
    private readonly call: StreamLike,
    readonly topic: string,
    private readonly cls: 'cdc' | 'platform',
    public token: string,
    cursor: number,
    readonly managed: ManagedSubscription | null,
  ) {
    this.peer = call.getPeer?.() ?? '';
    this.cursor = cursor;
    this.lastWrite = Date.now();
    this.noCreditSince = Date.now();
    this.unsubscribe = server.bus.onPublish((chs) => {
      if (chs.includes(topic)) this.schedule();
    });
    this.keepalive = setInterval(() => this.tick(), Math.min(server.opts.keepaliveMs, 1000));
    this.keepalive.unref();
  }

  /** Salesforce counts at most 100 requested events per Subscribe in total; more is treated as 100. */
  addCredit(n: number): void {
    if (n <= 0) return;
    this.credit = Math.min(this.server.opts.maxPerRequest, this.credit + n);
    this.schedule();
  }

  schedule(): void {
    if (this.scheduled || this.ended) return;
    this.scheduled = true;
    const delay = this.server.faults.delayMs;
    const run = () => {
      this.scheduled = false;
      this.pump();
    };
    if (delay > 0) setTimeout(run, delay);
    else setImmediate(run);
  }

  private pump(): void {
    if (this.ended || this.waitingDrain) return;
    if (Date.now() < this.frozenUntil) return; // a silent stream: tick() resumes it after the freeze
    if (this.server.oauth.check(this.token) !== 'ok') {
      this.fail(sfError(grpc.status.UNAUTHENTICATED, 'The session ID is expired or invalid', ERROR_CODES.auth));
      return;
    }
    while (this.credit > 0) {
      let max = Math.min(this.credit, this.server.opts.maxPerRequest);
      const budget = this.server.faults.takeThrottle(max);
      if (budget === 0) {
        setTimeout(() => this.schedule(), 50);
        return;
      }
      max = budget;
      const evs = this.server.bus.read(this.topic, this.cls, this.cursor, max);
      if (evs.length === 0) break;
      const last = evs[evs.length - 1] as BusEvent;
      this.cursor = last.seq;
      this.credit -= evs.length;
      this.delivered += evs.length;
      this.server.org.countDelivered(this.cls, evs.length);
      if (this.credit === 0) this.noCreditSince = Date.now();
      const ok = this.write({
        events: evs.map((ev) => consumerEvent(ev, this.topic)),
        latest_replay_id: replayIdBytes(last.seq),
        rpc_id: this.rpcId,
        pending_num_requested: this.credit,
      });
      if (!ok) {
        this.waitingDrain = true;
        this.call.once('drain', () => {
          this.waitingDrain = false;
          this.schedule();
        });
        return;
      }
    }
  }

  write(msg: Record<string, unknown>): boolean {
    this.lastWrite = Date.now();
    return this.call.write(msg);
  }

  private tick(): void {
    if (this.ended || Date.now() < this.frozenUntil) return;
    const now = Date.now();
    if (this.credit > 0 && !this.scheduled) this.schedule(); // events that arrived during a freeze
    if (this.credit === 0) {
      if (now - this.noCreditSince >= this.server.opts.idleTimeoutMs) this.close();
      return;
    }
    if (now - this.lastWrite >= this.server.opts.keepaliveMs) {
      if (this.server.oauth.check(this.token) !== 'ok') {
        this.fail(sfError(grpc.status.UNAUTHENTICATED, 'The session ID is expired or invalid', ERROR_CODES.auth));
        return;
      }
      this.write({
        events: [],
        latest_replay_id: replayIdBytes(this.server.bus.channelLatest(this.topic)),
        rpc_id: this.rpcId,
        pending_num_requested: this.credit,
      });
    }
  }

  fail(err: grpc.ServiceError): void {
    if (this.ended) return;
    this.cleanup();
    this.call.emit('error', err);
  }

  close(): void {
    if (this.ended) return;
    this.cleanup();
    this.call.end();
  }

  cleanup(): void {
    this.ended = true;
    clearInterval(this.keepalive);
    this.unsubscribe();
    this.server.streams.delete(this);
  }
}

function consumerEvent(ev: BusEvent, topic: string) {
  // Fault injection (admin `events/blank-schema`): on this topic the event comes with no schema id,
  // as reported on /data/ChangeEvents (forcedotcom/pub-sub-api#63).
  const schemaId = ev.blankSchemaOn?.includes(topic) ? '' : (ev.schemaId ?? '');
  return {
    event: { id: ev.eventId, schema_id: schemaId, payload: ev.payload ?? Buffer.alloc(0), headers: [] },
    replay_id: replayIdBytes(ev.seq),
  };
}

export class PubSubServer {
  readonly streams = new Set<EventStream>();
  /** Publish requests answered (Publish calls and PublishStream requests). */
  publishRequests = 0;
  readonly server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });

  constructor(
    readonly bus: EventBus,
    readonly org: EmulatedOrg,
    readonly oauth: OAuthServer,
    readonly faults: Faults,
    readonly opts: PubSubOptions,
  ) {
    const proto = loadPubSubProto() as unknown as { eventbus: { v1: { PubSub: { service: grpc.ServiceDefinition } } } };
    this.server.addService(proto.eventbus.v1.PubSub.service, {
      Subscribe: (call: grpc.ServerDuplexStream<Record<string, unknown>, unknown>) => this.subscribe(call),
      ManagedSubscribe: (call: grpc.ServerDuplexStream<Record<string, unknown>, unknown>) => this.managedSubscribe(call),
      GetTopic: (call: grpc.ServerUnaryCall<{ topic_name: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => this.getTopic(call, cb),
      GetSchema: (call: grpc.ServerUnaryCall<{ schema_id: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => this.getSchema(call, cb),
      Publish: (call: grpc.ServerUnaryCall<PublishRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        const auth = this.auth(call.metadata);
        if (auth) {
          cb(auth);
          return;
        }
        try {
          cb(null, this.publish(call.request));
        } catch (e) {
          cb(e as grpc.ServiceError);
        }
      },
      PublishStream: (call: grpc.ServerDuplexStream<PublishRequest, unknown>) => this.publishStream(call),
    });
  }

  stats() {
    return {
      openStreams: this.streams.size,
      publishRequests: this.publishRequests,
      pingGoaways: this.pingGoaways,
      streams: [...this.streams].map((s) => ({ topic: s.topic, pending: s.credit, delivered: s.delivered })),
      // HTTP/2 connections the open streams ride on (a client's peer address and port).
      connections: new Set([...this.streams].map((s) => s.peer)).size,
    };
  }

  listen(port: number, tls: { cert: string; key: string } | null): Promise<number> {
    const creds = tls
      ? grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(tls.key), cert_chain: Buffer.from(tls.cert) }], false)
      : grpc.ServerCredentials.createInsecure();
    return new Promise<number>((resolve, reject) => {
      this.server.bindAsync(`127.0.0.1:${port}`, creds, (err, bound) => (err ? reject(err) : resolve(bound)));
    }).then((bound) => {
      this.enforcePingPolicy();
      return bound;
    });
  }

  /**
   * Like a default Java gRPC server (Netty's keepalive enforcer): a client PING sooner than
   * `minPingIntervalMs` after the previous one is a strike; the third strike ends the connection
   * with GOAWAY ENHANCE_YOUR_CALM and debug data "too_many_pings", failing every stream on it.
   * grpc-js has no such policy, so the emulator watches its HTTP/2 sessions itself (through the
   * server's http2 listeners, not a public grpc-js API; the emulator-faults test fails if that changes).
   */
  private enforcePingPolicy(): void {
    const min = this.opts.minPingIntervalMs;
    if (min <= 0) return;
    const listeners = (this.server as unknown as { http2Servers?: Map<http2.Http2Server, unknown> }).http2Servers;
    for (const srv of listeners?.keys() ?? []) {
      if (this.policed.has(srv)) continue;
      this.policed.add(srv);
      srv.on('session', (session: http2.ServerHttp2Session) => {
        let last = Date.now();
        let strikes = 0;
        session.on('ping', () => {
          const now = Date.now();
          if (now - last < min) strikes++;
          last = now;
          if (strikes > 2 && !session.closed) {
            this.pingGoaways++;
            session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from('too_many_pings'));
            session.destroy();
          }
        });
      });
    }
  }

  private readonly policed = new Set<http2.Http2Server>();
  /** Connections ended for pinging too often (in `stats()`). */
  pingGoaways = 0;

  /** Make every open stream silent for `ms` (admin `streams/freeze`); new streams are not affected. */
  freezeAll(ms: number): number {
    for (const s of this.streams) s.frozenUntil = Date.now() + ms;
    return this.streams.size;
  }

  /** Injected failure (admin `streams/fail`): end every open stream with this error. */
  failAll(err: grpc.ServiceError): number {
    const n = this.streams.size;
    for (const s of [...this.streams]) s.fail(err);
    return n;
  }

  /** Fault injection: every open stream fails as if the connection dropped. */
  dropAll(): number {
    const n = this.streams.size;
    for (const s of [...this.streams])
      s.fail(sfError(grpc.status.UNAVAILABLE, 'stream dropped by the emulator (fault injection)', ERROR_CODES.unavailable));
    return n;
  }

  async close(): Promise<void> {
    for (const s of [...this.streams]) s.close();
    // A graceful shutdown waits for every client session to go away; don't wait forever.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.server.forceShutdown();
  }

  private auth(md: grpc.Metadata): grpc.ServiceError | null {
    const token = md.get('accesstoken')[0]?.toString();
    const tenant = md.get('tenantid')[0]?.toString();
    if (this.oauth.check(token) !== 'ok')
      return sfError(grpc.status.UNAUTHENTICATED, 'The session ID is expired or invalid', ERROR_CODES.auth);
    // Salesforce takes the org id in either form: 18 characters, or the 15 of a token's prefix.
    if (tenant !== this.org.orgId && tenant !== this.org.orgId.slice(0, 15))
      return sfError(
        grpc.status.UNAUTHENTICATED,
        `tenantid ${tenant ?? '(missing)'} does not match the org of the access token`,
        ERROR_CODES.auth,
      );
    return null;
  }

  private subscribe(call: grpc.ServerDuplexStream<Record<string, unknown>, unknown>): void {
    let stream: EventStream | null = null;
    call.on('data', (req: Record<string, unknown>) => {
      if (stream) {
        if (req.auth_refresh) stream.token = String(req.auth_refresh);
        stream.addCredit(Number(req.num_requested ?? 0));
        return;
      }
      const authErr = this.auth(call.metadata);
      if (authErr) return void call.emit('error', authErr);
      if (!(Number(req.num_requested ?? 0) > 0)) {
        return void call.emit(
          'error',
          sfError(
            grpc.status.INVALID_ARGUMENT,
            'num_requested must be greater than 0 in the first FetchRequest',
            ERROR_CODES.requestedInvalid,
          ),
        );
      }
      if (this.faults.refusing())
        return void call.emit('error', sfError(grpc.status.UNAVAILABLE, 'The service is temporarily unavailable', ERROR_CODES.unavailable));
      const injected = this.faults.nextSubscribeError();
      if (injected) return void call.emit('error', injectedError(injected));
      const topic = String(req.topic_name ?? '');
      const ch = this.org.resolveChannel(topic);
      if (!ch || (ch.cls !== 'cdc' && ch.cls !== 'platform')) {
        return void call.emit(
          'error',
          sfError(grpc.status.NOT_FOUND, `Topic ${topic || '(empty)'} does not exist or you lack access to it`, ERROR_CODES.topicNotFound),
        );
      }
      const preset = String(req.replay_preset ?? 'LATEST');
      let cursor: number;
      if (preset === 'EARLIEST') cursor = this.bus.earliestCursor(topic, ch.cls);
      else if (preset === 'CUSTOM') {
        const raw = req.replay_id as Buffer | undefined;
        if (!raw || raw.length === 0) {
          return void call.emit(
            'error',
            sfError(
              grpc.status.INVALID_ARGUMENT,
              'The replay_preset field in FetchRequest is set to ReplayPreset.CUSTOM, but no Replay ID value is set',
              ERROR_CODES.replayValidation,
            ),
          );
        }
        const id = replayIdFromBytes(raw);
        const verdict = this.bus.check(topic, ch.cls, id);
        if (verdict !== 'ok') {
          return void call.emit(
            'error',
            sfError(
              grpc.status.INVALID_ARGUMENT,
              `The Replay ID validation failed: the replay ID is ${verdict === 'expired' ? 'older than the retention window' : 'not valid for this topic'}`,
              ERROR_CODES.replayCorrupted,
            ),
          );
        }
        cursor = id;
      } else cursor = this.bus.latestSeq;
      const token = String(call.metadata.get('accesstoken')[0]);
      stream = new EventStream(this, call, topic, ch.cls, token, cursor, null);
      this.streams.add(stream);
      stream.addCredit(Number(req.num_requested ?? 0));
    });
    call.on('end', () => stream?.close());
    call.on('cancelled', () => stream?.cleanup());
    call.on('error', () => stream?.cleanup());
  }

  private managedSubscribe(call: grpc.ServerDuplexStream<Record<string, unknown>, unknown>): void {
    let stream: EventStream | null = null;
    call.on('data', (req: Record<string, unknown>) => {
      const commit = req.commit_replay_id_request as { commit_request_id?: string; replay_id?: Buffer } | null;
      if (!stream) {
        const authErr = this.auth(call.metadata);
        if (authErr) return void call.emit('error', authErr);
        if (!(Number(req.num_requested ?? 0) > 0)) {
          return void call.emit(
            'error',
            sfError(
              grpc.status.INVALID_ARGUMENT,
              'num_requested must be greater than 0 in the first ManagedFetchRequest',
              ERROR_CODES.managedRequestedInvalid,
            ),
          );
        }
        const sub = this.org.findManaged({
          id: (req.subscription_id as string) || undefined,
          developerName: (req.developer_name as string) || undefined,
        });
        if (!sub)
          return void call.emit(
            'error',
            req.subscription_id
              ? sfError(grpc.status.NOT_FOUND, `No managed subscription has the id ${req.subscription_id}`, ERROR_CODES.managedIdNotFound)
              : sfError(grpc.status.NOT_FOUND, `No managed subscription is named ${req.developer_name}`, ERROR_CODES.managedNameNotFound),
          );
        if (sub.state === 'STOP')
          return void call.emit(
            'error',
            sfError(
              grpc.status.FAILED_PRECONDITION,
              `The managed subscription ${sub.developerName} is stopped`,
              ERROR_CODES.managedStopped,
            ),
          );
        const ch = this.org.resolveChannel(sub.topic);
        if (!ch || (ch.cls !== 'cdc' && ch.cls !== 'platform'))
          return void call.emit('error', sfError(grpc.status.NOT_FOUND, `Topic ${sub.topic} does not exist`, ERROR_CODES.topicNotFound));
        let cursor = sub.committed ?? (sub.start === 'EARLIEST' ? this.bus.earliestCursor(sub.topic, ch.cls) : this.bus.latestSeq);
        // A committed position past retention: errorRecoveryReplay decides, and LATEST skips silently.
        if (sub.committed !== null && this.bus.check(sub.topic, ch.cls, sub.committed) !== 'ok')
          cursor = sub.errorRecovery === 'LATEST' ? this.bus.latestSeq : this.bus.earliestCursor(sub.topic, ch.cls);
        stream = new EventStream(this, call, sub.topic, ch.cls, String(call.metadata.get('accesstoken')[0]), cursor, sub);
        this.streams.add(stream);
      }
      if (req.auth_refresh) stream.token = String(req.auth_refresh);
      if (commit?.replay_id && commit.replay_id.length > 0 && stream.managed) {
        const seq = replayIdFromBytes(commit.replay_id);
        const ok = Number.isFinite(seq) && seq <= this.bus.latestSeq && !this.faults.refuseCommits;
        if (ok) this.org.commitManaged(stream.managed, seq);
        stream.write({
          events: [],
          latest_replay_id: replayIdBytes(this.bus.channelLatest(stream.topic)),
          rpc_id: stream.rpcId,
          pending_num_requested: stream.credit,
          commit_response: {
            commit_request_id: commit.commit_request_id ?? '',
            replay_id: commit.replay_id,
            error: ok ? null : { code: 'COMMIT', msg: this.faults.refuseCommits ? 'commit refused' : 'invalid replay id' },
            process_time: String(Date.now()),
          },
        });
      }
      stream.addCredit(Number(req.num_requested ?? 0));
    });
    call.on('end', () => stream?.close());
    call.on('cancelled', () => stream?.cleanup());
    call.on('error', () => stream?.cleanup());
  }

  private getTopic(call: grpc.ServerUnaryCall<{ topic_name: string }, unknown>, cb: grpc.sendUnaryData<unknown>): void {
    const auth = this.auth(call.metadata);
    if (auth) {
      cb(auth);
      return;
    }
    const name = call.request.topic_name;
    const ch = this.org.resolveChannel(name);
    if (!ch || (ch.cls !== 'cdc' && ch.cls !== 'platform')) {
      cb(sfError(grpc.status.NOT_FOUND, `Topic ${name} does not exist`, ERROR_CODES.topicNotFound));
      return;
    }
    cb(null, {
      topic_name: name,
      tenant_guid: this.org.orgId,
      can_publish: ch.canPublish,
      can_subscribe: true,
      schema_id: ch.schema?.id ?? '',
      rpc_id: randomUUID(),
    });
  }

  private getSchema(call: grpc.ServerUnaryCall<{ schema_id: string }, unknown>, cb: grpc.sendUnaryData<unknown>): void {
    const auth = this.auth(call.metadata);
    if (auth) {
      cb(auth);
      return;
    }
    const s = this.org.schemasById.get(call.request.schema_id);
    if (!s) {
      cb(sfError(grpc.status.NOT_FOUND, `Schema ${call.request.schema_id} not found`, ERROR_CODES.schemaNotFound));
      return;
    }
    cb(null, { schema_json: s.json, schema_id: s.id, rpc_id: randomUUID() });
  }

  /**
   * PublishStream: one response per request, in order, as each batch is done; later requests
   * must name the first one's topic (else INVALID_ARGUMENT ends the stream, as documented).
   */
  private publishStream(call: grpc.ServerDuplexStream<PublishRequest, unknown>): void {
    const auth = this.auth(call.metadata);
    if (auth) {
      call.emit('error', auth);
      return;
    }
    let topic: string | null = null;
    let ended = false;
    call.on('data', (req: PublishRequest) => {
      if (ended) return;
      try {
        if (topic !== null && req.topic_name && req.topic_name !== topic)
          throw sfError(
            grpc.status.INVALID_ARGUMENT,
            `topic_name ${req.topic_name} does not match the stream's topic ${topic}`,
            ERROR_CODES.publishTopicMismatch,
          );
        topic ??= req.topic_name;
        call.write(this.publish({ ...req, topic_name: topic }));
      } catch (e) {
        ended = true;
        call.emit('error', e);
      }
    });
    call.on('end', () => {
      if (!ended) call.end();
    });
  }

  /**
   * One publish request, as Salesforce's Pub/Sub allocations page documents it: a request over
   * 4 MB fails whole (UNAVAILABLE); an event over 1 MB, an unknown schema, a payload that does not
   * decode, a spent hourly allocation or an injected refusal fail that event alone, in its
   * PublishResult (error code PUBLISH), and the others are published.
   */
  private publish(req: PublishRequest) {
    this.publishRequests++;
    const topic = req.topic_name;
    const ch = this.org.resolveChannel(topic);
    if (!ch) throw sfError(grpc.status.NOT_FOUND, `Topic ${topic} does not exist`, ERROR_CODES.topicNotFound);
    if (!ch.canPublish)
      throw sfError(grpc.status.PERMISSION_DENIED, `Publishing to ${topic} is not allowed`, ERROR_CODES.publishNotAllowed);
    const size = req.events.reduce((n, e) => n + e.payload.length, 0);
    if (size > MAX_PUBLISH_REQUEST)
      throw sfError(
        grpc.status.UNAVAILABLE,
        'upstream connect error or disconnect/reset before headers. reset reason: remote reset',
        ERROR_CODES.unavailable,
      );
    const name = topic.replace(/^\/event\//, '');
    const failed = (id: string, msg: string) => ({ replay_id: Buffer.alloc(0), error: { code: 'PUBLISH', msg }, correlation_key: id });
    // The proto: an event's id is "either a user-provided ID or a system generated guid".
    const results = req.events.map((given) => {
      const e = given.id ? given : { ...given, id: randomUUID() };
      if (e.payload.length > MAX_EVENT) return failed(e.id, `The event exceeds the maximum size of 1 MB (${e.payload.length} bytes)`);
      if (this.faults.publishRefusals > 0) {
        this.faults.publishRefusals--;
        return failed(
          e.id,
          'PLATFORM_EVENT_PUBLISHING_UNAVAILABLE: Publishing platform event messages failed because a service was temporarily unavailable. Try again later.',
        );
      }
      const schema = this.org.schemasById.get(e.schema_id);
      if (!schema?.json.includes(`"name":"${name}"`)) return failed(e.id, `Unknown schema id ${e.schema_id} for ${topic}`);
      try {
        schema.type.fromBuffer(Buffer.from(e.payload));
      } catch (err) {
        return failed(e.id, `The payload does not match schema ${e.schema_id}: ${(err as Error).message}`);
      }
      if (this.org.takePublishAllocation(1) === 0)
        return failed(e.id, 'LIMIT_EXCEEDED: The number of published platform event messages exceeded the hourly publishing limit.');
      const ev = this.org.publishPlatformPayload(name, schema, Buffer.from(e.payload));
      return { replay_id: replayIdBytes(ev.seq), error: null, correlation_key: e.id };
    });
    return { results, schema_id: ch.schema?.id ?? '', rpc_id: randomUUID() };
  }
}

/** Pub/Sub allocations: a PublishRequest fails over 4 MB (gRPC's limit); each event may be at most 1 MB. */
const MAX_PUBLISH_REQUEST = 4 * 1024 * 1024;
const MAX_EVENT = 1024 * 1024;

interface PublishRequest {
  topic_name: string;
  events: Array<{ id: string; schema_id: string; payload: Buffer }>;
  auth_refresh?: string;
}
