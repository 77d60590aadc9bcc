/**
 * JSON from Salesforce's CometD endpoint, parsed without losing integers: a CDC `commitNumber` is
 * beyond 2^53 (e.g. 1725346778429841409) and `JSON.parse` would round it. Integers outside the
 * safe range become decimal strings (the envelope's commitNumber is a string anyway); everything
 * else parses exactly as `JSON.parse` does.
 *
 * faye parses long-polling responses itself, so `useExactJsonInFaye` replaces the response
 * handler of faye's Node HTTP transport (the only transport the subscriber enables) with one that
 * differs only in the parse. It checks the method it replaces exists, so a faye upgrade that
 * moves it fails loudly (and the CometD tests with big commit numbers fail) instead of rounding.
 */
import { createRequire } from 'node:module';

/** Integer literals with this many digits or more may be unsafe; fewer never are. */
const MAYBE_UNSAFE = /\d{16}/;

export function parseExact(text: string): unknown {
  return JSON.parse(MAYBE_UNSAFE.test(text) ? quoteUnsafeIntegers(text) : text);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** The JSON text with every integer literal outside ±2^53 wrapped in quotes (strings untouched). */
export function quoteUnsafeIntegers(text: string): string {
  let out = '';
  let copied = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      // Skip a string literal, escapes included.
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 92) i++;
        else if (d === 34) break;
      }
      continue;
    }
    if (c !== 45 && !isDigit(c)) continue;
    let j = c === 45 ? i + 1 : i;
    while (j < text.length && isDigit(text.charCodeAt(j))) j++;
    const next = text.charCodeAt(j);
    if (next === 46 || next === 101 || next === 69) {
      // A fraction or exponent: a float, left as it is.
      while (j < text.length && /[0-9eE+\-.]/.test(text[j] as string)) j++;
    } else if (j - i >= 16 && !Number.isSafeInteger(Number(text.slice(i, j)))) {
      out += `${text.slice(copied, i)}"${text.slice(i, j)}"`;
      copied = j;
    }
    i = j - 1;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

interface FayeHttpTransport {
  _handleResponse(messages: unknown, response: NodeJS.ReadableStream & { setEncoding(e: string): void }): void;
  _receive(replies: unknown): void;
  _handleError(messages: unknown): void;
}

let installed = false;

/** Patch faye (once): exact JSON numbers in responses, and no proxy of its own. */
export function useExactJsonInFaye(): void {
  if (installed) return;
  const NodeHttp = createRequire(import.meta.url)('faye/src/transport/node_http') as { prototype: FayeHttpTransport };
  if (typeof NodeHttp?.prototype?._handleResponse !== 'function')
    throw new Error('faye changed: its Node HTTP transport has no _handleResponse; big CDC commit numbers would be rounded');
  NodeHttp.prototype._handleResponse = function (this: FayeHttpTransport, messages, response) {
    let body = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      body += chunk;
    });
    response.on('end', () => {
      let replies: unknown;
      try {
        replies = parseExact(body);
      } catch {
        replies = undefined;
      }
      if (replies) this._receive(replies);
      else this._handleError(messages);
    });
  };
  // Proxies are the bridge's (orgs.<name>.proxy, HTTPS_PROXY, NO_PROXY: src/proxy.ts), handed to
  // faye as a tunnelling agent; faye's own reading of the environment would bypass NO_PROXY and
  // cannot verify an emulator addressed by IP.
  const Transport = createRequire(import.meta.url)('faye/src/transport/transport') as {
    prototype: { _findProxy?: () => string | undefined };
  };
  if (typeof Transport?.prototype?._findProxy !== 'function') throw new Error('faye changed: its transport has no _findProxy');
  Transport.prototype._findProxy = () => undefined;
  installed = true;
}
