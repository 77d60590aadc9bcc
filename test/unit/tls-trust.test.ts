/**
 * TLS trust against a local HTTPS server whose certificate is signed by its own CA:
 * certificateHint (src/tls-ca.ts) on the errors Node really raises (a CA the client was not given,
 * or given but asked for another host), and httpCall (src/http.ts) never reusing a connection
 * verified against a private CA for a request that does not trust it.
 */
import { once } from 'node:events';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTls, type TlsMaterial } from '../../src/emulator/tls.js';
import { httpCall } from '../../src/http.js';
import { certificateHint } from '../../src/tls-ca.js';
import { tempDir } from '../helpers/tmp.js';

describe('TLS trust', () => {
  let tls: TlsMaterial;
  let server: https.Server;
  let port: number;
  beforeAll(async () => {
    tls = await ensureTls(tempDir());
    server = https.createServer({ cert: tls.cert, key: tls.key }, (_req, res) => res.end('ok'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => server?.close());

  /** The error of one GET to the server, wrapped as callers wrap it. */
  const failure = (options: https.RequestOptions) =>
    new Promise<unknown>((resolve) => {
      const req = https.get({ host: '127.0.0.1', port, ...options }, () => resolve(null));
      req.on('error', (err) => resolve(new Error('request failed', { cause: err })));
    });

  it('a CA the client does not trust names the CA setting', async () => {
    const err = await failure({});
    expect(certificateHint(err, "the receiver's", 'caCertFile')).toMatch(
      /^the receiver's TLS certificate is not trusted \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)\): set caCertFile to the PEM of the CA that signed it$/,
    );
  });

  it('a certificate for another host says so', async () => {
    const err = await failure({ ca: tls.ca, servername: 'example.com' });
    expect(certificateHint(err, "the server's", 'orgs.prod.caCertFile')).toBe(
      "the server's TLS certificate is for another host name (ERR_TLS_CERT_ALTNAME_INVALID): connect by a name the certificate holds",
    );
  });

  it('an expired certificate points at it and the clock; anything else is not a certificate matter', async () => {
    expect(certificateHint({ code: 'CERT_HAS_EXPIRED' }, "the brokers'", 'caCertFile')).toMatch(
      /expired or not yet valid \(CERT_HAS_EXPIRED\)/,
    );
    expect(await failure({ ca: tls.ca })).toBeNull(); // trusted and for this host: no error at all
    expect(certificateHint(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), 'x', 'y')).toBeNull();
  });

  it('httpCall: a kept-alive connection that trusted a private CA is not reused by a request that does not', async () => {
    const url = `https://127.0.0.1:${port}/`;
    expect((await httpCall(url, { ca: tls.ca })).status).toBe(200);
    expect((await httpCall(url, { ca: tls.ca })).status).toBe(200); // pooled with its own kind
    await expect(httpCall(url)).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });
});
