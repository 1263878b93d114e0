import hpack from 'hpack.js';
import { describe, expect, it } from 'vitest';
import { encodeHeaders, HeaderListTooLarge, HpackDecoder, HpackError } from '../../src/api/grpc-h2/hpack.js';

const LIMIT = 64 * 1024;

/** hpack.js's compressor as an independent encoder (one dynamic table, like a real connection). */
function otherEncoder(): (headers: Array<{ name: string; value: string; huffman?: boolean; neverIndex?: boolean }>) => Buffer {
  const c = (hpack as unknown as { compressor: { create(o: object): { write(h: object[]): void; read(): Buffer | null } } }).compressor.create({
    table: { maxSize: 4096 },
  });
  return (headers) => {
    c.write(headers);
    const chunks: Buffer[] = [];
    for (let x = c.read(); x !== null; x = c.read()) chunks.push(x);
    return Buffer.concat(chunks);
  };
}

describe('HpackDecoder', () => {
  it('decodes RFC 7541 C.4 (requests with Huffman coding, one dynamic table across blocks)', () => {
    const d = new HpackDecoder();
    expect(d.decode(Buffer.from('828684418cf1e3c2e5f23a6ba0ab90f4ff', 'hex'), LIMIT)).toEqual([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ]);
    expect(d.decode(Buffer.from('828684be5886a8eb10649cbf', 'hex'), LIMIT)).toEqual([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
      ['cache-control', 'no-cache'],
    ]);
    expect(d.decode(Buffer.from('828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf', 'hex'), LIMIT)).toEqual([
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', '/index.html'],
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ]);
  });

  it("decodes etcdctl's URL :authority and what hpack.js encodes, raw and Huffman, over many blocks", () => {
    const encode = otherEncoder();
    const d = new HpackDecoder();
    for (let i = 0; i < 200; i++) {
      const headers = [
        { name: ':method', value: 'POST', huffman: i % 2 === 0 },
        { name: ':scheme', value: 'http' },
        { name: ':path', value: `/etcdserverpb.KV/Range${i % 7}`, huffman: i % 3 === 0 },
        { name: ':authority', value: 'http://127.0.0.1:2379', huffman: true },
        { name: 'content-type', value: 'application/grpc' },
        { name: 'x-key', value: `value-${i}-${'z'.repeat(i)}`, huffman: i % 5 !== 0 },
      ];
      const got = d.decode(encode(headers), LIMIT);
      expect(got).toEqual(headers.map((h) => [h.name, h.value]));
    }
  });

  it('decodes never-indexed Huffman literals sent again and again (the recent-strings cache) exactly', () => {
    const encode = otherEncoder();
    const d = new HpackDecoder();
    // 12 paths of one length (more than the decoder remembers), cycled in an irregular order.
    const paths = Array.from({ length: 12 }, (_u, i) => `/etcdserverpb.KV/P${String.fromCharCode(97 + i)}t`);
    for (let i = 0; i < 300; i++) {
      const headers = [
        { name: ':path', value: paths[(i * 7 + (i >> 3)) % paths.length] as string, huffman: true, neverIndex: true },
        { name: 'x-n', value: `v${i % 3}`, huffman: true, neverIndex: true },
      ];
      expect(d.decode(encode(headers), LIMIT)).toEqual(headers.map((h) => [h.name, h.value]));
    }
  });

  it('round-trips our encoder, including long values and names outside the static table', () => {
    const fields: Array<[string, string]> = [
      [':status', '200'],
      ['content-type', 'application/grpc'],
      ['grpc-status', '3'],
      ['grpc-message', 'x'.repeat(300)],
    ];
    expect(new HpackDecoder().decode(encodeHeaders(fields), LIMIT)).toEqual(fields);
  });

  it('refuses malformed blocks with HpackError and an oversized list with HeaderListTooLarge', () => {
    const bad = ['80', 'ff', 'fe', '3fe1ff', '40', '4085', '0f2f', '418cf1e3c2e5f23a6ba0ab90f4', '41ff', '20ff', '82ff8080808080'];
    for (const hex of bad) {
      expect(() => new HpackDecoder().decode(Buffer.from(hex, 'hex'), LIMIT), hex).toThrow(HpackError);
    }
    // A size update above the table size we announced, and one after a field.
    expect(() => new HpackDecoder(4096).decode(Buffer.from('3fe21f', 'hex'), LIMIT)).toThrow(HpackError);
    expect(() => new HpackDecoder().decode(Buffer.from('8220', 'hex'), LIMIT)).toThrow(HpackError);
    const big = encodeHeaders([['x-big', 'v'.repeat(1000)]]);
    expect(() => new HpackDecoder().decode(big, 500)).toThrow(HeaderListTooLarge);
  });

  it('never throws anything but its own errors on random input', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 5000; i++) {
      const block = Buffer.from(Array.from({ length: 1 + rand(40) }, () => rand(256)));
      try {
        new HpackDecoder().decode(block, LIMIT);
      } catch (err) {
        expect(err instanceof HpackError || err instanceof HeaderListTooLarge, String(err)).toBe(true);
      }
    }
  });
});
