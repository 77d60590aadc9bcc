/**
 * Amazon SQS sink (issue 31) against ElasticMQ, an SQS-compatible server started by the test setup
 * (scripts/elasticmq.mjs): 10,000 CDC events into a FIFO queue (group = record, deduplication id =
 * event id), received back: every ledger event, each record in order; an event over 256 KiB refused
 * naming its size.
 */
import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, DeleteMessageBatchCommand, DeleteQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { SqsSink } from '../../src/sinks/sqs/sqs-sink.js';
import { makeBridge } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { service } from '../helpers/services.js';
import { tempDir } from '../helpers/tmp.js';
import { expectLedgerInRecordOrder } from '../reliability/harness.js';

const sqs = service('sqs');
const CHANNEL = '/data/AccountChangeEvent';
// ElasticMQ takes any credentials; the bridge reads them from the standard AWS chain.
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';

/** Receive (and delete) every message of a queue until `n` arrived. */
async function receiveAll(client: SQSClient, queueUrl: string, n: number): Promise<any[]> {
  const out: any[] = [];
  const start = Date.now();
  while (out.length < n && Date.now() - start < 60_000) {
    const r = await client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    const msgs = r.Messages ?? [];
    for (const m of msgs) out.push(JSON.parse(m.Body as string));
    if (msgs.length > 0)
      await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle as string })),
        }),
      );
  }
  return out;
}

describe.skipIf(!sqs.url)(`sqs sink ${sqs.reason ?? ''}`, () => {
  const endpoint = sqs.url as string;
  let t: TestEmulator;
  let client: SQSClient;
  beforeAll(async () => {
    t = await startEmulator();
    client = new SQSClient({ region: 'us-east-1', endpoint });
  });
  afterAll(async () => {
    client?.destroy();
    await t?.stop();
  });

  it('10,000 change events into a FIFO queue: every ledger event, each record in order', async () => {
    const q = await client.send(
      new CreateQueueCommand({ QueueName: `it-${randomUUID().slice(0, 8)}.fifo`, Attributes: { FifoQueue: 'true' } }),
    );
    const queueUrl = q.QueueUrl as string;
    const b = makeBridge(t, tempDir(), [
      {
        name: 'sqs',
        source: { type: 'pubsub', org: 'emu', topic: CHANNEL, initial: 'latest' },
        sinks: [{ type: 'sqs', queueUrl, endpoint, region: 'us-east-1' }],
      },
    ]);
    await b.bridge.start();
    await t.subscribed(CHANNEL);
    const before = (await t.ledger(CHANNEL)).length;
    await t.admin('events/emit', { spec: 'cdc:Account', count: 10_000 });
    const ledger = (await t.ledger(CHANNEL)).slice(before);
    await until(() => (b.bridge.status().routes[0]?.eventsCommitted ?? 0) >= 10_000, 90_000, '10,000 committed');
    const st = b.bridge.status().routes[0];
    await b.bridge.stop();
    const got = await receiveAll(client, queueUrl, 10_000);
    expect(got).toHaveLength(10_000);
    expectLedgerInRecordOrder(ledger, got);
    expect(Number(st?.sinks[0]?.stats?.batches)).toBeGreaterThanOrEqual(1000);
    await client.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
  }, 180_000);

  it('an event over 256 KiB is refused, naming its size; the rest of the batch goes', async () => {
    const q = await client.send(new CreateQueueCommand({ QueueName: `it-${randomUUID().slice(0, 8)}` }));
    const queueUrl = q.QueueUrl as string;
    const sink = new SqsSink(
      { type: 'sqs', queueUrl, endpoint, region: 'us-east-1', messageGroup: 'recordId' },
      { route: 'r', log: silentLogger() },
    );
    await sink.open();
    const e = (i: number, size: number) => ({
      v: 1,
      org: 'o',
      channel: '/event/Big__e',
      replayId: String(i),
      eventId: `e${i}`,
      schemaId: null,
      eventTime: null,
      receivedAt: '',
      kind: 'platform' as const,
      payload: { text: 'x'.repeat(size) },
    });
    const r = await sink.write([e(1, 10), e(2, 300_000), e(3, 10)]);
    await sink.close();
    expect(r?.[0]).toEqual({ status: 'delivered' });
    expect(r?.[1]).toMatchObject({ status: 'rejected' });
    expect((r?.[1] as { error?: string } | undefined)?.error).toMatch(
      /the event is 300\d{3} bytes, over SQS's 262144-byte message limit; make it smaller with fields or transform/,
    );
    expect(r?.[2]).toEqual({ status: 'delivered' });
    expect((await receiveAll(client, queueUrl, 2)).map((m) => m.eventId).sort()).toEqual(['e1', 'e3']);
    await client.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
  });
});
