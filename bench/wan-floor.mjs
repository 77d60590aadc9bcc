// The floor of catch-up over a link (bench/wan.mjs): the least a Pub/Sub subscriber can do. It
// subscribes from EARLIEST, asks for as many events again the moment a response arrives, and does
// nothing else (no decode, no write). Its HTTP/2 window is the bridge's (both use
// dist/salesforce/pubsub-client.js), so the link, the server and the protocol are all it measures.
// Prints {"events": N, "secs": S}: N counted after its first batch had arrived, over S seconds from then.
//   node bench/wan-floor.mjs ENDPOINT INSTANCE_URL ORG_ID CA_PATH TOPIC COUNT  (token on stdin)
import { readFileSync } from 'node:fs';
import { authMetadata, createPubSubClient } from '../dist/salesforce/pubsub-client.js';

const [endpoint, instanceUrl, orgId, caPath, topic, count] = process.argv.slice(2);
const accessToken = readFileSync(0, 'utf8').trim();
const client = createPubSubClient({ endpoint, ca: readFileSync(caPath, 'utf8') });
const call = client.Subscribe(authMetadata({ accessToken, instanceUrl, orgId }));
let got = 0;
let base = null;
let t0 = 0n;
call.on('data', (res) => {
  const n = res.events?.length ?? 0;
  if (n === 0) return;
  call.write({ num_requested: n });
  got += n;
  if (base === null) {
    base = got;
    t0 = process.hrtime.bigint();
  }
  if (got >= Number(count)) {
    process.stdout.write(`${JSON.stringify({ events: got - base, secs: Number(process.hrtime.bigint() - t0) / 1e9 })}\n`);
    process.exit(0);
  }
});
call.on('error', (err) => {
  console.error(`wan floor subscriber: ${err.message}`);
  process.exit(1);
});
call.write({ topic_name: topic, replay_preset: 'EARLIEST', num_requested: 100 });
