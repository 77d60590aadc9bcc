/**
 * Amazon SQS sink (AWS SDK v3): events go in `SendMessageBatch` calls of at most 10 entries and
 * 256 KiB, and each entry's result is that event's outcome (a sender fault is a rejection, the
 * rest a retry). FIFO queues (`.fifo`) get `MessageGroupId` = the record key, so one record's
 * changes stay in order, and `MessageDeduplicationId` = the event id, so SQS drops a redelivery
 * within its 5-minute deduplication interval. An event larger than SQS's 256 KiB is refused,
 * naming its size (shape it smaller with `fields` or `transform`).
 */
import { createHash } from 'node:crypto';
import type { SendMessageBatchCommandOutput, SendMessageBatchRequestEntry, SQSClient } from '@aws-sdk/client-sqs';
import { type Envelope, envelopeJson } from '../../envelope.js';
import { errorMessage, RetriableError } from '../../errors.js';
import { recordKey } from '../record-key.js';
import type { EventOutcome, Sink, SinkContext } from '../types.js';
import type { SqsSinkConfig } from './config.js';

/** SQS's limits: entries per batch, bytes per message and per batch. */
const MAX_ENTRIES = 10;
const MAX_BYTES = 262_144;

/** Deduplication ids are at most 128 characters: a longer event id is hashed. */
const dedupId = (id: string) =>
  id.length <= 128 && /^[\w!"#$%&'()*+,\-./:;<=>?@[\\\]^`{|}~]+$/.test(id) ? id : createHash('sha256').update(id).digest('hex');

export class SqsSink implements Sink {
  private client: SQSClient | null = null;
  /** Loaded with the client at open (not on every write). */
  private Command: typeof import('@aws-sdk/client-sqs').SendMessageBatchCommand | null = null;
  private readonly fifo: boolean;
  private readonly counters = { bytesWritten: 0, batches: 0 };

  constructor(
    private readonly config: SqsSinkConfig,
    _ctx: SinkContext,
  ) {
    this.fifo = config.queueUrl.endsWith('.fifo');
  }

  describe(): string {
    return `sqs ${this.config.queueUrl}${this.fifo ? ' (FIFO)' : ''}`;
  }

  async open(): Promise<void> {
    const { SQSClient: Client, SendMessageBatchCommand } = await import('@aws-sdk/client-sqs');
    this.Command = SendMessageBatchCommand;
    const region =
      this.config.region ?? process.env.AWS_REGION ?? /sqs\.([a-z0-9-]+)\.amazonaws/.exec(this.config.queueUrl)?.[1] ?? 'us-east-1';
    this.client = new Client({ region, endpoint: this.config.endpoint, maxAttempts: 1 });
  }

  async write(batch: readonly Envelope[]): Promise<EventOutcome[] | undefined> {
    const client = this.client;
    if (!client) throw new RetriableError('SINK_UNAVAILABLE', 'sqs sink used before open()');
    const SendMessageBatchCommand = this.Command as typeof import('@aws-sdk/client-sqs').SendMessageBatchCommand;
    const outcomes: EventOutcome[] = batch.map(() => ({ status: 'delivered' }));
    let chunk: Array<{ i: number; entry: SendMessageBatchRequestEntry; bytes: number }> = [];
    let chunkBytes = 0;
    const send = async () => {
      if (chunk.length === 0) return;
      const entries = chunk;
      chunk = [];
      chunkBytes = 0;
      let r: SendMessageBatchCommandOutput;
      try {
        r = await client.send(new SendMessageBatchCommand({ QueueUrl: this.config.queueUrl, Entries: entries.map((c) => c.entry) }));
      } catch (err) {
        const e = err as { $fault?: string; name?: string };
        const error = `sqs sink: ${e.name ?? 'error'}: ${errorMessage(err)}`;
        for (const c of entries)
          outcomes[c.i] =
            e.$fault === 'client' && e.name !== 'CredentialsProviderError' ? { status: 'unavailable', error } : { status: 'retry', error };
        return;
      }
      this.counters.batches++;
      for (const c of entries) this.counters.bytesWritten += c.bytes;
      for (const f of r.Failed ?? []) {
        const c = entries.find((x) => x.entry.Id === f.Id);
        if (!c) continue;
        const error = `sqs sink: ${f.Code ?? 'failed'}: ${f.Message ?? ''}`;
        outcomes[c.i] = f.SenderFault ? { status: 'rejected', error } : { status: 'retry', error };
      }
    };
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i] as Envelope;
      const body = envelopeJson(e);
      const bytes = Buffer.byteLength(body);
      if (bytes > MAX_BYTES) {
        outcomes[i] = {
          status: 'rejected',
          error: `sqs sink: the event is ${bytes} bytes, over SQS's ${MAX_BYTES}-byte message limit; make it smaller with fields or transform`,
        };
        continue;
      }
      if (chunk.length === MAX_ENTRIES || chunkBytes + bytes > MAX_BYTES) await send();
      const entry: SendMessageBatchRequestEntry = {
        Id: String(chunk.length),
        MessageBody: body,
        MessageAttributes: {
          'replay-id': { DataType: 'String', StringValue: e.replayId || '-' },
          channel: { DataType: 'String', StringValue: e.channel },
          kind: { DataType: 'String', StringValue: e.kind },
        },
      };
      if (this.fifo) {
        const key = this.config.messageGroup === 'none' ? 'all' : (recordKey(this.config.messageGroup, e) ?? e.eventId);
        entry.MessageGroupId = key.slice(0, 128);
        entry.MessageDeduplicationId = dedupId(e.eventId);
      }
      chunk.push({ i, entry, bytes });
      chunkBytes += bytes;
    }
    await send();
    return outcomes.every((o) => o.status === 'delivered') ? undefined : outcomes;
  }

  async drain(): Promise<void> {}

  async close(): Promise<void> {
    this.client?.destroy();
    this.client = null;
  }

  stats(): Record<string, number> {
    return { ...this.counters };
  }
}
