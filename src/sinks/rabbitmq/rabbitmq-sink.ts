/**
 * RabbitMQ sink: each event is a persistent message on the exchange, published on a confirm
 * channel. The broker's ack decides delivery; a nack is a retry; with `mandatory`, a message no
 * queue takes comes back (basic.return, before its ack) and is refused, naming the routing key.
 * A lost connection is a retry; the next write connects again.
 */
import type { ChannelModel, ConfirmChannel, Message } from 'amqplib';
import { type Envelope, envelopeBytes } from '../../envelope.js';
import { errorMessage, RetriableError } from '../../errors.js';
import { redactUrl } from '../../log.js';
import { Destinations } from '../destination.js';
import type { EventOutcome, Sink, SinkContext } from '../types.js';
import type { RabbitmqSinkConfig } from './config.js';

const dotted = (v: string) => v.replace(/\//g, '.').replace(/^\.+|\.+$/g, '');

export class RabbitmqSink implements Sink {
  private conn: ChannelModel | null = null;
  private ch: ConfirmChannel | null = null;
  private readonly keys: Destinations;
  /** Message ids the broker returned as unroutable, until their ack is read. */
  private readonly returned = new Set<string>();
  private readonly counters = { bytesWritten: 0, returned: 0, nacked: 0 };

  constructor(
    private readonly config: RabbitmqSinkConfig,
    ctx: SinkContext,
  ) {
    this.keys = new Destinations(config.routingKey, ctx.route, dotted);
  }

  describe(): string {
    return `rabbitmq ${redactUrl(this.config.url)} exchange ${this.config.exchange} (${this.config.exchangeType}) key ${this.config.routingKey}`;
  }

  async open(): Promise<void> {
    await this.channel();
  }

  private async channel(): Promise<ConfirmChannel> {
    if (this.ch) return this.ch;
    const { connect } = await import('amqplib');
    try {
      const conn = await connect(this.config.url);
      conn.on('error', () => undefined);
      conn.on('close', () => {
        this.conn = null;
        this.ch = null;
      });
      const ch = await conn.createConfirmChannel();
      ch.on('error', () => undefined);
      ch.on('close', () => {
        this.ch = null;
      });
      ch.on('return', (m: Message) => {
        const id = m.properties.messageId as string | undefined;
        if (id) this.returned.add(id);
      });
      await ch.assertExchange(this.config.exchange, this.config.exchangeType, { durable: true });
      const q = this.config.queue;
      if (q) {
        await ch.assertQueue(q.name, { durable: true, ...(q.quorum ? { arguments: { 'x-queue-type': 'quorum' } } : {}) });
        await ch.bindQueue(q.name, this.config.exchange, q.bindingKey);
      }
      this.conn = conn;
      this.ch = ch;
      return ch;
    } catch (err) {
      throw new RetriableError('SINK_UNAVAILABLE', `rabbitmq sink: cannot use ${redactUrl(this.config.url)}: ${errorMessage(err)}`, err);
    }
  }

  async write(batch: readonly Envelope[]): Promise<EventOutcome[] | undefined> {
    const ch = await this.channel();
    const pending: Array<Promise<EventOutcome>> = [];
    for (const e of batch) {
      const key = this.keys.of(e);
      const body = envelopeBytes(e);
      this.counters.bytesWritten += body.length;
      let ok = true;
      const confirmed = new Promise<EventOutcome>((resolve) => {
        ok = ch.publish(
          this.config.exchange,
          key,
          body,
          {
            persistent: this.config.persistent,
            mandatory: this.config.mandatory,
            messageId: e.eventId,
            contentType: 'application/json',
            headers: { 'replay-id': e.replayId, channel: e.channel, kind: e.kind },
          },
          (err: unknown) => {
            if (err) {
              this.counters.nacked++;
              return resolve({ status: 'retry', error: `rabbitmq sink: the broker did not confirm the message (${errorMessage(err)})` });
            }
            if (this.returned.delete(e.eventId)) {
              this.counters.returned++;
              return resolve({
                status: 'rejected',
                error: `rabbitmq sink: no queue is bound for routing key "${key}" on exchange ${this.config.exchange} (returned as unroutable)`,
              });
            }
            resolve({ status: 'delivered' });
          },
        );
        if (!ok) void 0; // the channel buffers; confirms still arrive in order
      });
      pending.push(confirmed);
    }
    const outcomes = await Promise.race([
      Promise.all(pending),
      new Promise<never>((_, reject) =>
        ch.once('close', () =>
          reject(new RetriableError('SINK_UNAVAILABLE', 'rabbitmq sink: the channel closed before the broker confirmed the batch')),
        ),
      ),
    ]);
    return outcomes.every((o) => o.status === 'delivered') ? undefined : outcomes;
  }

  async drain(): Promise<void> {
    await this.ch?.waitForConfirms().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.ch?.close().catch(() => undefined);
    await this.conn?.close().catch(() => undefined);
    this.ch = null;
    this.conn = null;
  }

  stats(): Record<string, number> {
    return { ...this.counters };
  }
}
