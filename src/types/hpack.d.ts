// The part of hpack.js (no bundled types) that Ketch uses: decoding one HPACK string literal.
declare module 'hpack.js' {
  interface Decoder {
    push(chunk: Buffer): void;
    decodeStr(): number[] | Buffer;
  }
  const hpack: { decoder: { create(): Decoder } };
  export default hpack;
}
