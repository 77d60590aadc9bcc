/**
 * Webhook sink: POSTs envelopes (one per request, or batches) signed the Standard Webhooks way.
 * `write` resolves only when every event of the batch was delivered (2xx) or durably
 * dead-lettered, so the replay commit never passes an event that is in neither place.
 *
 * Per event: 2xx delivered; 429, 408, 5xx, timeouts and network errors are retried on the
 * configured schedule (Retry-After honoured as a minimum); other 4xx go straight to the
 * dead-letter store (the receiver rejected this event; retrying will not help); 410 Gone
 * disables the endpoint. When the schedule is exhausted, a `block` route keeps retrying at the
 * last delay (the replay commit waits, Salesforce retention is the buffer) and a `dead-letter`
 * route dead-letters the event. A disabled endpoint dead-letters everything on a `dead-letter`
 * route and stops a `block` route with an error naming what to fix.
 *
 * Ordering: events are grouped into lanes by key (first CDC record id by default); a lane is
 * delivered one event at a time, so one record's changes arrive in order even while retrying,
 * and up to `concurrency` lanes are in flight at once.
 */
import { createHash } from 'node:crypto';
import { type DeadLetterStore, deadLettersFor } from '../../deadletter/types.js';
import type { Envelope } from '../../envelope.js';
import { BridgeError, errorMessage, RetriableError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { redactUrl, registerSecret, registerUrlSecrets } from '../../log.js';
import { backoffDelay, sleep } from '../../retry.js';
import { trustedCas } from '../../tls-ca.js';
import { VERSION } from '../../version.js';
import { recordKey } from '../record-key.js';
import type { OutagePolicy, Sink, SinkContext } from '../types.js';
import type { WebhookSinkConfig } from './config.js';
import { HttpPoster, type PostResult } from './http.js';
import { secretKey, signatureHeader } from './signing.js';

interface Delivery {
  id: string;
  body: string;
  events: Envelope[];
}

type Outcome = 'delivered' | 'dead-lettered';

export class WebhookSink implements Sink {
  private readonly keys: Buffer[];
  private readonly poster: HttpPoster;
  private readonly abort = new AbortController();
  private readonly log: Logger;
  private readonly name: string;
  private readonly outage: OutagePolicy;
  private disabledReason: string | null = null;
  private readonly counters = { delivered: 0, attempts: 0, retries: 0, deadLettered: 0, lanesInFlight: 0 };
  private lastError: string | null = null;
  /** The URL as logs and /status may show it (no userinfo, no query values). */
  private readonly safeUrl: string;

  constructor(
    private readonly config: WebhookSinkConfig,
    private readonly ctx: SinkContext,
  ) {
    for (const s of config.secrets) registerSecret(s);
    registerUrlSecrets(config.url);
    this.safeUrl = redactUrl(config.url);
    this.keys = config.secrets.map(secretKey);
    const ca = config.caCertFile ? trustedCas(config.caCertFile, `${ctx.sinkName ?? 'webhook'} caCertFile`) : undefined;
    this.poster = new HttpPoster(config.url, config.concurrency, ca);
    this.log = ctx.log;
    this.name = ctx.sinkName ?? 'webhook';
    this.outage = ctx.outage ?? { mode: 'block', afterMs: Number.POSITIVE_INFINITY };
  }

  describe(): string {
    const u = new URL(this.config.url);
    return `webhook ${u.origin}${u.pathname} (${this.config.body}, concurrency ${this.config.concurrency}, ${this.keys.length} secret${this.keys.length > 1 ? 's' : ''})`;
  }

  stats(): Record<string, number | string | boolean> {
    return {
      ...this.counters,
      disabled: this.disabledReason !== null,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  async open(): Promise<void> {
    if (!this.ctx.deadLetters) throw new BridgeError('CONFIG', 'the webhook sink needs a dead-letter store');
  }

  async write(batch: readonly Envelope[]): Promise<void> {
    if (this.config.body === 'batch') {
      for (let i = 0; i < batch.length; i += this.config.maxBatchEvents) {
        const chunk = batch.slice(i, i + this.config.maxBatchEvents);
        await this.deliver(this.batchDelivery(chunk));
      }
      return;
    }
    await this.deliverLanes(this.lanes(batch));
  }

  async drain(): Promise<void> {}

  async close(): Promise<void> {
    this.abort.abort();
    this.poster.close();
  }

  private lanes(events: readonly Envelope[]): Envelope[][] {
    if (this.config.orderKey === 'none') return events.map((e) => [e]);
    const byKey = new Map<string, Envelope[]>();
    for (const e of events) {
      const k = recordKey(this.config.orderKey, e) ?? e.eventId;
      let lane = byKey.get(k);
      if (!lane) byKey.set(k, (lane = []));
      lane.push(e);
    }
    return [...byKey.values()];
  }

  private async deliverLanes(lanes: Envelope[][]): Promise<void> {
    let next = 0;
    let failure: unknown = null;
    const worker = async () => {
      while (next < lanes.length && failure === null) {
        const lane = lanes[next++] as Envelope[];
        this.counters.lanesInFlight++;
        try {
          for (const e of lane) await this.deliver({ id: e.eventId, body: JSON.stringify(e), events: [e] });
        } catch (err) {
          failure ??= err;
        } finally {
          this.counters.lanesInFlight--;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.config.concurrency, lanes.length) }, worker));
    if (failure !== null) throw failure;
  }

  private batchDelivery(events: readonly Envelope[]): Delivery {
    const digest = createHash('sha256');
    for (const e of events) digest.update(e.eventId).update('\n');
    return { id: `batch_${digest.digest('hex').slice(0, 32)}`, body: JSON.stringify({ events }), events: [...events] };
  }

  /** Deliver one request until it is delivered or dead-lettered; throws only when the route must stop. */
  private async deliver(d: Delivery): Promise<Outcome> {
    let firstFailedAt = '';
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      if (this.abort.signal.aborted) throw new RetriableError('SINK_CLOSING', 'webhook sink closed before delivery');
      if (this.disabledReason) return this.onDisabled(d, attempt - 1, firstFailedAt);
      const r = await this.attempt(d);
      if (r.status >= 200 && r.status < 300) {
        this.counters.delivered += d.events.length;
        if (attempt > 1) this.log.info({ sink: this.name, webhookId: d.id, attempts: attempt }, 'webhook delivered after retries');
        return 'delivered';
      }
      if (this.abort.signal.aborted) throw new RetriableError('SINK_CLOSING', 'webhook sink closed before delivery');
      firstFailedAt ||= new Date().toISOString();
      this.lastError = r.detail;
      if (r.status === 410) {
        this.disabledReason = `${this.safeUrl} answered 410 Gone (${r.detail})`;
        this.log.error(
          { sink: this.name, url: this.safeUrl },
          'webhook endpoint answered 410 Gone: endpoint disabled, no further requests will be sent to it',
        );
        return this.onDisabled(d, attempt, firstFailedAt);
      }
      if (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429) {
        this.log.warn(
          { sink: this.name, webhookId: d.id, status: r.status, detail: r.detail },
          'webhook rejected the event; dead-lettering it',
        );
        return this.deadLetter(d, `rejected by the receiver: ${r.detail}`, attempt, firstFailedAt);
      }
      const schedule = this.config.retrySchedule;
      if (attempt > schedule.length && this.outage.mode === 'dead-letter') {
        return this.deadLetter(d, `not delivered after ${attempt} attempts; last: ${r.detail}`, attempt, firstFailedAt);
      }
      if (this.outage.mode === 'dead-letter' && Date.now() - started >= this.outage.afterMs) {
        return this.deadLetter(d, `receiver down for longer than sinkOutage.after; last: ${r.detail}`, attempt, firstFailedAt);
      }
      const delay = this.retryDelay(attempt, r);
      this.counters.retries++;
      this.log.warn(
        { sink: this.name, webhookId: d.id, attempt, status: r.status || undefined, detail: r.detail, retryInMs: delay },
        'webhook delivery failed; will retry (replay commit held)',
      );
      await sleep(delay, this.abort.signal);
    }
  }

  private retryDelay(attempt: number, r: PostResult): number {
    const schedule = this.config.retrySchedule;
    const base = schedule[Math.min(attempt, schedule.length) - 1] as number;
    const jittered = Math.round(base * (1 - this.config.jitter + 2 * this.config.jitter * Math.random()));
    const retryAfter = r.retryAfterMs !== undefined ? Math.min(r.retryAfterMs, this.config.maxRetryAfter) : 0;
    return Math.max(jittered, retryAfter);
  }

  private async attempt(d: Delivery): Promise<PostResult> {
    this.counters.attempts++;
    const ts = Math.floor(Date.now() / 1000); // fresh per attempt: receivers reject stale timestamps
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': `sfbridge/${VERSION}`,
      ...this.config.headers,
      'webhook-id': d.id,
      'webhook-timestamp': String(ts),
      'webhook-signature': signatureHeader(this.keys, d.id, ts, d.body),
    };
    return this.poster.post(d.body, headers, this.config.timeout, this.abort.signal);
  }

  private async onDisabled(d: Delivery, attempts: number, firstFailedAt: string): Promise<Outcome> {
    if (this.outage.mode === 'dead-letter') {
      return this.deadLetter(d, `endpoint disabled: ${this.disabledReason}`, attempts, firstFailedAt || new Date().toISOString());
    }
    throw new BridgeError(
      'WEBHOOK_GONE',
      `${this.disabledReason}: the endpoint is disabled and this route blocks on sink outages, so nothing after the last committed event was acknowledged. Fix the receiver (or set routes[].sinkOutage.mode: dead-letter) and restart; delivery resumes from the stored replay position`,
      { retriable: false },
    );
  }

  /** Durably dead-letter; retried until it sticks, because acknowledging without it would lose the event. */
  private async deadLetter(d: Delivery, error: string, attempts: number, firstFailedAt: string): Promise<Outcome> {
    const store = this.ctx.deadLetters as DeadLetterStore;
    const entries = deadLettersFor(this.ctx.route, this.name, d.events, error, attempts, firstFailedAt || new Date().toISOString());
    for (let i = 1; ; i++) {
      try {
        await store.add(entries);
        this.counters.deadLettered += entries.length;
        this.log.warn({ sink: this.name, webhookId: d.id, events: entries.length, error }, 'dead-lettered');
        return 'dead-lettered';
      } catch (err) {
        if (this.abort.signal.aborted) throw new RetriableError('SINK_CLOSING', 'webhook sink closed while dead-lettering');
        this.log.error({ sink: this.name, error: errorMessage(err) }, 'dead-letter store write failed; retrying (nothing acknowledged)');
        await sleep(backoffDelay(i), this.abort.signal);
      }
    }
  }
}
