/**
 * Webhook sink: POSTs envelopes (one per request, or batches) signed the Standard Webhooks way,
 * and reports per event what the receiver said. Retries, Retry-After, dead-lettering and
 * `sinkOutage` are the pipeline's (delivery-policy.ts); this file knows HTTP and signing.
 *
 * Per request: 2xx delivered; 429, 408, 5xx, timeouts and network errors `retry` (with the
 * receiver's Retry-After); other 4xx `rejected` (the receiver refused this event; retrying will
 * not help); 410 Gone disables the endpoint: that event and everything after it are
 * `unavailable`, and no further request is sent.
 *
 * Ordering: events are grouped into lanes by key (first CDC record id by default); a lane is sent
 * one event at a time and stops at its first failure (the rest of the lane is reported `retry`
 * unsent), so one record's changes arrive in order; up to `concurrency` lanes are in flight.
 * Batch mode stops at the first failed batch the same way.
 */
import { createHash } from 'node:crypto';
import { type Envelope, envelopeJson } from '../../envelope.js';
import { redactUrl, registerSecret, registerUrlSecrets } from '../../log.js';
import { describeProxy, proxyFor } from '../../proxy.js';
import { secretKey, signatureHeader } from '../../standard-webhooks.js';
import { trustedCas } from '../../tls-ca.js';
import { VERSION } from '../../version.js';
import { cloudEventStructured } from '../cloudevents.js';
import { recordKey } from '../record-key.js';
import type { EventOutcome, RetrySchedule, Sink, SinkContext } from '../types.js';
import type { WebhookSinkConfig } from './config.js';
import { HttpPoster } from './http.js';

interface Delivery {
  id: string;
  body: string;
  events: readonly Envelope[];
  contentType?: string;
}

const WAITING: EventOutcome = { status: 'retry', error: 'not sent: an earlier event of its key (or an earlier batch) was not delivered' };

export class WebhookSink implements Sink {
  private readonly keys: Buffer[];
  private readonly poster: HttpPoster;
  private readonly abort = new AbortController();
  private disabledReason: string | null = null;
  private readonly counters = { delivered: 0, attempts: 0, lanesInFlight: 0, bytesWritten: 0 };
  private lastError: string | null = null;
  /** The URL as logs and /status may show it (no userinfo, no query values). */
  private readonly safeUrl: string;
  readonly retry: RetrySchedule;

  constructor(
    private readonly config: WebhookSinkConfig,
    private readonly ctx: SinkContext,
  ) {
    for (const s of config.secrets) registerSecret(s);
    registerUrlSecrets(config.url);
    this.safeUrl = redactUrl(config.url);
    this.keys = config.secrets.map(secretKey);
    const ca = config.caCertFile ? trustedCas(config.caCertFile, `${ctx.sinkName ?? 'webhook'} caCertFile`) : undefined;
    const proxy = proxyFor(new URL(config.url), { at: `route ${ctx.route} ${ctx.sinkName ?? 'webhook'} proxy`, proxy: config.proxy });
    if (proxy)
      ctx.log.info({ url: this.safeUrl, proxy: describeProxy(proxy) }, `webhook ${this.safeUrl} through proxy ${describeProxy(proxy)}`);
    this.poster = new HttpPoster(config.url, config.concurrency, ca, proxy);
    this.retry = { delaysMs: config.retrySchedule, jitter: config.jitter, maxRetryAfterMs: config.maxRetryAfter };
  }

  describe(): string {
    const u = new URL(this.config.url);
    return `webhook ${u.origin}${u.pathname} (${this.config.body}, concurrency ${this.config.concurrency}, ${this.keys.length} secret${this.keys.length > 1 ? 's' : ''})`;
  }

  stats(): Record<string, number | string | boolean> {
    return { ...this.counters, disabled: this.disabledReason !== null, ...(this.lastError ? { lastError: this.lastError } : {}) };
  }

  async open(): Promise<void> {}

  async write(batch: readonly Envelope[]): Promise<EventOutcome[]> {
    if (this.config.body === 'batch') return this.writeBatches(batch);
    const outcomes: EventOutcome[] = new Array(batch.length);
    const lanes = this.lanes(batch);
    let next = 0;
    const worker = async () => {
      while (next < lanes.length) {
        const lane = lanes[next++] as number[];
        this.counters.lanesInFlight++;
        try {
          let blocked = false;
          for (const i of lane) {
            const e = batch[i] as Envelope;
            outcomes[i] = blocked ? this.unsent() : await this.post(this.eventDelivery(e));
            blocked ||= outcomes[i]?.status === 'retry' || outcomes[i]?.status === 'unavailable';
          }
        } finally {
          this.counters.lanesInFlight--;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.config.concurrency, lanes.length) }, worker));
    return outcomes;
  }

  async drain(): Promise<void> {}

  async close(): Promise<void> {
    this.abort.abort();
    this.poster.close();
  }

  private async writeBatches(batch: readonly Envelope[]): Promise<EventOutcome[]> {
    const outcomes: EventOutcome[] = [];
    let blocked = false;
    for (let i = 0; i < batch.length; i += this.config.maxBatchEvents) {
      const chunk = batch.slice(i, i + this.config.maxBatchEvents);
      const o: EventOutcome = blocked ? this.unsent() : await this.post(this.batchDelivery(chunk));
      blocked ||= o.status === 'retry' || o.status === 'unavailable';
      for (const _ of chunk) outcomes.push(o);
    }
    return outcomes;
  }

  /** Lanes of batch indexes: one per order key, in stream order. */
  private lanes(events: readonly Envelope[]): number[][] {
    if (this.config.orderKey === 'none') return events.map((_, i) => [i]);
    const byKey = new Map<string, number[]>();
    events.forEach((e, i) => {
      const k = recordKey(this.config.orderKey, e) ?? e.eventId;
      let lane = byKey.get(k);
      if (!lane) byKey.set(k, (lane = []));
      lane.push(i);
    });
    return [...byKey.values()];
  }

  private eventDelivery(e: Envelope): Delivery {
    if (this.config.body === 'cloudevents') {
      return { id: e.eventId, body: cloudEventStructured(e), events: [e], contentType: 'application/cloudevents+json' };
    }
    return { id: e.eventId, body: envelopeJson(e), events: [e] };
  }

  private batchDelivery(events: readonly Envelope[]): Delivery {
    const digest = createHash('sha256');
    for (const e of events) digest.update(e.eventId).update('\n');
    return { id: `batch_${digest.digest('hex').slice(0, 32)}`, body: `{"events":[${events.map(envelopeJson).join(',')}]}`, events };
  }

  /** What an event not sent this time is: waiting behind a failure, or the endpoint is gone. */
  private unsent(): EventOutcome {
    return this.disabledReason ? { status: 'unavailable', error: `endpoint disabled: ${this.disabledReason}` } : WAITING;
  }

  /** One signed POST, classified. */
  private async post(d: Delivery): Promise<EventOutcome> {
    if (this.disabledReason) return this.unsent();
    if (this.abort.signal.aborted) return { status: 'retry', error: 'webhook sink closed before delivery' };
    this.counters.attempts++;
    const ts = Math.floor(Date.now() / 1000); // fresh per attempt: receivers reject stale timestamps
    const headers: Record<string, string> = {
      'content-type': d.contentType ?? 'application/json',
      'user-agent': `sfbridge/${VERSION}`,
      ...this.config.headers,
      'webhook-id': d.id,
      'webhook-timestamp': String(ts),
      'webhook-signature': signatureHeader(this.keys, d.id, ts, d.body),
    };
    const r = await this.poster.post(d.body, headers, this.config.timeout, this.abort.signal);
    if (r.status >= 200 && r.status < 300) {
      this.counters.delivered += d.events.length;
      this.counters.bytesWritten += Buffer.byteLength(d.body);
      return { status: 'delivered' };
    }
    this.lastError = r.detail;
    if (r.status === 410) {
      this.disabledReason = `${this.safeUrl} answered 410 Gone (${r.detail})`;
      this.ctx.log.error(
        { sink: this.ctx.sinkName, url: this.safeUrl },
        'webhook endpoint answered 410 Gone: endpoint disabled, no further requests will be sent to it',
      );
      return this.unsent();
    }
    if (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429) {
      this.ctx.log.warn({ sink: this.ctx.sinkName, webhookId: d.id, status: r.status, detail: r.detail }, 'webhook rejected the event');
      return { status: 'rejected', error: `rejected by the receiver: ${r.detail}` };
    }
    return { status: 'retry', error: r.detail, ...(r.retryAfterMs !== undefined ? { retryAfterMs: r.retryAfterMs } : {}) };
  }
}
