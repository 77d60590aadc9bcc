/**
 * NATS JetStream sink (issue 31) against the real NATS with JetStream on 127.0.0.1:4222: 10,000
 * CDC events from the emulator, read back with a JetStream consumer: every ledger event once, each
 * record's changes in order on its subject, headers and Nats-Msg-Id; a subject no stream takes is
 * a clear stop.
 */
import { randomUUID } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBridge } from '../helpers/bridge.js';
import { startEmulator, type TestEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/fakes.js';
import { tempDir } from '../helpers/tmp.js';
import { expectLedgerInRecordOrder } from '../reliability/harness.js';

const NATS = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const CHANNEL = '/data/AccountChangeEvent';

/** Every message of a stream, in stream order, with its headers. */
async function readStream(
  stream: string,
): Promise<Array<{ subject: string; envelope: any; msgId: string | undefined; replayId: string | undefined; ceType: string | undefined }>> {
  const nc = await connect({ servers: NATS });
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const total = (await jsm.streams.info(stream)).state.messages;
    const consumer = await js.consumers.get(stream);
    const out: Array<{
      subject: string;
      envelope: any;
      msgId: string | undefined;
      replayId: string | undefined;
      ceType: string | undefined;
    }> = [];
    while (out.length < total) {
      const msgs = await consumer.fetch({ max_messages: 1000, expires: 2000 });
      for await (const m of msgs)
        out.push({
          subject: m.subject,
          envelope: m.json(),
          msgId: m.headers?.get('Nats-Msg-Id'),
          replayId: m.headers?.get('replay-id'),
          ceType: m.headers?.get('ce-type'),
        });
    }
    return out;
  } finally {
    await nc.close();
  }
}

describe('nats sink', () => {
  let t: TestEmulator;
  beforeAll(async () => {
    t = await startEmulator();
  });
  afterAll(async () => t?.stop());

  it('10,000 change events reach the stream: every ledger event once, each record in order on its subject', async () => {
    const tag = `it${randomUUID().slice(0, 8)}`;
    const stream = `IT_${tag}`;
    const b = makeBridge(t, tempDir(), [
      {
        name: 'nats',
        source: { type: 'pubsub', org: 'emu', topic: CHANNEL, initial: 'latest' },
        sinks: [
          {
            type: 'nats',
            servers: [NATS],
            subject: `${tag}.{channel}`,
            cloudEvents: true,
            createStream: { name: stream, subjects: [`${tag}.>`] },
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
    const got = await readStream(stream);
    expect(got).toHaveLength(10_000);
    expect(new Set(got.map((m) => m.msgId)).size).toBe(10_000);
    expectLedgerInRecordOrder(
      ledger,
      got.map((m) => m.envelope),
    );
    for (const m of got) {
      expect(m.subject).toBe(`${tag}.data.AccountChangeEvent`);
      expect(m.msgId).toBe(m.envelope.eventId);
      expect(m.replayId).toBe(m.envelope.replayId);
      expect(m.ceType).toBe('com.salesforce.cdc.AccountChangeEvent');
    }
    const nc = await connect({ servers: NATS });
    await (await jetstreamManager(nc)).streams.delete(stream);
    await nc.close();
  });

  it('a subject no stream takes stops the route with one line saying so', async () => {
    const b = makeBridge(
      t,
      tempDir(),
      [
        {
          name: 'nowhere',
          source: { type: 'pubsub', org: 'emu', topic: CHANNEL, initial: 'latest' },
          sinks: [{ type: 'nats', servers: [NATS], subject: `nobody${randomUUID().slice(0, 8)}.{channel}` }],
        },
      ],
      { onRouteFailure: 'stop' },
    );
    await b.bridge.start();
    await t.subscribed(CHANNEL);
    await t.admin('records/create', { object: 'Account', count: 1 });
    await until(() => b.bridge.status().routes[0]?.state === 'failed', 30_000, 'the route stops');
    const st = b.bridge.status().routes[0];
    await b.bridge.stop();
    expect(st?.error).toMatch(/no JetStream stream takes subject nobody\w+\.data\.AccountChangeEvent .*create one, or set createStream/);
  });
});
