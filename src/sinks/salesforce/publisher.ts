/**
 * The Pub/Sub API's publishing calls for one topic. `stream`: one PublishStream, requests sent
 * without waiting for earlier answers (Salesforce queues them), each answer matched to its events
 * by correlation key. `unary`: one Publish call per request. A stream that fails or goes quiet
 * fails every request still waiting on it; the next request opens a new stream.
 */
import type * as grpc from '@grpc/grpc-js';
import type { AccessToken } from '../../auth/types.js';
import { authMetadata, type PubSubStub, unary } from '../../salesforce/pubsub-client.js';

export interface ProducerEvent {
  id: string;
  schema_id: string;
  payload: Buffer;
}

export interface PublishResult {
  replay_id: Buffer;
  error: { code: string; msg: string } | null;
  correlation_key: string;
}

interface PublishResponse {
  results: PublishResult[];
  schema_id: string;
}

interface Waiting {
  keys: string[];
  resolve: (r: PublishResponse) => void;
  reject: (err: Error) => void;
}

export class Publisher {
  private stream: grpc.ClientDuplexStream<unknown, PublishResponse> | null = null;
  /** Requests waiting for their answer, by the correlation key of each of their events. */
  private readonly waiting = new Map<string, Waiting>();
  requests = 0;

  constructor(
    private readonly client: PubSubStub,
    private readonly topic: string,
    private readonly mode: 'stream' | 'unary',
  ) {}

  /** Publish one request; resolves with Salesforce's answer to it. */
  async publish(events: ProducerEvent[], token: AccessToken, timeoutMs: number): Promise<PublishResponse> {
    this.requests++;
    const md = authMetadata({ accessToken: token.accessToken, instanceUrl: token.instanceUrl, orgId: token.orgId });
    const req = { topic_name: this.topic, events };
    if (this.mode === 'unary') return unary<typeof req, PublishResponse>(this.client, 'Publish', req, md, timeoutMs);
    const stream = this.openStream(md);
    return new Promise<PublishResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        for (const e of events) this.waiting.delete(e.id);
        reject(new Error(`no answer from PublishStream within ${timeoutMs} ms`));
        this.reset(new Error('PublishStream went quiet'));
      }, timeoutMs);
      const w: Waiting = {
        keys: events.map((e) => e.id),
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      for (const e of events) this.waiting.set(e.id, w);
      stream.write(req);
    });
  }

  private openStream(md: grpc.Metadata): grpc.ClientDuplexStream<unknown, PublishResponse> {
    if (this.stream) return this.stream;
    const s = this.client.PublishStream(md) as grpc.ClientDuplexStream<unknown, PublishResponse>;
    s.on('data', (res: PublishResponse) => {
      const w = this.waiting.get(res.results[0]?.correlation_key ?? '');
      if (!w) return;
      for (const k of w.keys) this.waiting.delete(k);
      w.resolve(res);
    });
    s.on('error', (err: Error) => this.reset(err, s));
    s.on('end', () => this.reset(new Error('PublishStream ended by the server'), s));
    this.stream = s;
    return s;
  }

  /** Fail every waiting request; the next publish opens a new stream. */
  private reset(err: Error, which = this.stream): void {
    if (which !== this.stream || !which) return;
    this.stream = null;
    which.cancel();
    const all = new Set(this.waiting.values());
    this.waiting.clear();
    for (const w of all) w.reject(err);
  }

  close(): void {
    const s = this.stream;
    if (!s) return;
    this.reset(new Error('publisher closed'));
    s.end();
  }
}
