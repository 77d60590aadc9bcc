/**
 * Per-org shared services for subscribers: one token provider and one Pub/Sub gRPC client (one
 * HTTP/2 connection, many subscriptions) per configured org, created on first use.
 */
import type { Agent as HttpAgent } from 'node:http';
import { tokenProviderFor } from './auth/index.js';
import type { TokenProvider } from './auth/types.js';
import type { BridgeConfig, OrgConfig } from './config/schema.js';
import { BridgeError, errorMessage } from './errors.js';
import type { Logger } from './log.js';
import { connectTunnel, describeProxy, grpcProxyOptions, type ProxySetting, proxyFor, tunnelAgent } from './proxy.js';
import { describeFields, type FieldInfo } from './salesforce/bulk-export.js';
import { LimitsPoller, type LimitsSnapshot } from './salesforce/limits-poller.js';
import { createPubSubClient, type PubSubStub } from './salesforce/pubsub-client.js';
import { RestClient } from './salesforce/rest.js';
import { trustedCas } from './tls-ca.js';

export class OrgServices {
  private readonly tokens = new Map<string, TokenProvider>();
  private readonly clients = new Map<string, PubSubStub>();
  private readonly pollers = new Map<string, LimitsPoller>();
  private readonly agents = new Map<string, (url: string | URL) => HttpAgent | undefined>();

  constructor(
    private orgs: BridgeConfig['orgs'],
    private readonly log: Logger,
  ) {}

  /**
   * A reloaded config: the orgs named in `gone` (removed or changed) lose their token provider,
   * connections and poller (their routes were stopped first); the next use builds them afresh.
   */
  update(orgs: BridgeConfig['orgs'], gone: readonly string[]): void {
    for (const name of gone) {
      this.pollers.get(name)?.stop();
      this.pollers.delete(name);
      this.clients.get(name)?.close();
      this.clients.delete(name);
      this.tokens.delete(name);
      this.agents.delete(name);
    }
    this.orgs = orgs;
  }

  config(name: string): OrgConfig {
    const c = Object.hasOwn(this.orgs, name) ? this.orgs[name] : undefined;
    if (!c) throw new BridgeError('CONFIG', `unknown org "${name}" (defined: ${Object.keys(this.orgs).join(', ') || 'none'})`);
    return c;
  }

  tokenProvider(name: string): TokenProvider {
    let p = this.tokens.get(name);
    if (!p) {
      p = tokenProviderFor(name, this.config(name), this.log.child({ org: name }), this.agentFor(name));
      this.tokens.set(name, p);
    }
    return p;
  }

  pubsub(name: string): PubSubStub {
    let c = this.clients.get(name);
    if (!c) {
      const cfg = this.config(name);
      const proxy = this.pubsubProxy(name);
      if (cfg.pubsubKeepalive.intervalSeconds < 300)
        this.log.warn(
          { org: name, intervalSeconds: cfg.pubsubKeepalive.intervalSeconds },
          `orgs.${name}.pubsubKeepalive.intervalSeconds is under 300: Salesforce's gRPC server answers pings that often with GOAWAY too_many_pings (fine for a local emulator configured to allow them)`,
        );
      if (proxy) this.probeProxy(name, proxy, cfg.pubsubEndpoint);
      c = createPubSubClient({
        endpoint: cfg.pubsubEndpoint,
        plaintext: cfg.plaintext,
        ca: this.cas(name),
        channelOptions: {
          'grpc.keepalive_time_ms': Math.round(cfg.pubsubKeepalive.intervalSeconds * 1000),
          'grpc.keepalive_timeout_ms': Math.round(cfg.pubsubKeepalive.timeoutSeconds * 1000),
        },
        ...(proxy ? { proxy: grpcProxyOptions(proxy, cfg.pubsubEndpoint) } : {}),
      });
      this.clients.set(name, c);
    }
    return c;
  }

  /**
   * Say that the Pub/Sub API goes through the proxy, and ask the proxy for the tunnel once: grpc-js
   * only says "failed to connect" when a proxy refuses it, this names the setting to fix.
   */
  private probeProxy(name: string, proxy: ProxySetting, endpoint: string): void {
    this.log.info({ org: name, proxy: describeProxy(proxy) }, `Pub/Sub API ${endpoint} through proxy ${describeProxy(proxy)}`);
    const at = endpoint.lastIndexOf(':');
    connectTunnel(proxy, endpoint.slice(0, at), Number(endpoint.slice(at + 1))).then(
      (socket) => socket.destroy(),
      (err: Error) => this.log.error({ org: name }, `Pub/Sub API: ${errorMessage(err)}`),
    );
  }

  /** The proxy the org's Pub/Sub connection goes through, or null. */
  pubsubProxy(name: string): ProxySetting | null {
    const cfg = this.config(name);
    return proxyFor(new URL(`${cfg.plaintext ? 'http' : 'https'}://${cfg.pubsubEndpoint}`), { at: `orgs.${name}.proxy`, proxy: cfg.proxy });
  }

  /** The agent each of the org's HTTP(S) URLs is fetched with: a tunnel through its proxy, or undefined (direct). */
  agentFor(name: string): (url: string | URL) => HttpAgent | undefined {
    let f = this.agents.get(name);
    if (!f) {
      const own = { at: `orgs.${name}.proxy`, proxy: this.config(name).proxy };
      const ca = this.cas(name);
      const said = new Set<string>();
      // One proxy decision per URL: the agent, and the first time per host, a line saying which proxy.
      f = (url) => {
        const u = typeof url === 'string' ? new URL(url) : url;
        const p = proxyFor(u, own);
        if (!p) return undefined;
        if (!said.has(u.host)) {
          said.add(u.host);
          this.log.info({ org: name, host: u.host, proxy: describeProxy(p) }, `${u.host} through proxy ${describeProxy(p)}`);
        }
        return tunnelAgent(p, u.protocol === 'https:', ca);
      };
      this.agents.set(name, f);
    }
    return f;
  }

  rest(name: string): RestClient {
    const cfg = this.config(name);
    return new RestClient(this.tokenProvider(name), cfg.apiVersion, this.cas(name), {}, this.agentFor(name));
  }

  /** The field names and Salesforce types of the org's objects (sObject describe), for sinks that type columns; undefined without an org. */
  describer(name: string | null): ((entity: string) => Promise<FieldInfo[]>) | undefined {
    if (name === null) return undefined;
    const rest = this.rest(name);
    return (entity) => describeFields(rest, entity);
  }

  /** The org's trusted CAs when it names an extra one (system roots + caCertFile), else null (system roots). */
  cas(name: string): string | null {
    const cfg = this.config(name);
    return cfg.caCertFile ? trustedCas(cfg.caCertFile, `orgs.${name}.caCertFile`) : null;
  }

  /** Poll /limits of each named org (orgs.<name>.limits.poll; 0 turns it off) while the bridge runs. */
  pollLimits(names: Iterable<string>): void {
    for (const name of names) {
      const { poll, warnPercent } = this.config(name).limits;
      if (poll <= 0 || this.pollers.has(name)) continue;
      const p = new LimitsPoller(name, this.rest(name), { intervalMs: poll, warnPercent }, this.log.child({ org: name }));
      this.pollers.set(name, p);
      p.start();
    }
  }

  /** The last limits read from each polled org. */
  limits(): LimitsSnapshot[] {
    return [...this.pollers.values()].map((p) => p.snapshot());
  }

  /** Salesforce's clock minus ours for the org (ms), when a poll has seen it; 0 otherwise. */
  clockOffsetMs(name: string): number {
    return this.pollers.get(name)?.rest.clockOffsetMs ?? 0;
  }

  close(): void {
    for (const p of this.pollers.values()) p.stop();
    this.pollers.clear();
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
