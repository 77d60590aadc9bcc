/** Salesforce-shaped identifiers: 18-character case-safe ids, org ids, tokens. */
import { randomBytes, randomInt } from 'node:crypto';

const SUFFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
const BODY_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** The 3-character suffix that makes a 15-character id case-insensitive-safe. */
export function caseSafeSuffix(id15: string): string {
  let out = '';
  for (let chunk = 0; chunk < 3; chunk++) {
    let bits = 0;
    for (let i = 0; i < 5; i++) {
      const c = id15.charCodeAt(chunk * 5 + i);
      if (c >= 65 && c <= 90) bits |= 1 << i;
    }
    out += SUFFIX_ALPHABET[bits];
  }
  return out;
}

/** A new 18-character id with a 3-character key prefix (e.g. 001 for Account). */
export function newId(prefix: string): string {
  let body = prefix;
  // Pod/instance digits then a random tail, as real ids look (e.g. 0015g00000AbCdE).
  body += '5g0000';
  while (body.length < 15) body += BODY_ALPHABET[randomInt(BODY_ALPHABET.length)];
  return body + caseSafeSuffix(body);
}

/**
 * Access tokens look like Salesforce's: `<15-character org id>!<opaque>` (the case-sensitive
 * form, as real orgs issue them); clients parse the org id from them.
 */
export function newAccessToken(orgId: string): string {
  return `${orgId.slice(0, 15)}!${randomBytes(48).toString('base64url').replace(/[-_]/g, 'A')}`;
}

export function newOpaque(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}
