// CometD JSON without losing big integers: the bridge's own parser (src/subscribers/cometd/
// exact-json.ts: quote the unsafe integer literals, then JSON.parse) against lossless-json, the
// maintained library for the job, on the responses Salesforce's CometD endpoint sends: a
// /meta/connect answer carrying 100 change events of a 40-field object, each with a commitNumber
// beyond 2^53. Both must give the same value (checked); plain JSON.parse (which rounds) is the floor.
//
//   node bench/cometd-json.mjs [--rounds 5] [--iterations 2000]
import { deepStrictEqual } from 'node:assert';
import { readFileSync } from 'node:fs';
import { isInteger, parse as losslessParse } from 'lossless-json';
import { parseExact } from '../dist/subscribers/cometd/exact-json.js';
import { arg } from './lib.mjs';

const ROUNDS = Number(arg('rounds', 5));
const ITERATIONS = Number(arg('iterations', 2000));

const base = JSON.parse(readFileSync(new URL('../test/fixtures/salesforce/cometd-change-event.json', import.meta.url), 'utf8'));
const messages = [];
for (let i = 0; i < 100; i++) {
  const payload = { ...base.data.payload };
  for (let f = 0; f < 36; f++) payload[`Field${f}__c`] = f % 3 === 0 ? i * f + 0.5 : `value ${i} of field ${f} with some text`;
  const text = JSON.stringify({ ...base, data: { ...base.data, payload, event: { replayId: 1048213 + i } } });
  // A commitNumber past 2^53, as Salesforce writes it (a bare integer literal).
  messages.push(text.replace('"commitNumber":1725346778429841400', `"commitNumber":${1725346778429841409n + BigInt(i)}`));
}
messages.push(JSON.stringify({ channel: '/meta/connect', successful: true, clientId: 'abc', advice: { interval: 0, timeout: 110000 } }));
const response = `[${messages.join(',')}]`;

const lossless = (text) =>
  losslessParse(text, null, (s) => {
    const n = Number(s);
    return isInteger(s) && !Number.isSafeInteger(n) ? s : n;
  });

deepStrictEqual(lossless(response), parseExact(response));
if (!response.includes('1725346778429841409')) throw new Error('the sample lost its big integers');

function time(fn) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) fn(response);
  return Number(process.hrtime.bigint() - t0) / 1e3 / ITERATIONS; // µs per response
}

const rows = { 'JSON.parse (rounds: floor)': [], 'exact-json (ours)': [], 'lossless-json 4.3': [] };
for (let r = 0; r < ROUNDS; r++) {
  rows['JSON.parse (rounds: floor)'].push(time(JSON.parse));
  rows['exact-json (ours)'].push(time(parseExact));
  rows['lossless-json 4.3'].push(time(lossless));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const kb = Buffer.byteLength(response) / 1024;
console.log(`one /meta/connect response: 100 change events, ${kb.toFixed(0)} KB; median of ${ROUNDS} rounds x ${ITERATIONS}`);
console.table(
  Object.entries(rows).map(([parser, xs]) => ({
    parser,
    'µs per response': Math.round(median(xs)),
    'µs per event': (median(xs) / 100).toFixed(1),
    'MB/s': Math.round(kb / 1024 / (median(xs) / 1e6)),
  })),
);
