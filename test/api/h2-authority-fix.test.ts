import hpack from 'hpack.js';
import { describe, expect, it } from 'vitest';
import { firstRequestNeedsAuthorityFix, rewriteAuthority } from '../../src/api/h2-authority-fix.js';

interface Header {
  name: string;
  value: string;
  huffman?: boolean;
}

/** Encodes headers with hpack.js, sharing one dynamic table across calls like a real connection. */
function encoder(): (headers: Header[]) => Buffer {
  const c = (hpack as unknown as { compressor: { create(o: object): { write(h: Header[]): void; read(): Buffer | null } } })
    .compressor.create({ table: { size: 4096 } });
  return (headers) => {
    c.write(headers);
    const chunks: Buffer[] = [];
    for (let x = c.read(); x !== null; x = c.read()) chunks.push(x);
    return Buffer.concat(chunks);
  };
}

function decoder(): (block: Buffer) => Array<{ name: string; value: string }> {
  const d = (hpack as unknown as {
    decompressor: { create(o: object): { write(b: Buffer): void; execute(): void; read(): { name: string; value: string } | null } };
  }).decompressor.create({ table: { size: 4096 } });
  return (block) => {
    d.write(block);
    d.execute();
    const out: Array<{ name: string; value: string }> = [];
    for (let x = d.read(); x !== null; x = d.read()) out.push({ name: x.name, value: x.value });
    return out;
  };
}

describe('rewriteAuthority (etcdctl sends :authority http://host:port, which nghttp2 refuses)', () => {
  for (const huffman of [true, false]) {
    it(`rewrites "://" in a ${huffman ? 'Huffman-coded' : 'raw'} :authority and keeps the other headers`, () => {
      const block = encoder()([
        { name: ':method', value: 'POST', huffman },
        { name: ':authority', value: 'http://127.0.0.1:2379', huffman },
        { name: 'te', value: 'trailers', huffman },
      ]);
      const fixed = rewriteAuthority(block);
      expect(fixed).toBeDefined();
      expect(decoder()(fixed as Buffer)).toEqual([
        { name: ':method', value: 'POST' },
        { name: ':authority', value: 'http---127.0.0.1:2379' },
        { name: 'te', value: 'trailers' },
      ]);
    });
  }

  it('leaves a clean authority alone', () => {
    const block = encoder()([{ name: ':authority', value: '127.0.0.1:2379' }]);
    expect(rewriteAuthority(block)).toBeUndefined();
  });

  it('keeps both dynamic tables in step: a later request that indexes the rewritten entry decodes the same', () => {
    const enc = encoder();
    const dec = decoder();
    const first = rewriteAuthority(enc([{ name: ':authority', value: 'http://10.0.0.1:2379' }, { name: 'x-a', value: '1' }]));
    expect(dec(first as Buffer)).toEqual([
      { name: ':authority', value: 'http---10.0.0.1:2379' },
      { name: 'x-a', value: '1' },
    ]);
    // The second block refers to both entries by index only: nothing to rewrite, same answer.
    const second = enc([{ name: ':authority', value: 'http://10.0.0.1:2379' }, { name: 'x-a', value: '1' }]);
    expect(rewriteAuthority(second)).toBeUndefined();
    expect(dec(second)).toEqual([
      { name: ':authority', value: 'http---10.0.0.1:2379' },
      { name: 'x-a', value: '1' },
    ]);
  });

  it('returns undefined for a truncated block instead of throwing', () => {
    const block = encoder()([{ name: ':authority', value: 'http://127.0.0.1:2379' }]);
    expect(rewriteAuthority(block.subarray(0, block.length - 3))).toBeUndefined();
  });
});

/** An HTTP/2 frame: 3-byte length, type, flags, 4-byte stream id, payload. */
function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

describe('firstRequestNeedsAuthorityFix (decides per connection whether the rewriting stream is needed)', () => {
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  const settings = frame(0x4, 0, 0, Buffer.alloc(6));
  const headers = (authority: string): Buffer =>
    frame(0x1, 0x4, 1, encoder()([{ name: ':method', value: 'POST' }, { name: ':authority', value: authority }]));

  it('is undecided until the first HEADERS frame is complete', () => {
    expect(firstRequestNeedsAuthorityFix(preface)).toBeUndefined();
    expect(firstRequestNeedsAuthorityFix(Buffer.concat([preface, settings]))).toBeUndefined();
    const whole = Buffer.concat([preface, settings, headers('http://127.0.0.1:2379')]);
    expect(firstRequestNeedsAuthorityFix(whole.subarray(0, whole.length - 1))).toBeUndefined();
    expect(firstRequestNeedsAuthorityFix(whole)).toBe(true);
  });

  it('passes a clean first request (grpc-js, h2load) to the native socket', () => {
    expect(firstRequestNeedsAuthorityFix(Buffer.concat([preface, settings, headers('127.0.0.1:2379')]))).toBe(false);
  });
});
