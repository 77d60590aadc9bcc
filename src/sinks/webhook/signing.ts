/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): HMAC-SHA256 over
 * `<webhook-id>.<webhook-timestamp>.<body>` keyed with the base64 part of a `whsec_` secret,
 * sent as `v1,<base64 signature>`; several signatures are space-separated (secret rotation).
 */
import { createHmac } from 'node:crypto';

export function secretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
}

export function signatureHeader(keys: readonly Buffer[], id: string, timestampSeconds: number, body: string): string {
  const content = `${id}.${timestampSeconds}.${body}`;
  return keys.map((k) => `v1,${createHmac('sha256', k).update(content).digest('base64')}`).join(' ');
}
