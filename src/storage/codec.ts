/**
 * Binary records with a CRC32 trailer, so that recovery detects a torn or bit-rotted record instead
 * of serving it. Every record is [version u8][fields...][crc32 u32 BE over everything before it];
 * integers are u64 big-endian (safe integers only), strings u16-length-prefixed UTF-8.
 *
 *   entry:     v, type u8, index u64, term u64, data length u32, data
 *   hardState: v, term u64, commit u64, vote str
 *   snapshot:  v, index u64, term u64, voters u32 + str*, learners u32 + str*
 *   applied:   v, applied u64
 *   meta:      v, value bytes
 */
import { crc32 } from 'node:zlib';

import { type ConfState, type Entry, EntryType, type HardState, type SnapshotMetadata } from '../raft/types.js';

const VERSION = 1;
const CRC_BYTES = 4;
const U32_LIMIT = 0x1_0000_0000;

/** Thrown by the decoders; callers turn it into a truncation or a fatal StorageError. */
export class RecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecordError';
  }
}

class Writer {
  private readonly buf: Buffer;
  private pos = 0;

  constructor(payloadBytes: number) {
    this.buf = Buffer.allocUnsafe(payloadBytes + CRC_BYTES);
  }

  u8(n: number): this {
    this.pos = this.buf.writeUInt8(n, this.pos);
    return this;
  }

  u16(n: number): this {
    this.pos = this.buf.writeUInt16BE(n, this.pos);
    return this;
  }

  u32(n: number): this {
    this.pos = this.buf.writeUInt32BE(n, this.pos);
    return this;
  }

  u64(n: number): this {
    this.pos = writeU64(this.buf, this.pos, n);
    return this;
  }

  bytes(b: Uint8Array): this {
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    if (b.length > 0xffff) throw new RangeError(`string of ${b.length} bytes is too long for a record`);
    return this.u16(b.length).bytes(b);
  }

  /** Appends the CRC and returns the record; the size given to the constructor must be exact. */
  finish(): Buffer {
    const size = this.buf.length - CRC_BYTES;
    if (this.pos !== size) throw new Error(`record size ${this.pos} != ${size}`);
    this.buf.writeUInt32BE(crc32(this.buf.subarray(0, this.pos)), this.pos);
    return this.buf;
  }
}

class Reader {
  private pos = 1;

  /** Checks length, CRC and version; the fields are then read in order. */
  constructor(
    private readonly buf: Buffer,
    what: string,
  ) {
    if (buf.length < 1 + CRC_BYTES) throw new RecordError(`${what} record is ${buf.length} bytes, too short`);
    const end = buf.length - CRC_BYTES;
    const want = buf.readUInt32BE(end);
    const got = crc32(buf.subarray(0, end));
    if (want !== got) throw new RecordError(`${what} record fails its CRC (stored ${hex(want)}, computed ${hex(got)})`);
    if (buf[0] !== VERSION) throw new RecordError(`${what} record has unknown version ${buf[0]}`);
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length - CRC_BYTES) throw new RecordError('record ends inside a field');
  }

  u8(): number {
    this.need(1);
    return this.buf.readUInt8(this.pos++);
  }

  u16(): number {
    this.need(2);
    const n = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return n;
  }

  u32(): number {
    this.need(4);
    const n = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return n;
  }

  u64(): number {
    const n = this.u32() * U32_LIMIT + this.u32();
    if (!Number.isSafeInteger(n)) throw new RecordError(`u64 ${n} is not a safe integer`);
    return n;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  str(): string {
    return this.bytes(this.u16()).toString('utf8');
  }

  rest(): Buffer {
    return this.bytes(this.buf.length - CRC_BYTES - this.pos);
  }

  /** Trailing bytes mean the record is not what its version says it is. */
  end(): void {
    const extra = this.buf.length - CRC_BYTES - this.pos;
    if (extra !== 0) throw new RecordError(`${extra} unexpected trailing bytes`);
  }
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

function strBytes(s: string): number {
  return 2 + Buffer.byteLength(s, 'utf8');
}

export function encodeEntry(e: Entry): Buffer {
  const out = Buffer.allocUnsafe(entryRecordBytes(e));
  encodeEntryInto(out, 0, e);
  return out;
}

/** The size of encodeEntry(e). */
export function entryRecordBytes(e: Entry): number {
  return 1 + 1 + 8 + 8 + 4 + e.data.length + CRC_BYTES;
}

/** encodeEntry(e) written into `target` at `at` (the raft WAL frames many in one buffer); returns the end. */
export function encodeEntryInto(target: Buffer, at: number, e: Entry): number {
  const start = at;
  at = target.writeUInt8(VERSION, at);
  at = target.writeUInt8(e.type, at);
  at = writeU64(target, at, e.index);
  at = writeU64(target, at, e.term);
  at = target.writeUInt32BE(e.data.length, at);
  target.set(e.data, at);
  at += e.data.length;
  return target.writeUInt32BE(crc32(target.subarray(start, at)), at);
}

function writeU64(target: Buffer, at: number, n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`not a non-negative safe integer: ${n}`);
  at = target.writeUInt32BE(Math.floor(n / U32_LIMIT), at);
  return target.writeUInt32BE(n % U32_LIMIT, at);
}

/** The entry's data is a view into `value` (no copy); values from LevelDB are not reused. */
export function decodeEntry(value: Buffer): Entry {
  const r = new Reader(value, 'entry');
  const type = r.u8();
  if (type !== EntryType.Normal && type !== EntryType.ConfChange) throw new RecordError(`unknown entry type ${type}`);
  const index = r.u64();
  const term = r.u64();
  const data = r.bytes(r.u32());
  r.end();
  return { term, index, type, data };
}

export function encodeHardState(hs: HardState): Buffer {
  return new Writer(1 + 8 + 8 + strBytes(hs.vote)).u8(VERSION).u64(hs.term).u64(hs.commit).str(hs.vote).finish();
}

export function decodeHardState(value: Buffer): HardState {
  const r = new Reader(value, 'hard state');
  const term = r.u64();
  const commit = r.u64();
  const vote = r.str();
  r.end();
  return { term, vote, commit };
}

export function encodeSnapshotMetadata(m: SnapshotMetadata): Buffer {
  const ids = (xs: readonly string[]): number => 4 + xs.reduce((n, s) => n + strBytes(s), 0);
  const w = new Writer(1 + 8 + 8 + ids(m.confState.voters) + ids(m.confState.learners))
    .u8(VERSION)
    .u64(m.index)
    .u64(m.term);
  for (const list of [m.confState.voters, m.confState.learners]) {
    w.u32(list.length);
    for (const id of list) w.str(id);
  }
  return w.finish();
}

export function decodeSnapshotMetadata(value: Buffer): SnapshotMetadata {
  const r = new Reader(value, 'snapshot metadata');
  const index = r.u64();
  const term = r.u64();
  const list = (): string[] => {
    const n = r.u32();
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(r.str());
    return out;
  };
  const voters = list();
  const learners = list();
  r.end();
  const confState: ConfState = { voters, learners };
  return { index, term, confState };
}

export function encodeApplied(applied: number): Buffer {
  return new Writer(1 + 8).u8(VERSION).u64(applied).finish();
}

export function decodeApplied(value: Buffer): number {
  const r = new Reader(value, 'applied index');
  const applied = r.u64();
  r.end();
  return applied;
}

export function encodeMeta(value: Uint8Array): Buffer {
  return new Writer(1 + value.length).u8(VERSION).bytes(value).finish();
}

export function decodeMeta(value: Buffer): Buffer {
  return Buffer.from(new Reader(value, 'meta').rest());
}

/**
 * An app record as stored: the app's value bytes, then a CRC32 (u32 BE) over key and value. The
 * app's values are its own format (MVCC records are etcd's bbolt bytes, which carry no checksum),
 * and LevelDB checks its sorted tables' block CRCs only when asked (level never asks), so without
 * this a flipped bit in a table would be served as data.
 */
export function sealAppValue(key: Buffer, value: Buffer): Buffer {
  const sealed = Buffer.allocUnsafe(value.length + CRC_BYTES);
  value.copy(sealed, 0);
  sealed.writeUInt32BE(crc32(value, crc32(key)), value.length);
  return sealed;
}

/** The app's value inside a sealed record (a view, no copy); throws RecordError if it fails its CRC. */
export function openAppValue(key: Buffer, stored: Buffer): Buffer {
  if (stored.length < CRC_BYTES) throw new RecordError(`app record is ${stored.length} bytes, too short`);
  const value = stored.subarray(0, stored.length - CRC_BYTES);
  const want = stored.readUInt32BE(value.length);
  const got = crc32(value, crc32(key));
  if (want !== got) throw new RecordError(`app record fails its CRC (stored ${hex(want)}, computed ${hex(got)})`);
  return value;
}
