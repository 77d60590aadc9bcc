// avsc's internal module holding Tap, the read cursor every avsc type reader takes (json-transcode.ts).
declare module 'avsc/lib/utils.js' {
  const utils: { Tap: new (buf: Buffer, pos?: number) => { buf: Buffer; pos: number; readLong(): number } };
  export default utils;
}
