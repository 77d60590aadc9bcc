/**
 * A growable byte buffer that JSON text is written into, for the Avro -> JSON transcoder
 * (json-transcode.ts). Everything it writes is exactly what `JSON.stringify` writes for the same
 * value: ASCII strings without characters to escape are copied as bytes, any other string goes
 * through `JSON.stringify` itself, numbers use JavaScript's own number-to-text.
 */
import type avscUtils from 'avsc/lib/utils.js';

type Tap = InstanceType<typeof avscUtils.Tap>;
// Node's Buffer methods without the argument checks of toString/write (avsc uses them too).
interface RawBuffer {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
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
  /** A byte >= 0x80 was written: the text must be read back as UTF-8, not Latin-1. */
  wide = false;

  reset(): void {
    this.pos = 0;
    this.wide = false;
  }

  /** The text written since the last reset. */
  text(): string {
    return this.wide ? raw(this.buf).utf8Slice(0, this.pos) : raw(this.buf).latin1Slice(0, this.pos);
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

  bytes(b: Buffer): void {
    this.room(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
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
    const n = raw(this.buf).utf8Write(s, this.pos);
    // More bytes than characters: something beyond ASCII was written.
    if (n !== s.length) this.wide = true;
    this.pos += n;
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
