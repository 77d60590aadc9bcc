/**
 * One way to read an extra CA certificate (`caCertFile` of an org or a webhook sink): a clear
 * error naming the config field, and the certificate is *added to* the system's trusted roots,
 * never used instead of them (an org on real Salesforce and a private receiver can share one file).
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { BridgeError } from './errors.js';

const read = new Map<string, string>();
const contexts = new Map<string, SecureContext>();

/**
 * One TLS context per set of trusted CAs, shared by every connection that trusts it: a context
 * holding the system roots costs about a megabyte, so a hundred orgs that trust the same file
 * must not build one each (nor one per connection).
 */
export function sharedSecureContext(ca: string): SecureContext {
  let c = contexts.get(ca);
  if (!c) {
    c = createSecureContext({ ca });
    if (contexts.size < 64) contexts.set(ca, c);
  }
  return c;
}

/** The PEM text of `path` plus the system roots (read once); throws a one-line error naming `field`. */
export function trustedCas(path: string, field: string): string {
  const known = read.get(path);
  if (known) return known;
  const out = readTrustedCas(path, field);
  read.set(path, out);
  return out;
}

function readTrustedCas(path: string, field: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    throw new BridgeError('CA_FILE', `${field}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new BridgeError('CA_FILE', `${field}: ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  return [...rootCertificates, pem].join('\n');
}
