/**
 * RabbitMQ sink (issue 31) against the real RabbitMQ on 127.0.0.1:5672: 10,000 CDC events from the
 * emulator through publisher confirms into a declared quorum queue, read back with a consumer:
 * every ledger event, each record in order; an unroutable message refused naming its routing key.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileDeadLetterStore } from '../../src/deadletter/file-store.js';
import { makeBridge } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';
import { expectLedgerInRecordOrder } from '../reliability/harness.js';

const AMQP = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const CHANNEL = '/data/AccountChangeEvent';

/** Every message in `queue` (consumed and acknowledged), in queue order. */
async function drainQueue(queue: string, n: number): Promise<Array<{ key: string; id: string; body: any }>> {
  const conn = await amqp.connect(AMQP);
  const ch = await conn.createChannel();
  const out: Array<{ key: string; id: string; body: any }> = [];
  await ch.prefetch(500);
  await ch.consume(queue, (m) => {
    if (!m) return;
    out.push({ key: m.fields.routingKey, id: m.properties.messageId, body: JSON.parse(m.content.toString('utf8')) });
    ch.ack(m);
  });
  await until(() => out.length >= n, 30_000, `${n} messages from ${queue}`);
  await ch.close();
  await conn.close();
  return out;
}

describe('rabbitmq sink', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  it('10,000 change events reach a quorum queue: every ledger event, each record in order', async () => {
    const tag = randomUUID().slice(0, 8);
    const queue = `it-${tag}`;
    const b = makeBridge(t, tempDir(), [
      {
        name: 'rmq',
        source: { type: 'pubsub', org: 'emu', topic: CHANNEL, initial: 'latest' },
        sinks: [
          {
            type: 'rabbitmq',
            url: AMQP,
            exchange: `it-${tag}`,
            routingKey: 'sf.{channel}',
            queue: { name: queue, bindingKey: 'sf.#', quorum: true },
          },
        ],
      },
    ]);
    await b.bridge.start();
    await t.subscribed(CHANNEL);
    const before = (await t.ledger(CHANNEL)).length;
    await t.admin('events/emit', { spec: 'cdc:Account', count: 10_000 });
    const ledger = (await t.ledger(CHANNEL)).slice(before);
    await until(() => (b.bridge.status().routes[0]?.eventsCommitted ?? 0) >= 10_000, 60_000, '10,000 committed');
    await b.bridge.stop();
    const got = await drainQueue(queue, 10_000);
    expectLedgerInRecordOrder(
      ledger,
      got.map((m) => m.body),
    );
    for (const m of got) {
      expect(m.key).toBe('sf.data.AccountChangeEvent');
      expect(m.id).toBe(m.body.eventId);
    }
    const conn = await amqp.connect(AMQP);
    const ch = await conn.createChannel();
    await ch.deleteQueue(queue);
    await ch.deleteExchange(`it-${tag}`);
    await conn.close();
  });

  it('a message no queue takes is refused, naming the routing key, and dead-lettered', async () => {
    const dir = tempDir();
    const b = makeBridge(t, dir, [
      {
        name: 'unroutable',
        source: { type: 'pubsub', org: 'emu', topic: CHANNEL, initial: 'latest' },
        sinkOutage: { mode: 'dead-letter' },
        sinks: [{ type: 'rabbitmq', url: AMQP, exchange: `it-none-${randomUUID().slice(0, 8)}`, routingKey: 'nowhere.{channel}' }],
      },
    ]);
    await b.bridge.start();
    await t.subscribed(CHANNEL);
    await t.admin('records/create', { object: 'Account', count: 3 });
    await until(() => (b.bridge.status().routes[0]?.eventsCommitted ?? 0) >= 3, 20_000, '3 committed');
    await b.bridge.stop();
    const dl = await new FileDeadLetterStore({ type: 'file', dir: join(dir, 'dead-letters'), fsync: true }).list();
    expect(dl).toHaveLength(3);
    expect(dl[0]?.error).toMatch(/no queue is bound for routing key "nowhere\.data\.AccountChangeEvent"/);
  });
});
