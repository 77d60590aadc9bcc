/**
 * Salesforce record ids come in two forms: 15 characters (case-sensitive, what access-token
 * prefixes carry) and 18 (the 15 plus a 3-character case checksum, what APIs return). The bridge
 * always reports the 18-character form. The checksum is public: for each 5-character chunk, a bit
 * per uppercase letter, read as an index into A–Z0–5.
 */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';

/** The 18-character form of a 15-character id; anything else is returned as it is. */
export function toId18(id: string): string {
  if (!/^[A-Za-z0-9]{15}$/.test(id)) return id;
  let suffix = '';
  for (let chunk = 0; chunk < 15; chunk += 5) {
    let bits = 0;
    for (let i = 0; i < 5; i++) if (/[A-Z]/.test(id[chunk + i] as string)) bits |= 1 << i;
    suffix += ALPHABET[bits];
  }
  return id + suffix;
}

/**
 * The `aud` of a JWT bearer assertion. Salesforce accepts only https://login.salesforce.com,
 * https://test.salesforce.com (sandboxes) or an Experience Cloud site URL — not a My Domain URL,
 * even though the token request itself may go to My Domain. So a production My Domain maps to
 * login, a sandbox one (and test.salesforce.com) to test; any other host (an Experience Cloud
 * site, a local emulator) is its own audience.
 */
export function jwtAudience(loginUrl: string): string {
  const u = new URL(loginUrl);
  const host = u.hostname.toLowerCase();
  if (host === 'test.salesforce.com' || host.endsWith('.sandbox.my.salesforce.com')) return 'https://test.salesforce.com';
  if (host === 'login.salesforce.com' || host.endsWith('.my.salesforce.com')) return 'https://login.salesforce.com';
  return `${u.origin}${u.pathname.replace(/\/$/, '')}`;
}
