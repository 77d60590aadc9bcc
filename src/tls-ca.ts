/**
 * One way to read an extra CA certificate (`caCertFile` of an org, a webhook sink or Kafka): a
 * clear error naming the config field, and the certificate is *added to* the system's trusted
 * roots, never used instead of them (an org on real Salesforce and a private receiver can share
 * one file). And one way to say why a server's certificate was refused.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { BridgeError, nestedErrors } from './errors.js';

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

const UNTRUSTED =
  /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_UNTRUSTED)$/;
const OUT_OF_DATE = /^(CERT_HAS_EXPIRED|CERT_NOT_YET_VALID)$/;

/**
 * When a TLS connection failed for the server's certificate (found anywhere in the error's
 * causes): what is wrong with it and what to do, in words naming `whose` certificate and the CA
 * `setting`. Else null. A proxy that inspects TLS presents certificates signed by its own CA,
 * which is the "not trusted" case.
 */
export function certificateHint(err: unknown, whose: string, setting: string): string | null {
  const codes = nestedErrors(err)
    .map((e) => (e as { code?: unknown }).code)
    .filter((c): c is string => typeof c === 'string');
  const untrusted = codes.find((c) => UNTRUSTED.test(c));
  if (untrusted) return `${whose} TLS certificate is not trusted (${untrusted}): set ${setting} to the PEM of the CA that signed it`;
  const outOfDate = codes.find((c) => OUT_OF_DATE.test(c));
  if (outOfDate) return `${whose} TLS certificate is expired or not yet valid (${outOfDate}): check it, and this machine's clock`;
  if (codes.includes('ERR_TLS_CERT_ALTNAME_INVALID'))
    return `${whose} TLS certificate is for another host name (ERR_TLS_CERT_ALTNAME_INVALID): connect by a name the certificate holds`;
  return null;
}
