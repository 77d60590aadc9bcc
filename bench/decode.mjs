// Decode cost in isolation: real change events from the emulator (40-field Account, or a wide
// custom object with --fields N) are captured once, then decoded in this process the way the
// Pub/Sub subscriber does (Avro -> envelope, bitmaps decoded, and the envelope's JSON bytes, which
// the file and Kafka sinks write as they are), then read back as JSON text (envelopeJson: what
// the webhook and stdout sinks send), in a loop. Reports CPU-microseconds per event for each, so a
// change to either can be judged without the noise of a whole-bridge run.
//   npm run build && node bench/decode.mjs [--events 20000] [--rounds 9] [--fields 600]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, median, preload, startEmulatorProcess, wideObjectEmulatorArgs } from './lib.mjs';

const EVENTS = Number(arg('events', 20_000));
const ROUNDS = Number(arg('rounds', 9));
const FIELDS = Number(arg('fields', 40));
const WIDE = FIELDS > 40;
const TOPIC = WIDE ? '/data/Wide__ChangeEvent' : '/data/AccountChangeEvent';

const { authMetadata, createPubSubClient } = await import('../dist/salesforce/pubsub-client.js');
const { parseSchema } = await import('../dist/subscribers/pubsub/avro.js');
const { toEnvelope } = await import('../dist/subscribers/pubsub/decode.js');
const { envelopeJson } = await import('../dist/envelope.js');

const work = mkdtempSync(join(tmpdir(), 'sfbridge-decode-'));
const emuArgs = WIDE ? wideObjectEmulatorArgs(work, FIELDS) : [];
const emu = await startEmulatorProcess(emuArgs);
try {
  if (!WIDE)
    for (const name of ['Tier__c', 'Region__c']) await emu.admin('schema/change', { target: 'Account', field: { name, type: 'string' } });
  const first = await preload(emu, WIDE ? 'cdc:Wide__c' : 'cdc:Account', EVENTS);
  const client = createPubSubClient({ endpoint: emu.info.pubsubEndpoint, ca: emu.ca });
  const md = authMetadata({ accessToken: await emu.token(), instanceUrl: emu.info.instanceUrl, orgId: emu.info.orgId });
  const captured = await capture(client, md, first);
  const ids = [...new Set(captured.map((e) => e.event.schema_id))];
  const schemas = new Map();
  for (const id of ids) {
    const json = await new Promise((resolve, reject) =>
      client.GetSchema({ schema_id: id }, md, (err, r) => (err ? reject(err) : resolve(r.schema_json))),
    );
    schemas.set(id, parseSchema(id, json));
  }
  client.close();

  const decodeUs = [];
  const jsonUs = [];
  let bytes = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const receivedAt = new Date().toISOString();
    const c0 = process.cpuUsage();
    const envelopes = captured.map((raw) => toEnvelope(raw, schemas.get(raw.event.schema_id), TOPIC, emu.info.orgId, receivedAt));
    const c1 = process.cpuUsage(c0);
    bytes = 0;
    for (const e of envelopes) bytes += envelopeJson(e).length;
    const c2 = process.cpuUsage(c0);
    decodeUs.push((c1.user + c1.system) / captured.length);
    jsonUs.push((c2.user + c2.system - c1.user - c1.system) / captured.length);
  }
  const row = {
    events: captured.length,
    fields: FIELDS,
    avgEnvelopeBytes: Math.round(bytes / captured.length),
    // Best of the rounds: the figure least disturbed by other work on the machine; medians beside.
    decodeCpuUsPerEvent: Math.min(...decodeUs).toFixed(2),
    jsonCpuUsPerEvent: Math.min(...jsonUs).toFixed(2),
    cpuSecondsPerMillion: (Math.min(...decodeUs) + Math.min(...jsonUs)).toFixed(1),
    medianDecodeUs: median(decodeUs).toFixed(2),
    medianJsonUs: median(jsonUs).toFixed(2),
  };
  console.log(JSON.stringify(row));
} finally {
  await emu.stop();
  rmSync(work, { recursive: true, force: true });
}

function capture(client, md, firstReplayId) {
  const replay = Buffer.alloc(8);
  replay.writeBigUInt64BE(BigInt(firstReplayId - 1));
  const out = [];
  return new Promise((resolve, reject) => {
    const call = client.Subscribe(md);
    call.on('data', (r) => {
      out.push(...r.events);
      if (r.events.length > 0) call.write({ num_requested: r.events.length });
      if (out.length >= EVENTS) {
        call.cancel();
        resolve(out.slice(0, EVENTS));
      }
    });
    call.on('error', (e) => (e.code === 1 ? resolve(out) : reject(e)));
    call.write({ topic_name: TOPIC, replay_preset: 'CUSTOM', replay_id: replay, num_requested: 100 });
  });
}
