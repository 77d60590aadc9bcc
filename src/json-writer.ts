/**
 * A reused, growable byte buffer that JSON text is written into as UTF-8: the Avro -> JSON
 * transcoder (subscribers/pubsub/json-transcode.ts) and the envelope line (envelope-line.ts).
 * Everything it writes is exactly what `JSON.stringify` writes for the same value: ASCII strings
 * without characters to escape are copied as bytes, any other string goes through
 * `JSON.stringify` itself, numbers use JavaScript's own number-to-text.
 */
import type avscUtils from 'avsc/lib/utils.js';

type Tap = InstanceType<typeof avscUtils.Tap>;
// Node's Buffer methods without the argument checks of toString/write (avsc uses them too).
interface RawBuffer {
  utf8Slice(start: number, end: number): string;
  utf8Write(s: string, offset: number): number;
}
const raw = (b: Buffer) => b as unknown as RawBuffer;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const NULL = Buffer.from('null');
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');

export class JsonWriter {
  buf = Buffer.allocUnsafe(64 * 1024);
  pos = 0;

  reset(): void {
    this.pos = 0;
  }

  room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }

  /** `,` unless the object or array opened at `start` is still empty, then `"key":` (pre-encoded). */
  key(k: Buffer, start: number): void {
    this.room(k.length + 1);
    const buf = this.buf;
    let p = this.pos;
    if (p !== start) buf[p++] = COMMA;
    for (let i = 0; i < k.length; i++) buf[p + i] = k[i] as number;
    this.pos = p + k.length;
  }

  /** Pre-encoded bytes (keys, literals: short, so copied by hand rather than by a native call). */
  bytes(b: Buffer): void {
    this.room(b.length);
    const buf = this.buf;
    const p = this.pos;
    for (let i = 0; i < b.length; i++) buf[p + i] = b[i] as number;
    this.pos = p + b.length;
  }

  nul(): void {
    this.bytes(NULL);
  }

  bool(v: boolean): void {
    this.bytes(v ? TRUE : FALSE);
  }

  /** ASCII text that needs no escaping (number text, base64). */
  ascii(s: string): void {
    this.room(s.length);
    const buf = this.buf;
    const p = this.pos;
    for (let i = 0; i < s.length; i++) buf[p + i] = s.charCodeAt(i);
    this.pos = p + s.length;
  }

  /** A number as JSON.stringify writes it (null when not finite). */
  num(n: number): void {
    if (Number.isFinite(n)) this.ascii(`${n}`);
    else this.nul();
  }

  /** Any value through JSON.stringify (decoded Avro values always have a JSON form). */
  json(v: unknown): void {
    const s = (JSON.stringify(v) as string | undefined) ?? 'null';
    this.room(s.length * 3);
    this.pos += raw(this.buf).utf8Write(s, this.pos);
  }

  /** A JavaScript string as a JSON string: printable ASCII copied as it is, anything else by JSON.stringify. */
  jstr(s: string): void {
    const len = s.length;
    this.room(len + 2);
    const buf = this.buf;
    const p = this.pos;
    buf[p] = QUOTE;
    for (let i = 0; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c >= 0x80 || c === QUOTE || c === BACKSLASH) {
        this.json(s);
        return;
      }
      buf[p + 1 + i] = c;
    }
    buf[p + 1 + len] = QUOTE;
    this.pos = p + len + 2;
  }

  /** A list of strings as a JSON array. */
  jstrs(a: readonly string[]): void {
    this.byte(0x5b);
    for (let i = 0; i < a.length; i++) {
      if (i > 0) this.byte(COMMA);
      this.jstr(a[i] as string);
    }
    this.byte(0x5d);
  }

  /**
   * An Avro string at the tap as a JSON string. Printable ASCII without `"` or `\` (almost every
   * Salesforce value) is copied byte for byte; anything else is decoded and left to JSON.stringify.
   */
  str(tap: Tap): void {
    const len = tap.readLong();
    const src = tap.buf;
    const from = tap.pos;
    const end = from + len;
    if (len < 0 || end > src.length) {
      // What avsc does with a bad length: the decoder's end-of-buffer check reports it.
      tap.pos = src.length + 1;
      return;
    }
    tap.pos = end;
    this.room(len + 2);
    const buf = this.buf;
    const p = this.pos;
    buf[p] = QUOTE;
    for (let i = 0; i < len; i++) {
      const b = src[from + i] as number;
      if (b < 0x20 || b >= 0x80 || b === QUOTE || b === BACKSLASH) {
        this.json(raw(src).utf8Slice(from, end));
        return;
      }
      buf[p + 1 + i] = b;
    }
    buf[p + 1 + len] = QUOTE;
    this.pos = p + len + 2;
  }
}
