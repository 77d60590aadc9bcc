/**
 * Logging: pino, JSON on stderr by default, pretty when stderr is a TTY. Secrets are scrubbed at
 * every level in two ways: any key that names a secret is replaced, and every secret value the
 * bridge knows (registered from config and token responses) is cut out of any string.
 */
import { format as formatArgs } from 'node:util';
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';

const SECRET_KEY = /(token|secret|password|passwd|privatekey|private_key|authorization|apikey|api_key|assertion|signature|sessionid)/i;
const REDACTED = '[redacted]';
const knownSecrets = new Set<string>();

/** Make a value unloggable from now on (short values are skipped to avoid mangling logs). */
export function registerSecret(value: string | undefined | null): void {
  if (value && value.length >= 6) knownSecrets.add(value);
}

/** JSON for public endpoints (/status, /routes): every string passes the scrubber on its way out. */
export function scrubbedJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'string' ? scrubString(v) : v), 2);
}

export function scrubString(s: string): string {
  let out = s;
  for (const secret of knownSecrets) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  // Bearer headers and JWT-looking strings never belong in logs.
  return out
    .replace(/(Bearer|OAuth)\s+[A-Za-z0-9!._~+/=-]{8,}/g, `$1 ${REDACTED}`)
    .replace(/eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g, REDACTED)
    .replace(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g, REDACTED);
}

/**
 * A URL fit to print or serve: userinfo and query values replaced, path kept. Anything that does
 * not parse as a URL is returned scrubbed.
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return scrubString(url);
  }
  const auth = u.username || u.password ? `${REDACTED}@` : '';
  const query = [...u.searchParams.keys()].map((k) => `${encodeURIComponent(k)}=${REDACTED}`).join('&');
  return `${u.protocol}//${auth}${u.host}${u.pathname}${query ? `?${query}` : ''}`;
}

/** Register the secret parts of a URL (password, query values) so no log line can carry them. */
export function registerUrlSecrets(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return;
  }
  registerSecret(u.password);
  registerSecret(decodeURIComponent(u.password));
  // Query values are secrets when their name says so (sig, token, key…) or they are long;
  // registering short ordinary values ("json") would blank those words in every log line.
  for (const [k, v] of u.searchParams) if (/(sig|token|secret|key|code|auth|pass|cred)/i.test(k) || v.length >= 16) registerSecret(v);
  if (u.username && u.password) registerSecret(`${u.username}:${u.password}`);
}

/** Text a remote party sent (an HTTP error body): one line, printable, capped, scrubbed. */
export function untrustedSnippet(text: string, max = 200): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
  const cut = flat.length > max ? `${flat.slice(0, max)}…` : flat;
  return scrubString(cut);
}

export function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubString(value);
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (value instanceof Error) {
    const out: Record<string, unknown> = { type: value.name, message: scrubString(value.message) };
    if (value.stack) out.stack = scrubString(value.stack);
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out.code = code;
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && v !== null && v !== undefined && v !== '' ? REDACTED : scrub(v, depth + 1);
  }
  return out;
}

export interface LogOptions {
  level?: string;
  format?: 'json' | 'pretty' | 'auto';
  /** Destination stream (tests); default stderr. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? process.env.SFBRIDGE_LOG_LEVEL ?? 'info';
  const format = opts.format ?? 'auto';
  const dest = opts.destination ?? process.stderr;
  const usePretty = format === 'pretty' || (format === 'auto' && !opts.destination && process.stderr.isTTY);
  const options: pino.LoggerOptions = {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      log: (obj) => scrub(obj) as Record<string, unknown>,
    },
    hooks: {
      logMethod(args, method) {
        const scrubbed = args.map((a) => (typeof a === 'string' ? scrubString(a) : a)) as typeof args;
        method.apply(this, scrubbed);
      },
    },
  };
  if (usePretty) {
    return pino(options, pretty({ destination: 2, sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l' }));
  }
  return pino(options, opts.destination ? (dest as pino.DestinationStream) : pino.destination({ fd: 2, sync: false }));
}

/** A logger that drops everything (tests and library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * Libraries that print to the console themselves (ioredis warns with console.warn) go through the
 * logger instead, so every line the daemon writes is a log line in the configured format (JSON
 * stays parseable) and stdout stays free for the stdout sink.
 */
export function captureConsole(log: Logger): void {
  const lib = log.child({ source: 'library-console' });
  const text = (args: unknown[]) => scrubString(formatArgs(...args));
  console.error = (...a: unknown[]) => lib.error(text(a));
  console.warn = (...a: unknown[]) => lib.warn(text(a));
  console.log = (...a: unknown[]) => lib.info(text(a));
  console.info = console.log;
  console.debug = (...a: unknown[]) => lib.debug(text(a));
  console.trace = console.debug;
}
