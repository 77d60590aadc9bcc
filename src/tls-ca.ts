/**
 * One way to read an extra CA certificate (`caCertFile` of an org or a webhook sink): a clear
 * error naming the config field, and the certificate is *added to* the system's trusted roots,
 * never used instead of them (an org on real Salesforce and a private receiver can share one file).
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { BridgeError } from './errors.js';

/** The PEM text of `path` plus the system roots; throws a one-line error naming `field`. */
export function trustedCas(path: string, field: string): string {
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
