/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): HMAC-SHA256 over
 * `<webhook-id>.<webhook-timestamp>.<body>` keyed with the base64 part of a `whsec_` secret,
 * sent as `v1,<base64 signature>`; several signatures are space-separated (secret rotation).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export function secretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
}

export function signatureHeader(keys: readonly Buffer[], id: string, timestampSeconds: number, body: string): string {
  const content = `${id}.${timestampSeconds}.${body}`;
  return keys.map((k) => `v1,${createHmac('sha256', k).update(content).digest('base64')}`).join(' ');
}

/**
 * Whether `header` (space-separated `v1,<base64>` entries) holds a valid signature of the content
 * under any of the keys; compared in constant time.
 */
export function verifySignature(keys: readonly Buffer[], id: string, timestamp: string, body: Buffer, header: string): boolean {
  const content = Buffer.concat([Buffer.from(`${id}.${timestamp}.`), body]);
  const given = header
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => Buffer.from(s.slice(3), 'base64'));
  for (const k of keys) {
    const want = createHmac('sha256', k).update(content).digest();
    if (given.some((g) => g.length === want.length && timingSafeEqual(g, want))) return true;
  }
  return false;
}
