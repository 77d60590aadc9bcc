// A webhook receiver for sfbridge, correct with an at-least-once sender:
// - verifies the Standard Webhooks signature (several secrets at once, so secrets can rotate) and
//   rejects stale or future timestamps (the package allows 5 minutes either way);
// - de-duplicates by `webhook-id` (sfbridge sends the event id, the same on every re-delivery);
// - answers 2xx only after its own durable write (append + fsync), so an acknowledged event is
//   never lost here;
// - answers 429 with Retry-After while it is saturated, 503 with Retry-After while its storage
//   fails (sfbridge retries both, honouring Retry-After), 400 to a bad body and 401 to a bad
//   signature (sfbridge dead-letters those: retrying cannot fix them). It would answer 410 only to
//   ask the sender to stop for good.
//
//   WEBHOOK_SECRETS=whsec_...[,whsec_...] OUT=events.ndjson [PORT=8090] [MAX_INFLIGHT=64] node server.mjs
// Prints "listening on http://127.0.0.1:PORT" once ready. Needs: Node.js >= 20, npm i standardwebhooks.
import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Webhook } from 'standardwebhooks';

const secrets = (process.env.WEBHOOK_SECRETS ?? '').split(',').filter(Boolean);
const out = process.env.OUT ?? 'events.ndjson';
const maxInflight = Number(process.env.MAX_INFLIGHT ?? 64);
if (secrets.length === 0) {
  console.error('set WEBHOOK_SECRETS to the whsec_ secret(s) of the sfbridge webhook sink');
  process.exit(2);
}
const verifiers = secrets.map((s) => new Webhook(s));

// Ids already stored: loaded from the output file, so duplicates are dropped across restarts too.
const seen = new Set();
if (existsSync(out)) {
  for (const line of readFileSync(out, 'utf8').split('\n')) if (line) seen.add(JSON.parse(line).webhookId);
}

let inflight = 0;

function verify(body, headers) {
  for (const v of verifiers) {
    try {
      return v.verify(body, headers);
    } catch (err) {
      if (/timestamp/i.test(String(err?.message))) throw err; // stale or future: no key helps
    }
  }
  throw new Error('no secret matches the signature');
}

function store(record) {
  const fd = openSync(out, 'a', 0o600);
  try {
    appendFileSync(fd, `${JSON.stringify(record)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

const server = createServer((req, res) => {
  if (req.method !== 'POST') return void res.writeHead(405).end();
  if (inflight >= maxInflight) return void res.writeHead(429, { 'retry-after': '2' }).end('busy\n');
  inflight++;
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    try {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = {
        'webhook-id': req.headers['webhook-id'],
        'webhook-timestamp': req.headers['webhook-timestamp'],
        'webhook-signature': req.headers['webhook-signature'],
      };
      let payload;
      try {
        payload = verify(body, headers);
      } catch (err) {
        return void res.writeHead(401).end(`${err.message}\n`);
      }
      const id = String(headers['webhook-id']);
      if (seen.has(id)) return void res.writeHead(200).end('duplicate\n'); // already stored: acknowledge again
      // One POST is one envelope (body: event) or {"events": [...]} (body: batch).
      const events = Array.isArray(payload?.events) ? payload.events : [payload];
      if (events.some((e) => typeof e?.eventId !== 'string')) return void res.writeHead(400).end('not an sfbridge envelope\n');
      try {
        store({ webhookId: id, events });
      } catch (err) {
        return void res.writeHead(503, { 'retry-after': '5' }).end(`storage failed: ${err.message}\n`);
      }
      seen.add(id);
      res.writeHead(204).end();
    } finally {
      inflight--;
    }
  });
});

server.listen(Number(process.env.PORT ?? 8090), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
