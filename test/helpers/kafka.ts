import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';

/** Read every message of `topic` (read_committed by default) until `count` arrived or `timeoutMs`. */
export async function consumeAll(
  brokers: string,
  topic: string,
  count: number,
  opts: { readUncommitted?: boolean; timeoutMs?: number; raw?: boolean } = {},
) {
  const kafka = new Kafka({ brokers: brokers.split(','), clientId: 'sfbridge-test-reader', logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `reader-${randomUUID()}`, readUncommitted: opts.readUncommitted ?? false });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got: Array<{
    key: string | null;
    rawKey: Buffer | null;
    value: any;
    headers: Record<string, string>;
    partition: number;
    offset: string;
  }> = [];
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, opts.timeoutMs ?? 20_000);
    void consumer.run({
      eachMessage: async ({ message, partition }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
        got.push({
          key: message.key?.toString() ?? null,
          value: message.value ? (opts.raw ? message.value : JSON.parse(message.value.toString())) : null,
          rawKey: message.key ?? null,
          headers,
          partition,
          offset: message.offset,
        });
        if (got.length >= count) {
          clearTimeout(timer);
          // give the consumer a moment to see anything beyond `count` (duplicates)
          setTimeout(resolve, 1500);
        }
      },
    });
  });
  await consumer.disconnect();
  return got;
}

export function replaySeq(b64: string): bigint {
  return Buffer.from(b64, 'base64').readBigUInt64BE();
}

/**
 * Read `count` messages of `topic` from the beginning with @platformatic/kafka (it decodes every
 * compression codec the sink can write; kafkajs alone reads only gzip).
 */
export async function consumeDecoded(brokers: string, topic: string, count: number, timeoutMs = 20_000) {
  const { Consumer, MessagesStreamModes, stringDeserializers } = await import('@platformatic/kafka');
  const consumer = new Consumer({
    clientId: 'sfbridge-test-reader',
    bootstrapBrokers: brokers.split(','),
    groupId: `reader-${randomUUID()}`,
    deserializers: stringDeserializers,
  });
  const got: Array<{ key: string | undefined; value: any; headers: Record<string, string> }> = [];
  const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST, autocommit: false });
  const timer = setTimeout(() => stream.close(() => undefined), timeoutMs);
  try {
    for await (const m of stream) {
      got.push({ key: m.key, value: JSON.parse(m.value as string), headers: Object.fromEntries(m.headers as Map<string, string>) });
      if (got.length >= count) break;
    }
  } finally {
    clearTimeout(timer);
    await new Promise<void>((resolve) => stream.close(() => resolve()));
    await new Promise<void>((resolve) => consumer.close(true, () => resolve()));
  }
  return got;
}
