/**
 * `sfbridge emulator`: one process speaking the parts of Salesforce the bridge uses — OAuth, REST,
 * Bulk API 2.0 query, CometD, the Pub/Sub API — with fault injection and a ledger of every
 * published event. HTTPS and gRPC over TLS by default (self-signed CA written on first start).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { AdminApi } from './admin.js';
import { BulkJobs } from './bulk.js';
import { EventBus } from './bus.js';
import { Clock } from './clock.js';
import { CometdServer } from './cometd.js';
import type { EmulatorConfig } from './config.js';
import { emulatorConfigSchema } from './config.js';
import { Faults } from './faults.js';
import { Generator, parseGenerate } from './generator.js';
import { createHandler } from './http.js';
import { OAuthServer } from './oauth.js';
import { EmulatedOrg } from './org.js';
import { PubSubServer } from './pubsub.js';

export const API_VERSION = '63.0';
const HOUR = 3600_000;

export interface EmulatorOptions {
  port?: number;
  grpcPort?: number;
  dataDir?: string;
  config?: Partial<EmulatorConfig>;
  /** `cdc:Account:5000/s,platform:Order_Event__e:500/s` */
  generate?: string;
  /**
   * The instance URL clients are told to use (OAuth responses, the ready line) when they reach the
   * emulator through something in between: a delaying link, a load balancer. Default: its own.
   */
  instanceUrl?: string;
  /** Where the TLS CA and certificate live (tenants of one process share them); default `<dataDir>/tls`. */
  tlsDir?: string;
}

export interface ReadyInfo {
  event: 'ready';
  loginUrl: string;
  instanceUrl: string;
  pubsubEndpoint: string;
  cometdUrl: string;
  adminUrl: string;
  apiVersion: string;
  orgId: string;
  clientId: string;
  clientSecret: string;
  username: string;
  password: string;
  refreshToken: string;
  caCertPath: string | null;
  tls: boolean;
}

export class Emulator {
  readonly clock = new Clock();
  readonly faults = new Faults();
  bus!: EventBus;
  org!: EmulatedOrg;
  oauth!: OAuthServer;
  pubsub!: PubSubServer;
  cometd!: CometdServer;
  generator!: Generator;
  bulk!: BulkJobs;
  info!: ReadyInfo;
  private http!: HttpServer;
  private timers: NodeJS.Timeout[] = [];

  private constructor(readonly config: EmulatorConfig) {}

  static async start(opts: EmulatorOptions = {}): Promise<Emulator> {
    const config = emulatorConfigSchema.parse(opts.config ?? {});
    const emu = new Emulator(config);
    await emu.boot(opts);
    return emu;
  }

  private async boot(opts: EmulatorOptions): Promise<void> {
    const c = this.config;
    const dataDir = opts.dataDir ? resolve(opts.dataDir) : null;
    // Created up front (0700): the event log and state live here whatever the transport.
    if (dataDir) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const r = c.retentionHours;
    this.bus = new EventBus(
      this.clock,
      { cdc: r.cdc * HOUR, platform: r.platform * HOUR, pushtopic: r.pushtopic * HOUR, generic: r.generic * HOUR },
      dataDir ? join(dataDir, 'events.ndjson') : null,
      c.ledger,
    );
    this.org = new EmulatedOrg(this.bus, this.clock, {
      orgId: c.orgId,
      objects: c.objects,
      platformEvents: c.platformEvents,
      channels: c.channels,
      managedSubscriptions: c.managedSubscriptions,
      statePath: dataDir ? join(dataDir, 'state.json') : null,
    });
    let urls = { loginUrl: '', instanceUrl: '' };
    this.oauth = new OAuthServer(
      {
        orgId: this.org.orgId,
        userId: this.org.userId,
        username: c.username,
        password: c.password,
        securityToken: c.securityToken,
        clientId: c.clientId,
        clientSecret: c.clientSecret,
        refreshToken: c.refreshToken,
        tokenLifetimeSeconds: c.tokenLifetimeSeconds,
        jwtCertificate: c.jwtCertFile ? readFileSync(c.jwtCertFile, 'utf8') : null,
      },
      this.clock,
      () => urls,
    );
    this.generator = new Generator(this.org);
    this.pubsub = new PubSubServer(this.bus, this.org, this.oauth, this.faults, {
      keepaliveMs: c.keepaliveMs,
      minPingIntervalMs: c.minPingIntervalMs,
      idleTimeoutMs: c.idleTimeoutMs,
      maxPerRequest: 100,
    });
    this.cometd = new CometdServer(this.bus, this.org, this.oauth, this.faults, {
      connectTimeoutMs: c.cometdConnectTimeoutMs,
      sessionTimeoutMs: c.cometdSessionTimeoutMs,
      maxBatch: 1000,
    });
    const admin = new AdminApi({
      bus: this.bus,
      org: this.org,
      oauth: this.oauth,
      pubsub: this.pubsub,
      cometd: this.cometd,
      faults: this.faults,
      clock: this.clock,
      generator: this.generator,
    });
    this.org.limitMax = { ...c.limits };
    const bulk = new BulkJobs(this.org);
    this.bulk = bulk;
    const handler = createHandler({
      org: this.org,
      oauth: this.oauth,
      cometd: this.cometd,
      bulk,
      admin,
      faults: this.faults,
      apiVersions: ['58.0', '59.0', '60.0', '61.0', '62.0', API_VERSION],
      instanceUrl: () => urls.instanceUrl,
    });
    const tls = c.plaintext
      ? null
      : await (await import('./tls.js')).ensureTls(
          opts.tlsDir ?? join(dataDir ?? join(homedir(), '.cache', 'sfbridge', 'emulator'), 'tls'),
        );
    this.http = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, handler) : createHttpServer(handler);
    // Long-polls are held up to 110 s: keep sockets open longer than that.
    this.http.keepAliveTimeout = 130_000;
    this.http.requestTimeout = 0;
    this.http.headersTimeout = 140_000;
    const httpPort = await new Promise<number>((res, rej) => {
      this.http.once('error', rej);
      this.http.listen(opts.port ?? 0, '127.0.0.1', () => {
        const a = this.http.address();
        res(typeof a === 'object' && a ? a.port : 0);
      });
    });
    const grpcPort = await this.pubsub.listen(opts.grpcPort ?? (opts.port ? opts.port + 1 : 0), tls);
    // As Salesforce does (api.pubsub.salesforce.com:7443, MyDomain URLs), a TLS endpoint is a host
    // name: a TLS client sends it as SNI, and Node.js 24+ refuses an IP address there (gRPC clients
    // that use the endpoint as given, such as the public Node client, and faye's CometD transport
    // under jsforce, fail). The certificate names localhost and 127.0.0.1; only TLS needs the name.
    const host = tls ? 'localhost' : '127.0.0.1';
    const base = `${tls ? 'https' : 'http'}://${host}:${httpPort}`;
    urls = { loginUrl: base, instanceUrl: opts.instanceUrl ?? base };
    this.info = {
      event: 'ready',
      loginUrl: urls.loginUrl,
      instanceUrl: urls.instanceUrl,
      pubsubEndpoint: `${host}:${grpcPort}`,
      cometdUrl: `${urls.instanceUrl}/cometd/${API_VERSION}`,
      adminUrl: `${urls.instanceUrl}/admin`,
      apiVersion: API_VERSION,
      orgId: this.org.orgId,
      clientId: c.clientId,
      clientSecret: c.clientSecret,
      username: c.username,
      password: c.password + c.securityToken,
      refreshToken: c.refreshToken,
      caCertPath: tls?.caCertPath ?? null,
      tls: Boolean(tls),
    };
    if (opts.generate) this.startGenerator(opts.generate);
  }

  /** Steady synthetic traffic, e.g. `cdc:Account:5000/s`. */
  startGenerator(text: string): void {
    for (const { spec, perSecond } of parseGenerate(text)) {
      const tick = 100;
      let carry = 0;
      const t = setInterval(() => {
        carry += (perSecond * tick) / 1000;
        const n = Math.floor(carry);
        carry -= n;
        if (n > 0) this.generator.emit(spec, n);
      }, tick);
      this.timers.push(t);
    }
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.cometd.close();
    await this.pubsub.close();
    this.http.closeAllConnections?.();
    await new Promise<void>((r) => this.http.close(() => r()));
    this.bus.flush();
    this.org.saveState();
  }
}
