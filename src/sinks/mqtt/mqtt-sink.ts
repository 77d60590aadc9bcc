/**
 * MQTT sink: each event is published at QoS 1 or 2 and counts as delivered on the broker's PUBACK
 * (QoS 1) or PUBCOMP (QoS 2). Messages are not retained unless asked. While the broker is away the
 * client keeps the batch and resends it when it can; a write not acknowledged within
 * `ackTimeoutMs` is reported as a retry, so the route's outage policy sees the outage.
 */
import { readFileSync } from 'node:fs';
import type { MqttClient } from 'mqtt';
import { type Envelope, envelopeBytes } from '../../envelope.js';
import { errorMessage, RetriableError } from '../../errors.js';
import { redactUrl } from '../../log.js';
import { Destinations } from '../destination.js';
import type { EventOutcome, Sink, SinkContext } from '../types.js';
import type { MqttSinkConfig } from './config.js';

/** A topic level: no wildcards, no empty levels. */
const level = (v: string) =>
  v
    .replace(/[+#]/g, '_')
    .replace(/\/{2,}/g, '/')
    .replace(/^\/|\/$/g, '');

export class MqttSink implements Sink {
  private client: MqttClient | null = null;
  private readonly topics: Destinations;
  private readonly counters = { bytesWritten: 0 };

  constructor(
    private readonly config: MqttSinkConfig,
    ctx: SinkContext,
  ) {
    this.topics = new Destinations(config.topic, ctx.route, level);
  }

  describe(): string {
    return `mqtt ${redactUrl(this.config.url)} topic ${this.config.topic} (QoS ${this.config.qos}${this.config.retain ? ', retained' : ''})`;
  }

  async open(): Promise<void> {
    const { connectAsync } = await import('mqtt');
    const c = this.config;
    try {
      this.client = await connectAsync(c.url, {
        username: c.username,
        password: c.password,
        clientId: c.clientId,
        ca: c.caFile ? readFileSync(c.caFile) : undefined,
        reconnectPeriod: 1000,
        connectTimeout: 10_000,
        // The session keeps unacknowledged QoS 1/2 messages across a reconnect.
        clean: c.clientId === undefined,
      });
      this.client.on('error', () => undefined);
    } catch (err) {
      throw new RetriableError('SINK_UNAVAILABLE', `mqtt sink: cannot connect to ${redactUrl(c.url)}: ${errorMessage(err)}`, err);
    }
  }

  async write(batch: readonly Envelope[]): Promise<EventOutcome[] | undefined> {
    const client = this.client;
    if (!client) throw new RetriableError('SINK_UNAVAILABLE', 'mqtt sink: not connected');
    const acks = batch.map((e) => {
      const body = envelopeBytes(e);
      this.counters.bytesWritten += body.length;
      return client.publishAsync(this.topics.of(e), body, { qos: this.config.qos, retain: this.config.retain });
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.config.ackTimeoutMs);
    });
    try {
      const all = Promise.allSettled(acks);
      const settled = await Promise.race([all, timeout]);
      if (settled === 'timeout')
        throw new RetriableError(
          'SINK_UNAVAILABLE',
          `mqtt sink: the broker acknowledged nothing for ${this.config.ackTimeoutMs} ms (${client.connected ? 'connected' : 'disconnected'})`,
        );
      const outcomes = settled.map(
        (s): EventOutcome =>
          s.status === 'fulfilled' ? { status: 'delivered' } : { status: 'retry', error: `mqtt sink: ${errorMessage(s.reason)}` },
      );
      return outcomes.every((o) => o.status === 'delivered') ? undefined : outcomes;
    } finally {
      clearTimeout(timer);
    }
  }

  async drain(): Promise<void> {}

  async close(): Promise<void> {
    await this.client?.endAsync().catch(() => undefined);
    this.client = null;
  }

  stats(): Record<string, number> {
    return { ...this.counters };
  }
}
