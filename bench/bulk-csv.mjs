// Bulk API 2.0 result pages (CSV) into rows: the bridge's own RFC 4180 reader (parseCsv in
// src/salesforce/bulk-export.ts) against csv-parse, the maintained library, on a page as the Bulk
// API sends it: 10,000 rows of a 43-field Account export with quoted commas, doubled quotes, line
// breaks inside quotes and empty cells. Both must give the same rows (checked).
//
//   node bench/bulk-csv.mjs [--rounds 5] [--rows 10000]
import { deepStrictEqual } from 'node:assert';
import { parse } from 'csv-parse/sync';
import { parseCsv } from '../dist/salesforce/bulk-export.js';
import { arg } from './lib.mjs';

const ROUNDS = Number(arg('rounds', 5));
const ROWS = Number(arg('rows', 10_000));
const COLUMNS = 43;

const quote = (s) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
const header = ['Id', 'Name', 'Description', ...Array.from({ length: COLUMNS - 3 }, (_, i) => `Field${i}__c`)];
const lines = [header.join(',')];
for (let r = 0; r < ROWS; r++) {
  const cells = [`001000000000${String(r).padStart(6, '0')}AAA`, `Acme ${r}, Inc.`, r % 10 === 0 ? `line one\nline "two" of ${r}` : ''];
  for (let c = 3; c < COLUMNS; c++) cells.push(c % 4 === 0 ? '' : c % 4 === 1 ? String(r * c) : `value ${r}-${c}`);
  lines.push(cells.map(quote).join(','));
}
const page = `${lines.join('\n')}\n`;

const library = (text) => parse(text, { relax_column_count: true });
deepStrictEqual(library(page), parseCsv(page));

function time(fn) {
  const t0 = process.hrtime.bigint();
  fn(page);
  return Number(process.hrtime.bigint() - t0) / 1e6; // ms per page
}
const rows = { 'parseCsv (ours)': [], 'csv-parse 7 (sync)': [] };
for (let r = 0; r < ROUNDS; r++) {
  rows['parseCsv (ours)'].push(time(parseCsv));
  rows['csv-parse 7 (sync)'].push(time(library));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mb = Buffer.byteLength(page) / 1024 / 1024;
console.log(`one Bulk API result page: ${ROWS} rows x ${COLUMNS} columns, ${mb.toFixed(1)} MB; median of ${ROUNDS} rounds`);
console.table(
  Object.entries(rows).map(([parser, xs]) => ({
    parser,
    'ms per page': Math.round(median(xs)),
    'µs per row': ((median(xs) * 1000) / ROWS).toFixed(2),
    'MB/s': Math.round(mb / (median(xs) / 1000)),
  })),
);
