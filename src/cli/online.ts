/**
 * `sfbridge check --online`: can this machine reach each org's OAuth, REST, Pub/Sub and CometD
 * endpoints (through the proxy, when one applies)? One line per org and endpoint, with how long
 * the first call took (connection and TLS included) and a second one (a round trip on the open
 * connection). Nothing is subscribed, published or written; the REST call is the version list.
 */
import type { BridgeConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import { httpCall } from '../http.js';
import type { Logger } from '../log.js';
import { OrgServices } from '../orgs.js';
import { describeProxy, proxyFor } from '../proxy.js';
import { authMetadata, unary } from '../salesforce/pubsub-client.js';

interface Probe {
  endpoint: string;
  target: () => string;
  run: () => Promise<unknown>;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

function ms(n: number): string {
  return `${Math.round(n)} ms`;
}

type OrgConfig = BridgeConfig['orgs'][string];
type Token = Awaited<ReturnType<ReturnType<OrgServices['tokenProvider']>['getToken']>>;

/** The four probes of one org; they share the token the first one gets. */
function probesFor(name: string, org: OrgConfig, orgs: OrgServices, topic: string): Probe[] {
  const tokens = orgs.tokenProvider(name);
  const agentFor = orgs.agentFor(name);
  const state: { token: Token | null } = { token: null };
  const token = async () => state.token ?? (await tokens.getToken());
  const post = (t: Token, url: string, msg: unknown) =>
    httpCall(url, {
      method: 'POST',
      agent: agentFor(url),
      ca: orgs.cas(name),
      timeoutMs: 15_000,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t.accessToken}` },
      body: JSON.stringify([msg]),
    });
  const instance = () => state.token?.instanceUrl ?? '(instance)';
  return [
    {
      endpoint: 'oauth',
      target: () => org.loginUrl,
      run: async () => {
        tokens.invalidate();
        state.token = await tokens.getToken();
      },
    },
    {
      endpoint: 'rest',
      target: instance,
      run: async () => {
        const url = `${(await token()).instanceUrl}/services/data`;
        const r = await httpCall(url, { agent: agentFor(url), ca: orgs.cas(name), timeoutMs: 15_000 });
        if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
      },
    },
    {
      endpoint: 'pubsub',
      target: () => org.pubsubEndpoint,
      run: async () => {
        const t = await token();
        const md = authMetadata({ accessToken: t.accessToken, instanceUrl: t.instanceUrl, orgId: t.orgId });
        try {
          await unary(orgs.pubsub(name), 'GetTopic', { topic_name: topic }, md, 15_000);
        } catch (err) {
          throw new Error(
            `${errorMessage(err)} (the Pub/Sub API needs outbound TCP to ${org.pubsubEndpoint}; Salesforce serves it on port 443 too: where 7443 is blocked, set orgs.${name}.pubsubEndpoint to api.pubsub.salesforce.com:443 (README "Endpoints and ports"))`,
          );
        }
      },
    },
    {
      endpoint: 'cometd',
      target: () => `${instance()}/cometd/${org.apiVersion}`,
      run: async () => {
        const t = await token();
        const url = `${t.instanceUrl}/cometd/${org.apiVersion}`;
        const r = await post(t, url, { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: '1' });
        const reply = (JSON.parse(r.text || '[]') as Array<{ successful?: boolean; clientId?: string; error?: string }>)[0];
        if (r.status !== 200 || !reply?.successful) throw new Error(`handshake refused: ${reply?.error ?? `HTTP ${r.status}`}`);
        // Not a client to keep: Salesforce counts concurrent CometD clients per org.
        await post(t, url, { channel: '/meta/disconnect', clientId: reply.clientId, id: '2' }).catch(() => null);
      },
    },
  ];
}

/** Lines to print, and whether every endpoint answered. */
export async function checkOnline(config: BridgeConfig, log: Logger): Promise<{ lines: string[]; ok: boolean }> {
  const orgs = new OrgServices(config.orgs, log);
  const lines: string[] = [];
  let ok = true;
  try {
    for (const [name, org] of Object.entries(config.orgs)) {
      const via = (url: string) => {
        const p = proxyFor(new URL(url), { at: `orgs.${name}.proxy`, proxy: org.proxy });
        return p ? ` through proxy ${describeProxy(p)}` : '';
      };
      const sources = config.routes.map((r) => r.source as { org?: string; topic?: string });
      const topic = sources.find((s) => s.org === name && s.topic)?.topic ?? '/data/ChangeEvents';
      let loggedIn = true;
      for (const p of probesFor(name, org, orgs, topic)) {
        // Every other probe needs the token: without one, say so once instead of the same error again.
        if (!loggedIn) {
          lines.push(`org ${name}  ${p.endpoint.padEnd(6)}  SKIP  ${p.target()}: needs an access token, and OAuth failed (above)`);
          continue;
        }
        try {
          const first = await timed(p.run);
          const second = await timed(p.run);
          const where = via(p.endpoint === 'pubsub' ? `https://${org.pubsubEndpoint}` : p.endpoint === 'oauth' ? org.loginUrl : p.target());
          lines.push(`org ${name}  ${p.endpoint.padEnd(6)}  ok    ${p.target()}  first ${ms(first)}, then ${ms(second)}${where}`);
        } catch (err) {
          ok = false;
          if (p.endpoint === 'oauth') loggedIn = false;
          lines.push(`org ${name}  ${p.endpoint.padEnd(6)}  FAIL  ${p.target()}: ${errorMessage(err)}`);
        }
      }
    }
  } finally {
    orgs.close();
  }
  return { lines, ok };
}
