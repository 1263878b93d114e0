import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import hpack from 'hpack.js';

/**
 * etcdctl 3.4 dials each endpoint of `endpoint status/health/hashkv`, `snapshot save`, `defrag` and
 * `move-leader` with the endpoint URL itself as the gRPC target, so its HTTP/2 requests carry
 * `:authority: http://127.0.0.1:2379`. Go's server accepts that; nghttp2 (inside Node's http2)
 * resets the stream with PROTOCOL_ERROR because '/' is not allowed in an authority. This stream sits
 * between the socket and grpc-js and rewrites such an authority's "://" to "---" in HEADERS frames.
 * The value keeps its length, so both sides' HPACK dynamic tables stay the same size. A connection
 * whose first request has a clean authority is passed through untouched from then on.
 */

const PREFACE_BYTES = 24;
const FRAME_HEADER_BYTES = 9;
const TYPE_HEADERS = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
/** HPACK static table index of `:authority`. */
const STATIC_AUTHORITY = 1;

export class AuthorityFixingStream extends Duplex {
  private pending: Buffer = Buffer.alloc(0);
  private prefaceLeft = PREFACE_BYTES;
  /** After the first request proved clean, bytes are forwarded without looking at them. */
  private passthrough = false;
  private rewriting = false;

  constructor(private readonly socket: Socket) {
    super();
    socket.on('data', (chunk: Buffer) => {
      const out = this.rewriteChunk(chunk);
      if (out.length > 0 && !this.push(out)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('close', () => this.destroy());
    socket.on('error', (err) => this.destroy(err));
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.socket.write(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy(err ?? undefined);
    cb(err);
  }

  private rewriteChunk(chunk: Buffer): Buffer {
    if (this.passthrough) return chunk;
    let data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: Buffer[] = [];
    if (this.prefaceLeft > 0) {
      const n = Math.min(this.prefaceLeft, data.length);
      out.push(data.subarray(0, n));
      this.prefaceLeft -= n;
      data = data.subarray(n);
    }
    let off = 0;
    while (data.length - off >= FRAME_HEADER_BYTES) {
      const len = data.readUIntBE(off, 3);
      const end = off + FRAME_HEADER_BYTES + len;
      if (data.length < end) break;
      const frame = data.subarray(off, end);
      out.push(frame[3] === TYPE_HEADERS ? this.fixHeaders(frame) : frame);
      off = end;
      if (this.passthrough) break;
    }
    const rest = data.subarray(off);
    if (this.passthrough) {
      out.push(rest);
      this.pending = Buffer.alloc(0);
    } else {
      this.pending = Buffer.from(rest);
    }
    return out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
  }

  private fixHeaders(frame: Buffer): Buffer {
    const flags = frame[4] as number;
    if ((flags & FLAG_END_HEADERS) === 0) return frame; // continued blocks are not rewritten
    let start = FRAME_HEADER_BYTES;
    let end = frame.length;
    if (flags & FLAG_PADDED) {
      end -= frame[start] as number;
      start += 1;
    }
    if (flags & FLAG_PRIORITY) start += 5;
    const block = frame.subarray(start, end);
    const fixed = rewriteAuthority(block);
    if (fixed === undefined) {
      if (!this.rewriting) this.passthrough = true;
      return frame;
    }
    this.rewriting = true;
    const out = Buffer.concat([frame.subarray(0, start), fixed, frame.subarray(end)]);
    out.writeUIntBE(out.length - FRAME_HEADER_BYTES, 0, 3);
    return out;
  }
}

/**
 * Looks at the bytes a client sent first (connection preface, then frames) and tells whether its
 * first request's `:authority` needs the rewrite: true or false once the first complete HEADERS
 * frame is in, undefined while it is not. A HEADERS block split over CONTINUATION frames is never
 * rewritten (as in the stream above), so it counts as clean.
 */
export function firstRequestNeedsAuthorityFix(data: Buffer): boolean | undefined {
  let off = PREFACE_BYTES;
  while (data.length - off >= FRAME_HEADER_BYTES) {
    const len = data.readUIntBE(off, 3);
    const end = off + FRAME_HEADER_BYTES + len;
    if (data.length < end) return undefined;
    if (data[off + 3] === TYPE_HEADERS) {
      const flags = data[off + 4] as number;
      if ((flags & FLAG_END_HEADERS) === 0) return false;
      let start = off + FRAME_HEADER_BYTES;
      let blockEnd = end;
      if (flags & FLAG_PADDED) {
        blockEnd -= data[start] as number;
        start += 1;
      }
      if (flags & FLAG_PRIORITY) start += 5;
      return rewriteAuthority(data.subarray(start, blockEnd)) !== undefined;
    }
    off = end;
  }
  return undefined;
}

/** Reads an HPACK integer with an N-bit prefix at `off`. */
function readInt(buf: Buffer, off: number, prefixBits: number): { value: number; next: number } {
  const mask = (1 << prefixBits) - 1;
  let value = (buf[off] as number) & mask;
  let next = off + 1;
  if (value < mask) return { value, next };
  let shift = 0;
  for (;;) {
    if (next >= buf.length) throw new RangeError('truncated HPACK integer');
    const b = buf[next++] as number;
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) return { value, next };
  }
}

function readString(buf: Buffer, off: number): { value: Buffer; next: number } {
  const len = readInt(buf, off, 7);
  const next = len.next + len.value;
  if (next > buf.length) throw new RangeError('truncated HPACK string');
  const decoder = hpack.decoder.create();
  decoder.push(buf.subarray(off, next));
  return { value: Buffer.from(decoder.decodeStr()), next };
}

function encodeRawString(value: Buffer): Buffer {
  const prefix: number[] = [];
  if (value.length < 127) prefix.push(value.length);
  else {
    prefix.push(127);
    let rest = value.length - 127;
    while (rest >= 128) {
      prefix.push((rest % 128) | 0x80);
      rest = Math.floor(rest / 128);
    }
    prefix.push(rest);
  }
  return Buffer.concat([Buffer.from(prefix), value]);
}

/**
 * Returns the header block with an :authority value containing "://" rewritten, or undefined when
 * there is nothing to rewrite (or the block cannot be parsed, which nghttp2 will then report).
 */
export function rewriteAuthority(block: Buffer): Buffer | undefined {
  try {
    let off = 0;
    while (off < block.length) {
      const b = block[off] as number;
      if (b & 0x80) {
        off = readInt(block, off, 7).next; // indexed field
        continue;
      }
      if ((b & 0xe0) === 0x20) {
        off = readInt(block, off, 5).next; // dynamic table size update
        continue;
      }
      const prefixBits = b & 0x40 ? 6 : 4; // literal with / without (or never) indexing
      const nameIndex = readInt(block, off, prefixBits);
      let isAuthority = nameIndex.value === STATIC_AUTHORITY;
      let valueAt = nameIndex.next;
      if (nameIndex.value === 0) {
        const name = readString(block, nameIndex.next);
        isAuthority = name.value.toString('latin1') === ':authority';
        valueAt = name.next;
      }
      const value = readString(block, valueAt);
      if (isAuthority) {
        const text = value.value.toString('latin1');
        if (!text.includes('://')) return undefined;
        const fixed = Buffer.from(text.replace('://', '---'), 'latin1');
        return Buffer.concat([block.subarray(0, valueAt), encodeRawString(fixed), block.subarray(value.next)]);
      }
      off = value.next;
    }
    return undefined;
  } catch {
    return undefined;
  }
}
