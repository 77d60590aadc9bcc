// How many events/s one Pub/Sub Subscribe stream of the emulator serves (receive only, no decode),
// so later benchmarks can show the emulator is not their bottleneck.
//   node bench/emulator-serve.mjs [--events 200000] [--runs 3]
import { authMetadata, createPubSubClient } from '../dist/salesforce/pubsub-client.js';
import { arg, median, preload, report, startEmulatorProcess } from './lib.mjs';

const EVENTS = Number(arg('events', 200_000));
const RUNS = Number(arg('runs', 3));

const emu = await startEmulatorProcess();
try {
  const first = await preload(emu, 'cdc:Account', EVENTS);
  const replay = Buffer.alloc(8);
  replay.writeBigUInt64BE(BigInt(first - 1));
  const rates = [];
  let bytes = 0;
  for (let run = 0; run < RUNS; run++) {
    const client = createPubSubClient({ endpoint: emu.info.pubsubEndpoint, ca: emu.ca });
    const md = authMetadata({ accessToken: await emu.token(), instanceUrl: emu.info.instanceUrl, orgId: emu.info.orgId });
    const t0 = process.hrtime.bigint();
    await new Promise((resolve, reject) => {
      const call = client.Subscribe(md);
      let got = 0;
      call.on('data', (r) => {
        got += r.events.length;
        for (const e of r.events) bytes += e.event.payload.length;
        // Ask again for what arrived: the server holds at most 100 requested events per Subscribe.
        if (r.events.length > 0) call.write({ num_requested: r.events.length });
        if (got >= EVENTS) {
          call.cancel();
          resolve();
        }
      });
      call.on('error', (e) => (e.code === 1 ? resolve() : reject(e)));
      call.write({ topic_name: '/data/AccountChangeEvent', replay_preset: 'CUSTOM', replay_id: replay, num_requested: 100 });
    });
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    rates.push(EVENTS / secs);
    client.close();
  }
  report('emulator-serve', [
    {
      scenario: 'one Subscribe stream, TLS, receive only',
      events: EVENTS,
      runs: RUNS,
      medianEventsPerSec: Math.round(median(rates)),
      allRuns: rates.map(Math.round).join(' / '),
      avgPayloadBytes: Math.round(bytes / (EVENTS * RUNS)),
    },
  ]);
} finally {
  await emu.stop();
}
