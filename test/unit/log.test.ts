import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, registerSecret } from '../../src/log.js';

function capture() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('logging', () => {
  it('redacts secrets by key, by known value and by shape, at every level', () => {
    const out = capture();
    const log = createLogger({ level: 'trace', format: 'json', destination: out.stream });
    registerSecret('00Dxx0000001gPL!AR8AQJXg5oj8jXSgxJfA0lBog.dAgm');
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJjbGllbnQifQ.c2lnbmF0dXJlLWJ5dGVz';
    for (const level of ['trace', 'debug', 'info', 'warn', 'error'] as const) {
      log[level](
        {
          auth: { accessToken: 'plain-token-123', refresh_token: 'rt-456', clientSecret: 'cs-789', password: 'pw-000', privateKey: 'pk' },
          headers: { Authorization: 'Bearer abcdefghijklmnop' },
          note: 'token 00Dxx0000001gPL!AR8AQJXg5oj8jXSgxJfA0lBog.dAgm in a string',
          assertionText: `assertion=${jwt}`,
        },
        `request with Bearer abcdefghijklmnop and ${jwt}`,
      );
    }
    const text = out.text();
    expect(text.split('\n').filter(Boolean)).toHaveLength(5);
    for (const secret of ['plain-token-123', 'rt-456', 'cs-789', 'pw-000', 'abcdefghijklmnop', 'AR8AQJXg5oj8jXSgxJfA0lBog', jwt]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('[redacted]');
  });

  it('redacts private keys inside error messages', () => {
    const out = capture();
    const log = createLogger({ level: 'info', format: 'json', destination: out.stream });
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----';
    log.error({ err: new Error(`could not parse ${pem}`) }, 'key problem');
    expect(out.text()).not.toContain('MIIEvQIBADANBgkqhkiG9w0BAQEFAASC');
  });
});
