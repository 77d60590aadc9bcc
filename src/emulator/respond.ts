/** JSON responses shared by the emulator's HTTP handlers (its own module, so handlers do not import the router). */
import type { ServerResponse } from 'node:http';

/**
 * JSON text in which BigInt values are written as plain integer literals, as Salesforce writes
 * numbers beyond 2^53 (a CDC commitNumber such as 1725346778429841409).
 */
export function jsonText(body: unknown): string {
  let big = false;
  const text = JSON.stringify(body, (_k, v) => {
    if (typeof v !== 'bigint') return v;
    big = true;
    return `\u0000big:${v}`;
  });
  return big ? text.replace(/"\\u0000big:(-?\d+)"/g, '$1') : text;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = jsonText(body);
  res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
