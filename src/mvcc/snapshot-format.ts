// The MVCC snapshot: the store's LevelDB records, framed, with the revisions they must yield and a
// checksum. Raft snapshots and the Snapshot RPC carry it; importing it is loading its records.
//
//   'KMVCC001'                        8 bytes
//   current revision, compact rev.    8 bytes BE each (the compact revision signed: -1 = never)
//   record count                      8 bytes BE
//   records                           (key length u32 BE, key, value length u32 BE, value) each
//   CRC-32C of everything above       4 bytes BE

import { Crc32c } from './crc32c.js';
import type { KeptRevision, KeyRevision } from './key-index.js';
import {
  COMPACT_REVISION_KEY,
  keyValueSize,
  keyValueSizeFor,
  REVISION_BYTES,
  REVISION_PREFIX,
  tombstoneValueSize,
  writeKeyValue,
  writeKeyValueShell,
  writeRevisionKey,
  writeTombstoneValue,
} from './record-codec.js';
import { MvccError } from './types.js';

const MAGIC = Buffer.from('KMVCC001', 'latin1');
const HEADER_BYTES = MAGIC.length + 24;
const TWO_POW_32 = 0x1_0000_0000;

export interface DecodedSnapshot {
  currentRevision: number;
  compactRevision: number;
  records: Array<[Buffer, Buffer]>;
}

function writeUint64(buf: Buffer, offset: number, n: number): void {
  buf.writeUInt32BE(Math.floor(n / TWO_POW_32), offset);
  buf.writeUInt32BE(n >>> 0, offset + 4);
}

function readUint64(buf: Buffer, offset: number): number {
  const n = buf.readUInt32BE(offset) * TWO_POW_32 + buf.readUInt32BE(offset + 4);
  if (!Number.isSafeInteger(n)) throw new MvccError('Corrupt', 'mvcc: snapshot number out of range');
  return n;
}

export function encodeSnapshot(
  currentRevision: number,
  compactRevision: number,
  records: Iterable<[Buffer, Buffer]>,
): Buffer {
  const chunks: Buffer[] = [];
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  writeUint64(header, MAGIC.length, currentRevision);
  header.writeBigInt64BE(BigInt(compactRevision), MAGIC.length + 8);
  chunks.push(header);
  let count = 0;
  for (const [key, value] of records) {
    const lengths = Buffer.allocUnsafe(4);
    lengths.writeUInt32BE(key.length, 0);
    chunks.push(lengths, key);
    const valueLength = Buffer.allocUnsafe(4);
    valueLength.writeUInt32BE(value.length, 0);
    chunks.push(valueLength, value);
    count++;
  }
  writeUint64(header, MAGIC.length + 16, count);
  const body = Buffer.concat(chunks);
  const trailer = Buffer.allocUnsafe(4);
  trailer.writeUInt32BE(new Crc32c().update(body).digest(), 0);
  return Buffer.concat([body, trailer]);
}

/** Spare bytes to leave ahead of and behind an encoded snapshot, for the framing around it. */
export interface Reserve {
  before: number;
  after: number;
}

/** Where encodeSnapshotOfRevisions finds the values revisions hold as cold handles (ColdValues). */
export interface ColdBytes {
  byteLength(handle: number): number;
  forEachBytes(handles: readonly number[], visit: (i: number, buf: Buffer, start: number, end: number) => void): void;
}

/**
 * encodeSnapshot of a store's kept revisions (each key's revisions oldest first), written straight
 * into one buffer: no record Buffers, no chunk list to concatenate. With `reserve`, the snapshot
 * sits at [before, length - after) of the buffer, so the framing around it (the state snapshot's
 * header, the Snapshot RPC's length and padding) costs no copy of a buffer of 100+ MiB. A value
 * held as a cold handle is copied from the cold files' bytes into its place, never made a string
 * (a string per value and its write were 40% of a 100+ MiB snapshot's time, GC included).
 */
export function encodeSnapshotOfRevisions(
  currentRevision: number,
  compactRevision: number,
  revs: readonly KeptRevision[],
  cold: ColdBytes | undefined,
  reserve: Reserve = { before: 0, after: 0 },
): Buffer {
  const hasCompact = compactRevision >= 0;
  const valueSizes = new Uint32Array(revs.length);
  let size = HEADER_BYTES + 4;
  if (hasCompact) size += 4 + COMPACT_REVISION_KEY.length + 4 + 8;
  let coldCount = 0;
  for (let i = 0; i < revs.length; i++) {
    const r = revs[i] as KeptRevision;
    const v = r.value;
    const tombstone = v === null;
    let valueSize: number;
    if (typeof v === 'number') {
      if (cold === undefined) throw new Error('mvcc: a revision holds a cold value but the store has no cold files');
      valueSize = keyValueSizeFor(r, cold.byteLength(v));
      coldCount++;
    } else {
      valueSize = tombstone ? tombstoneValueSize(r.key) : keyValueSize(r as KeyRevision, false);
    }
    valueSizes[i] = valueSize;
    size += 4 + REVISION_PREFIX.length + REVISION_BYTES + (tombstone ? 1 : 0) + 4 + valueSize;
  }
  const start = reserve.before;
  const buf = Buffer.allocUnsafe(start + size + reserve.after);
  MAGIC.copy(buf, start);
  writeUint64(buf, start + MAGIC.length, currentRevision);
  buf.writeBigInt64BE(BigInt(compactRevision), start + MAGIC.length + 8);
  writeUint64(buf, start + MAGIC.length + 16, revs.length + (hasCompact ? 1 : 0));
  let at = start + HEADER_BYTES;
  if (hasCompact) {
    at = buf.writeUInt32BE(COMPACT_REVISION_KEY.length, at);
    at += COMPACT_REVISION_KEY.copy(buf, at);
    at = buf.writeUInt32BE(8, at);
    writeUint64(buf, at, compactRevision);
    at += 8;
  }
  // Cold values: their handles, and where their bytes go.
  const coldHandles = new Array<number>(coldCount);
  const coldAt = new Float64Array(coldCount);
  let c = 0;
  for (let i = 0; i < revs.length; i++) {
    const r = revs[i] as KeptRevision;
    const v = r.value;
    const tombstone = v === null;
    const keyBytes = REVISION_PREFIX.length + REVISION_BYTES + (tombstone ? 1 : 0);
    at = buf.writeUInt32BE(keyBytes, at);
    at = writeRevisionKey(buf, at, r.main, r.sub, tombstone);
    const valueSize = valueSizes[i] as number;
    at = buf.writeUInt32BE(valueSize, at);
    if (typeof v === 'number') {
      coldHandles[c] = v;
      coldAt[c++] = writeKeyValueShell(buf, at, r, (cold as ColdBytes).byteLength(v));
      at += valueSize;
    } else {
      at = tombstone ? writeTombstoneValue(buf, at, r.key) : writeKeyValue(buf, at, r as KeyRevision, false);
    }
  }
  const bodyEnd = start + size - 4;
  if (at !== bodyEnd) throw new Error(`mvcc: snapshot encoding wrote ${at - start} of ${size - 4} bytes`);
  cold?.forEachBytes(coldHandles, (j, from, s, e) => {
    from.copy(buf, coldAt[j] as number, s, e);
  });
  buf.writeUInt32BE(new Crc32c().update(buf.subarray(start, bodyEnd)).digest(), bodyEnd);
  return buf;
}

export function decodeSnapshot(data: Buffer): DecodedSnapshot {
  const fail = (why: string): MvccError => new MvccError('Corrupt', `mvcc: invalid snapshot: ${why}`);
  if (data.length < HEADER_BYTES + 4 || !data.subarray(0, MAGIC.length).equals(MAGIC)) throw fail('bad header');
  const body = data.subarray(0, data.length - 4);
  if (new Crc32c().update(body).digest() !== data.readUInt32BE(data.length - 4)) throw fail('checksum mismatch');
  const currentRevision = readUint64(data, MAGIC.length);
  const compactRevision = Number(data.readBigInt64BE(MAGIC.length + 8));
  if (!Number.isSafeInteger(compactRevision)) throw fail('compact revision out of range');
  const count = readUint64(data, MAGIC.length + 16);
  const records: Array<[Buffer, Buffer]> = [];
  let at = HEADER_BYTES;
  const field = (): Buffer => {
    if (at + 4 > body.length) throw fail('truncated record');
    const len = body.readUInt32BE(at);
    at += 4;
    if (at + len > body.length) throw fail('truncated record');
    // Copies, so the records never pin the (possibly large) snapshot buffer.
    const bytes = Buffer.from(body.subarray(at, at + len));
    at += len;
    return bytes;
  };
  for (let i = 0; i < count; i++) records.push([field(), field()]);
  if (at !== body.length) throw fail('trailing bytes');
  return { currentRevision, compactRevision, records };
}
