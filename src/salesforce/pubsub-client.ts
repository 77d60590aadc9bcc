/**
 * A gRPC client for the Pub/Sub API built from our own proto/pubsub_api.proto. One client (one
 * HTTP/2 connection) per org endpoint; auth metadata is added per call from a token source.
 */

import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { sharedSecureContext } from '../tls-ca.js';

export const PROTO_PATH = fileURLToPath(new URL('../../proto/pubsub_api.proto', import.meta.url));

export interface AuthMetadata {
  accessToken: string;
  instanceUrl: string;
  orgId: string;
}

// biome-ignore lint/suspicious/noExplicitAny: generated gRPC stubs are dynamically typed.
export type PubSubStub = grpc.Client & Record<string, any>;

let cachedCtor: grpc.ServiceClientConstructor | null = null;

function pubSubConstructor(): grpc.ServiceClientConstructor {
  if (!cachedCtor) {
    // Bytes stay Buffers (replay ids are opaque); int64 as strings so nothing loses precision.
    const def = protoLoader.loadSync(PROTO_PATH, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { eventbus: { v1: { PubSub: grpc.ServiceClientConstructor } } };
    cachedCtor = pkg.eventbus.v1.PubSub;
  }
  return cachedCtor;
}

export interface ClientOptions {
  endpoint: string;
  /** PEM CA to trust in addition to nothing (e.g. the emulator's); default: system roots. */
  ca?: string | Buffer | null;
  plaintext?: boolean;
  /** gRPC channel options over the defaults below. */
  channelOptions?: grpc.ChannelOptions;
  /** Through an HTTP proxy (CONNECT): the proxy as target, the endpoint in the options (proxy.ts). */
  proxy?: { target: string; options: Record<string, string | number> };
}

/**
 * HTTP/2 pings by default (orgs.<name>.pubsubKeepalive sets them per org): a Java gRPC server
 * (Salesforce's) tolerates client pings no more often than every 5 minutes and answers more with
 * GOAWAY too_many_pings, dropping every stream of the connection; NAT gateways drop a connection
 * idle for 350 s (AWS) without a word. Every 310 s is inside both.
 */
export const PING_INTERVAL_MS = 310_000;

/**
 * HTTP/2 flow-control window (stream and connection) we grant the server. Node's default, 64 KB,
 * caps a stream at 64 KB per round trip whatever gRPC asks for: over a 50 ms link that is ~1.3 MB/s,
 * a quarter of the 100-events-per-round-trip ceiling with 1.4 KB events (bench/wan.mjs --fields 600).
 * What the server may send is bounded by our num_requested anyway; the window only must not be
 * the tighter bound.
 */
export const FLOW_CONTROL_WINDOW = 16 * 1024 * 1024;

let systemRoots: grpc.ChannelCredentials | null = null;

/** TLS credentials shared by every channel with the same trust (each holds a context of ~1 MB). */
function tlsCredentials(ca: string | Buffer | null | undefined): grpc.ChannelCredentials {
  if (ca) return grpc.credentials.createFromSecureContext(sharedSecureContext(String(ca)));
  systemRoots ??= grpc.credentials.createSsl();
  return systemRoots;
}

export function createPubSubClient(opts: ClientOptions): PubSubStub {
  const creds = opts.plaintext ? grpc.credentials.createInsecure() : tlsCredentials(opts.ca);
  const Ctor = pubSubConstructor();
  const options: grpc.ChannelOptions = {
    'grpc.keepalive_time_ms': PING_INTERVAL_MS,
    'grpc.keepalive_timeout_ms': 20_000,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW,
    ...opts.channelOptions,
    ...opts.proxy?.options,
  };
  // TLS forbids an IP as server name; for a loopback endpoint (a local emulator) verify "localhost".
  if (!opts.plaintext && /^(127\.\d+\.\d+\.\d+|\[::1\]):\d+$/.test(opts.endpoint)) options['grpc.ssl_target_name_override'] = 'localhost';
  return new Ctor(opts.proxy?.target ?? opts.endpoint, creds, options) as PubSubStub;
}

export function authMetadata(a: AuthMetadata): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('accesstoken', a.accessToken);
  md.set('instanceurl', a.instanceUrl);
  md.set('tenantid', a.orgId);
  return md;
}

/** Salesforce's error code from a gRPC error's trailers (`error-code`), if any. */
export function sfErrorCode(err: unknown): string | null {
  const md = (err as { metadata?: grpc.Metadata }).metadata;
  const v = md?.get?.('error-code')?.[0];
  return v === undefined ? null : String(v);
}

export function unary<Req, Res>(client: PubSubStub, method: string, req: Req, md: grpc.Metadata, timeoutMs = 30_000): Promise<Res> {
  return new Promise((resolve, reject) => {
    client[method](req, md, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: Res) =>
      err ? reject(err) : resolve(res),
    );
  });
}
