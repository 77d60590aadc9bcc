// avsc's internal module holding Tap, the read cursor every avsc type reader takes (direct-decode.ts).
declare module 'avsc/lib/utils.js' {
  const utils: { Tap: new (buf: Buffer, pos?: number) => { buf: Buffer; pos: number; readLong(): number } };
  export default utils;
}
