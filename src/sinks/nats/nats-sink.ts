/**
 * NATS JetStream sink: each event is published to its subject and counts as delivered when the
 * stream's PubAck arrives. `Nats-Msg-Id` is the event id, so within the stream's duplicate window
 * JetStream drops a redelivered event (the PubAck says `duplicate`): exactly once within the
 * window. A batch is published in one go (the PubAcks come back as the stream stores them).
 */
import { readFileSync } from 'node:fs';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { type Envelope, envelopeBytes } from '../../envelope.js';
import { errorMessage, RetriableError } from '../../errors.js';
import { redactUrl } from '../../log.js';
import { cloudEventHeaders } from '../cloudevents.js';
import { Destinations } from '../destination.js';
import type { EventOutcome, Sink, SinkContext } from '../types.js';
import type { NatsSinkConfig } from './config.js';

/** A subject token: no dots, wildcards or spaces; `/data/X` becomes `data.X`. */
const token = (v: string) =>
  v
    .replace(/[\s*>]+/g, '_')
    .replace(/\//g, '.')
    .replace(/\.{2,}/g, '.')
    .replace(/^\.|\.$/g, '');

export class NatsSink implements Sink {
  private nc: NatsConnection | null = null;
  private js: JetStreamClient | null = null;
  /** The client's header factory, loaded with it at open (not on every write). */
  private headers: (() => MsgHdrs) | null = null;
  private readonly subjects: Destinations;
  private readonly counters = { bytesWritten: 0, duplicates: 0 };

  constructor(
    private readonly config: NatsSinkConfig,
    ctx: SinkContext,
  ) {
    this.subjects = new Destinations(config.subject, ctx.route, token);
  }

  describe(): string {
    return `nats ${this.config.servers.map(redactUrl).join(',')} subject ${this.config.subject}${this.config.createStream ? ` (stream ${this.config.createStream.name})` : ''}`;
  }

  async open(): Promise<void> {
    const { connect, nkeyAuthenticator, headers } = await import('@nats-io/transport-node');
    this.headers = headers;
    const { jetstream, jetstreamManager } = await import('@nats-io/jetstream');
    const c = this.config;
    try {
      this.nc = await connect({
        servers: c.servers,
        token: c.token,
        user: c.user,
        pass: c.pass,
        authenticator: c.nkeySeed ? nkeyAuthenticator(new TextEncoder().encode(c.nkeySeed)) : undefined,
        tls: c.tls ? { ca: c.tls.caFile ? readFileSync(c.tls.caFile, 'utf8') : undefined } : undefined,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 1000,
        name: 'sfbridge',
      });
    } catch (err) {
      throw new RetriableError(
        'SINK_UNAVAILABLE',
        `nats sink: cannot connect to ${this.config.servers.map(redactUrl).join(',')}: ${errorMessage(err)}`,
        err,
      );
    }
    if (c.createStream) {
      const jsm = await jetstreamManager(this.nc);
      const s = c.createStream;
      const exists = await jsm.streams.info(s.name).then(
        () => true,
        () => false,
      );
      if (!exists)
        await jsm.streams.add({
          name: s.name,
          subjects: s.subjects,
          retention: s.retention as never,
          duplicate_window: s.duplicateWindowSeconds * 1e9,
        });
    }
    this.js = jetstream(this.nc, { timeout: c.ackTimeoutMs });
  }

  async write(batch: readonly Envelope[]): Promise<EventOutcome[] | undefined> {
    const js = this.js;
    if (!js || !this.nc || this.nc.isClosed()) throw new RetriableError('SINK_UNAVAILABLE', 'nats sink: not connected');
    const headers = this.headers as () => MsgHdrs;
    const acks = batch.map((e) => {
      const h = headers();
      h.set('replay-id', e.replayId);
      h.set('channel', e.channel);
      h.set('kind', e.kind);
      if (this.config.cloudEvents) for (const [k, v] of Object.entries(cloudEventHeaders(e))) h.set(k.replace(/^ce_/, 'ce-'), v);
      const data = envelopeBytes(e);
      this.counters.bytesWritten += data.length;
      return js.publish(this.subjects.of(e), data, { msgID: e.eventId, headers: h });
    });
    const settled = await Promise.allSettled(acks);
    let failed = false;
    const outcomes = settled.map((s, i): EventOutcome => {
      if (s.status === 'fulfilled') {
        if (s.value.duplicate) this.counters.duplicates++;
        return { status: 'delivered' };
      }
      failed = true;
      const msg = errorMessage(s.reason);
      // No stream captures the subject: nothing a retry will fix until someone creates one.
      // (The client reports a publish nobody answers as "jetstream is not enabled".)
      if (/no responders|503|jetstream is not enabled/i.test(msg))
        return {
          status: 'unavailable',
          error: `nats sink: no JetStream stream takes subject ${this.subjects.of(batch[i] as Envelope)} (${msg}); create one, or set createStream`,
        };
      return { status: 'retry', error: `nats sink: ${msg}` };
    });
    return failed ? outcomes : undefined;
  }

  async drain(): Promise<void> {
    await this.nc?.flush().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.nc?.close().catch(() => undefined);
    this.nc = null;
    this.js = null;
  }

  stats(): Record<string, number> {
    return { ...this.counters };
  }
}
