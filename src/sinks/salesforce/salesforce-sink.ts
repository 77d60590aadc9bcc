/**
 * `salesforce` sink: each event becomes a platform event published over the Pub/Sub API
 * (PublishStream by default). The event's fields come from `mapping`; they are encoded with the
 * topic's schema (GetTopic, GetSchema; cached, and fetched again when a PublishResponse names a
 * different schema). Each PublishResult decides its event: a replay id is delivered; a refusal
 * that may pass is retried; a spent hourly allocation keeps the sink away for minutes (it answers
 * `retry` without calling Salesforce until then); anything else is a rejection with Salesforce's
 * message. Requests respect the documented 200 events and 3 MB (1 MB per event).
 */
import * as grpc from '@grpc/grpc-js';
import type { AccessToken, TokenProvider } from '../../auth/types.js';
import type { Envelope } from '../../envelope.js';
import { BridgeError, errorMessage, RetriableError } from '../../errors.js';
import type { OrgServices } from '../../orgs.js';
import { stayAwayDelay } from '../../retry.js';
import { authMetadata, type PubSubStub, sfErrorCode, unary } from '../../salesforce/pubsub-client.js';
import { FieldMapping } from '../mapping.js';
import type { EventOutcome, Sink, SinkContext } from '../types.js';
import type { SalesforceSinkConfig } from './config.js';
import { type Encoded, EventSchema } from './event-schema.js';
import { type ProducerEvent, Publisher, type PublishResult } from './publisher.js';

const MAX_EVENT_BYTES = 1024 * 1024;

/** Salesforce's "hourly publishing limit" refusal (Platform Event Error Status Codes: LIMIT_EXCEEDED). */
const ALLOCATION = /LIMIT_EXCEEDED|publishing (limit|allocation)/i;
/** Refusals Salesforce says to try again later (PLATFORM_EVENT_PUBLISHING_UNAVAILABLE) or that a schema refresh cures. */
const TRANSIENT = /PUBLISHING_UNAVAILABLE|temporarily unavailable|try again/i;
const SCHEMA = /schema/i;

export class SalesforceSink implements Sink {
  private readonly mapping: FieldMapping;
  private readonly tokens: TokenProvider;
  private client: PubSubStub | null = null;
  private publisher: Publisher | null = null;
  private schema: EventSchema | null = null;
  private awayUntil = 0;
  private awayCount = 0;
  private seq = 0;
  private readonly counts = { published: 0, rejected: 0, retried: 0, allocationWaits: 0, schemaFetches: 0 };

  constructor(
    private readonly c: SalesforceSinkConfig,
    private readonly ctx: SinkContext,
    private readonly orgs: OrgServices,
  ) {
    this.mapping = new FieldMapping(c.mapping);
    this.tokens = orgs.tokenProvider(c.org);
  }

  describe(): string {
    return `Salesforce platform events ${this.c.topic} in org ${this.c.org} (${this.c.rpc === 'stream' ? 'PublishStream' : 'Publish'}, ≤ ${this.c.batchSize} events a request)`;
  }

  async open(): Promise<void> {
    this.client = this.orgs.pubsub(this.c.org);
    this.publisher = new Publisher(this.client, this.c.topic, this.c.rpc);
    await this.loadSchema();
  }

  stats() {
    return { ...this.counts, schemaId: this.schema?.id ?? '', awayUntil: this.awayUntil ? new Date(this.awayUntil).toISOString() : '' };
  }

  async write(batch: readonly Envelope[]): Promise<EventOutcome[]> {
    const now = Date.now();
    if (now < this.awayUntil) return batch.map(() => this.away(now));
    let schema = this.schema ?? (await this.loadSchema());
    const outcomes: Array<EventOutcome | null> = batch.map(() => null);
    let encoded = await this.encodeAll(batch, schema, now);
    // A field the cached schema lacks may be a field added since: read the schema again, once.
    if (encoded.some((x) => 'unknownField' in x && x.unknownField)) {
      schema = await this.loadSchema();
      encoded = await this.encodeAll(batch, schema, now);
    }
    const ids = new Map<string, number>();
    const events: ProducerEvent[] = [];
    encoded.forEach((enc, i) => {
      if ('error' in enc) outcomes[i] = { status: 'rejected', error: enc.error };
      else if (enc.bytes.length > MAX_EVENT_BYTES)
        outcomes[i] = { status: 'rejected', error: `the event is ${enc.bytes.length} bytes; Salesforce takes at most 1 MB` };
      else {
        const id = `${++this.seq}`;
        ids.set(id, i);
        events.push({ id, schema_id: schema.id, payload: enc.bytes });
      }
    });
    const token = await this.token();
    const send = async (req: ProducerEvent[]) => {
      try {
        const res = await (this.publisher as Publisher).publish(req, token, this.c.timeoutMs);
        if (res.schema_id && res.schema_id !== schema.id) this.schemaChanged(schema.id, res.schema_id);
        for (const r of res.results) {
          const i = ids.get(r.correlation_key);
          if (i !== undefined) outcomes[i] = this.outcome(r);
        }
      } catch (err) {
        if ((err as { code?: number }).code === grpc.status.UNAUTHENTICATED) this.tokens.invalidate(token.accessToken);
        const error = `publish to ${this.c.topic} failed: ${errorMessage(err)}${sfErrorCode(err) ? ` (${sfErrorCode(err)})` : ''}`;
        for (const e of req) outcomes[ids.get(e.id) as number] = { status: 'retry', error };
      }
    };
    // PublishStream keeps the requests' order on its one stream, so they are pipelined; separate
    // Publish calls would not, so they go one after another.
    if (this.c.rpc === 'stream') await Promise.all(this.requests(events).map(send));
    else for (const req of this.requests(events)) await send(req);
    if (outcomes.some((o) => o?.status === 'retry' && o.retryAfterMs)) this.goAway();
    else if (outcomes.some((o) => o?.status === 'delivered')) this.awayCount = 0;
    for (const o of outcomes)
      if (o) this.counts[o.status === 'delivered' ? 'published' : o.status === 'rejected' ? 'rejected' : 'retried']++;
    return outcomes.map((o) => o ?? { status: 'retry', error: `no PublishResult for this event from ${this.c.topic}` });
  }

  private async encodeAll(batch: readonly Envelope[], schema: EventSchema, now: number): Promise<Encoded[]> {
    const out: Encoded[] = [];
    for (const e of batch) {
      const m = this.mapping.mapNow(e) ?? (await this.mapping.map(e));
      out.push('error' in m ? m : schema.encode(m.fields, now));
    }
    return out;
  }

  /** Split into requests of at most batchSize events and maxRequestBytes. */
  private requests(events: ProducerEvent[]): ProducerEvent[][] {
    const out: ProducerEvent[][] = [];
    let cur: ProducerEvent[] = [];
    let bytes = 0;
    for (const e of events) {
      if (cur.length > 0 && (cur.length >= this.c.batchSize || bytes + e.payload.length > this.c.maxRequestBytes)) {
        out.push(cur);
        cur = [];
        bytes = 0;
      }
      cur.push(e);
      bytes += e.payload.length;
    }
    if (cur.length > 0) out.push(cur);
    return out;
  }

  private outcome(r: PublishResult): EventOutcome {
    if (!r.error) return { status: 'delivered' };
    const msg = `Salesforce refused the event on ${this.c.topic}: ${r.error.msg}`;
    if (ALLOCATION.test(r.error.msg)) return { status: 'retry', error: msg, retryAfterMs: stayAwayDelay(this.awayCount + 1) };
    if (SCHEMA.test(r.error.msg)) {
      this.schema = null;
      return { status: 'retry', error: msg };
    }
    if (TRANSIENT.test(r.error.msg)) return { status: 'retry', error: msg };
    return { status: 'rejected', error: msg };
  }

  /** The hourly allocation is spent: stay away (5 min, doubling to 1 h), as the subscriber does. */
  private goAway(): void {
    this.awayCount++;
    this.counts.allocationWaits++;
    const ms = stayAwayDelay(this.awayCount);
    this.awayUntil = Date.now() + ms;
    this.ctx.log.error(
      { sink: this.ctx.sinkName, topic: this.c.topic, retryInMs: ms },
      `the org's hourly platform-event publishing allocation is spent: publishing to ${this.c.topic} waits ${Math.round(ms / 60000)} min (HourlyPublishedPlatformEvents in /limits; events wait, nothing is dropped)`,
    );
  }

  private away(now: number): EventOutcome {
    return {
      status: 'retry',
      error: `the hourly publishing allocation is spent; waiting until ${new Date(this.awayUntil).toISOString()}`,
      retryAfterMs: this.awayUntil - now,
    };
  }

  private schemaChanged(ours: string, theirs: string): void {
    this.ctx.log.info(
      { sink: this.ctx.sinkName, topic: this.c.topic, from: ours, to: theirs },
      'the event schema changed in Salesforce; fetching the new one',
    );
    this.schema = null;
  }

  private async token(): Promise<AccessToken> {
    try {
      return await this.tokens.getToken();
    } catch (err) {
      throw new RetriableError('SF_AUTH', `cannot log in to org ${this.c.org}: ${errorMessage(err)}`, err);
    }
  }

  /** GetTopic (may we publish, which schema), then GetSchema. */
  private async loadSchema(): Promise<EventSchema> {
    const token = await this.token();
    const md = authMetadata({ accessToken: token.accessToken, instanceUrl: token.instanceUrl, orgId: token.orgId });
    const client = this.client as PubSubStub;
    this.counts.schemaFetches++;
    try {
      const topic = await unary<object, { can_publish: boolean; schema_id: string }>(client, 'GetTopic', { topic_name: this.c.topic }, md);
      if (!topic.can_publish)
        throw new BridgeError(
          'SF_PUBLISH',
          `org ${this.c.org} may not publish to ${this.c.topic}: grant the user Create on the platform event`,
        );
      const info = await unary<object, { schema_json: string; schema_id: string }>(client, 'GetSchema', { schema_id: topic.schema_id }, md);
      this.schema = new EventSchema(info.schema_id, info.schema_json, this.c.topic.slice('/event/'.length));
      return this.schema;
    } catch (err) {
      if (err instanceof BridgeError) throw err;
      const code = (err as { code?: number }).code;
      if (code === grpc.status.UNAUTHENTICATED) this.tokens.invalidate(token.accessToken);
      if (code === grpc.status.NOT_FOUND || code === grpc.status.PERMISSION_DENIED)
        throw new BridgeError(
          'SF_PUBLISH',
          `${this.c.topic} in org ${this.c.org}: ${errorMessage(err)} (check the sink's topic and that the event is deployed)`,
        );
      throw new RetriableError('SF_PUBLISH', `cannot read the schema of ${this.c.topic}: ${errorMessage(err)}`, err);
    }
  }

  async drain(): Promise<void> {}

  async close(): Promise<void> {
    this.publisher?.close();
  }
}
