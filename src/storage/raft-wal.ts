/**
 * The raft log on disk, beside LevelDB: entries appended to preallocated segment files, each append
 * durable before it returns, as etcd's WAL does. LevelDB's own log grows with every write, so each of its sync
 * writes also commits the file's new size through the journal; three members on the bench machine
 * fdatasyncing a preallocated file took 0.8-1.0 ms at the median against 1.4 ms for LevelDB sync
 * batches of the same entries, and the put benchmark gained 7-8% (issue 9). LevelDB keeps the rest
 * (hard state, snapshot metadata, app records); MemberStore writes those after the entries they
 * depend on. Segments are opened O_DSYNC, so each append is one write that returns once durable
 * (one trip to libuv's thread pool instead of a write and an fdatasync: 0.37-0.49 ms against
 * 0.50-0.57 ms at the median, three processes at once on the bench machine).
 *
 * Layout: <dir>/<seq as 16 hex digits>.wal. A segment is made at its full size (ftruncate: zeros)
 * with its header frame, fsynced, renamed into place and the directory fsynced, so a segment under a
 * proper name always has a sound header. Frames are [u32 BE length][kind u8][body], length counting
 * kind and body; a zero length ends a segment's data.
 *   header (kind 1): reset index u64 BE, crc32 u32 BE. The log has no entry at or below it (a
 *     snapshot was installed there); a header with a higher reset index than the segments before it
 *     discards their entries.
 *   entry (kind 2): the codec's entry record (it carries its own CRC). An entry at or below the last
 *     one read replaces it and everything after it (raft's conflicting suffix).
 *
 * Torn writes: every append is durable before the next starts, so only the last segment can end
 * in one. As etcd does, a bad frame there whose bytes include an all-zero 512-byte sector is taken
 * for a write the crash cut short (never acknowledged): it and everything after it are zeroed. Any
 * other bad frame is damage, and open() refuses.
 */
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';

import type { Entry } from '../raft/types.js';
import { decodeEntry, encodeEntryInto, entryRecordBytes, RecordError } from './codec.js';
import { StorageError, StorageErrorCode } from './storage-error.js';

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
const KIND_HEADER = 1;
const KIND_ENTRY = 2;
const LENGTH_BYTES = 4;
const HEADER_FRAME_BYTES = LENGTH_BYTES + 1 + 8 + 4;
const SECTOR = 512;
/** An entry record's bytes besides its data (codec.ts: version, type, index, term, length, crc). */
const ENTRY_RECORD_OVERHEAD = 26;
const SEGMENT_NAME = /^[0-9a-f]{16}\.wal$/;
/** How segments are opened for appends: every write is durable when it returns (fdatasync's guarantee). */
const APPEND_FLAGS = constants.O_RDWR | constants.O_DSYNC;
const ZEROS = Buffer.alloc(1024 * 1024);

export interface WalLogger {
  warn(obj: object, msg?: string): void;
}

/** Damage in the WAL; `index` is the entry the damaged frame stands where (the last good one + 1). */
export class WalDamage extends StorageError {
  constructor(
    readonly index: number,
    readonly detail: string,
  ) {
    super(StorageErrorCode.CorruptLog, detail);
    this.name = 'WalDamage';
  }
}

interface Segment {
  seq: number;
  file: string;
  /** The file's size: frames never run past it (a batch too big for a segment gets a bigger one). */
  bytes: number;
  /** The highest entry index written to it (its reset index when it has none). */
  maxIndex: number;
}

export interface WalContents {
  /** Contiguous, in index order; the first may be anywhere above resetIndex (older segments dropped). */
  entries: Entry[];
  /** The newest reset index of any segment (0 if none). */
  resetIndex: number;
  /** Whether any segment was on disk. */
  existed: boolean;
}

export class RaftWal {
  private handle: FileHandle;
  /** Where the next frame goes in the last segment. */
  private offset: number;

  private constructor(
    readonly dir: string,
    private readonly segmentBytes: number,
    private readonly segments: Segment[],
    handle: FileHandle,
    offset: number,
    private resetIndex: number,
  ) {
    this.handle = handle;
    this.offset = offset;
  }

  /** Reads every segment (repairing a torn tail), and opens the last for appends (making one if none). */
  static async open(
    dir: string,
    opts: { segmentBytes?: number; logger?: WalLogger } = {},
  ): Promise<{ wal: RaftWal; contents: WalContents }> {
    const segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    await mkdir(dir, { recursive: true });
    const names = await readdir(dir);
    // A segment still under its temporary name never got its header synced: it holds nothing.
    for (const name of names) if (name.endsWith('.wal.tmp')) await rm(path.join(dir, name), { force: true });
    const segments: Segment[] = names
      .filter((n) => SEGMENT_NAME.test(n))
      .sort()
      .map((n) => ({ seq: Number.parseInt(n.slice(0, 16), 16), file: path.join(dir, n), bytes: 0, maxIndex: 0 }));

    const entries: Entry[] = [];
    let resetIndex = 0;
    let end = 0;
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i] as Segment;
      const read = await readSegment(seg, i === segments.length - 1, entries, resetIndex);
      resetIndex = read.resetIndex;
      end = read.end;
      if (read.torn !== undefined) {
        await zeroFrom(seg.file, read.torn, read.size);
        opts.logger?.warn(
          { segment: seg.file, offset: read.torn },
          'raft WAL: cut off a write torn by a crash (it was never acknowledged)',
        );
      }
    }

    const existed = segments.length > 0;
    let handle: FileHandle;
    if (existed) {
      handle = await open((segments[segments.length - 1] as Segment).file, APPEND_FLAGS);
    } else {
      const made = await makeSegment(dir, 1, resetIndex, segmentBytes);
      segments.push(made.segment);
      handle = made.handle;
      end = HEADER_FRAME_BYTES;
    }
    const wal = new RaftWal(dir, segmentBytes, segments, handle, end, resetIndex);
    return { wal, contents: { entries, resetIndex, existed } };
  }

  /** Appends entries (an entry at or below the last replaces the suffix from it), durably. */
  async append(entries: readonly Entry[]): Promise<void> {
    const last = entries[entries.length - 1];
    if (last === undefined) return;
    let size = 0;
    for (const e of entries) size += LENGTH_BYTES + 1 + entryRecordBytes(e);
    if (this.offset + size > this.current.bytes) await this.rotate(this.resetIndex, HEADER_FRAME_BYTES + size);
    const buf = Buffer.allocUnsafe(size);
    let at = 0;
    for (const e of entries) {
      at = buf.writeUInt32BE(1 + entryRecordBytes(e), at);
      at = buf.writeUInt8(KIND_ENTRY, at);
      at = encodeEntryInto(buf, at, e);
    }
    await writeAll(this.handle, buf, this.offset); // O_DSYNC: durable once written
    this.offset += size;
    this.current.maxIndex = last.index;
  }

  private get current(): Segment {
    return this.segments[this.segments.length - 1] as Segment;
  }

  /**
   * Empties the log: entries at or below `index` are gone and the next one is index + 1 (a snapshot
   * was installed there). A new segment says so in its header; the older ones are then deleted.
   */
  async reset(index: number): Promise<void> {
    await this.rotate(index);
    const older = this.segments.splice(0, this.segments.length - 1);
    for (const seg of older) await unlink(seg.file);
    if (older.length > 0) await fsyncDir(this.dir);
  }

  /** Deletes the oldest segments whose entries are all at or below `index` (never the one in use). */
  async dropThrough(index: number): Promise<void> {
    let dropped = 0;
    while (this.segments.length > 1 && (this.segments[0] as Segment).maxIndex <= index) {
      await unlink((this.segments.shift() as Segment).file);
      dropped++;
    }
    if (dropped > 0) await fsyncDir(this.dir);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  private async rotate(resetIndex: number, minBytes = 0): Promise<void> {
    const seq = (this.segments[this.segments.length - 1]?.seq ?? 0) + 1;
    const made = await makeSegment(this.dir, seq, resetIndex, Math.max(this.segmentBytes, minBytes));
    await this.handle.close();
    this.handle = made.handle;
    this.segments.push(made.segment);
    this.offset = HEADER_FRAME_BYTES;
    this.resetIndex = resetIndex;
  }
}

/** A new segment: written and synced under a temporary name, then renamed into place. */
async function makeSegment(
  dir: string,
  seq: number,
  resetIndex: number,
  segmentBytes: number,
): Promise<{ segment: Segment; handle: FileHandle }> {
  const file = path.join(dir, `${seq.toString(16).padStart(16, '0')}.wal`);
  const tmp = `${file}.tmp`;
  const handle = await open(tmp, APPEND_FLAGS | constants.O_CREAT | constants.O_TRUNC);
  try {
    await handle.truncate(segmentBytes);
    await writeAll(handle, headerFrame(resetIndex), 0);
    await handle.sync(); // the new size, and the file itself
    await rename(tmp, file);
    await fsyncDir(dir);
  } catch (err) {
    await handle.close();
    throw err;
  }
  return { segment: { seq, file, bytes: segmentBytes, maxIndex: resetIndex }, handle };
}

function headerFrame(resetIndex: number): Buffer {
  const b = Buffer.alloc(HEADER_FRAME_BYTES);
  b.writeUInt32BE(HEADER_FRAME_BYTES - LENGTH_BYTES, 0);
  b.writeUInt8(KIND_HEADER, 4);
  b.writeUInt32BE(Math.floor(resetIndex / 0x1_0000_0000), 5);
  b.writeUInt32BE(resetIndex % 0x1_0000_0000, 9);
  b.writeUInt32BE(crc32(b.subarray(5, 13)), 13);
  return b;
}

/**
 * Replays one segment into `entries`. Returns where its data ends and, for the last segment, the
 * torn write to cut off if there is one; throws on damage.
 */
async function readSegment(
  seg: Segment,
  isLast: boolean,
  entries: Entry[],
  resetBefore: number,
): Promise<{ resetIndex: number; end: number; size: number; torn?: number }> {
  const buf = await readFile(seg.file);
  seg.bytes = buf.length;
  const damaged = (at: number, why: string): WalDamage =>
    new WalDamage((entries[entries.length - 1]?.index ?? resetBefore) + 1, `raft WAL segment ${seg.file} is damaged at offset ${at}: ${why}`);

  if (buf.length < HEADER_FRAME_BYTES || buf.readUInt32BE(0) !== HEADER_FRAME_BYTES - LENGTH_BYTES || buf[4] !== KIND_HEADER) {
    throw damaged(0, 'no segment header');
  }
  if (buf.readUInt32BE(13) !== crc32(buf.subarray(5, 13))) throw damaged(0, 'the segment header fails its CRC');
  const resetIndex = buf.readUInt32BE(5) * 0x1_0000_0000 + buf.readUInt32BE(9);
  if (resetIndex < resetBefore) throw damaged(0, `reset index ${resetIndex} is below ${resetBefore} of an older segment`);
  if (resetIndex > resetBefore) entries.length = 0;
  seg.maxIndex = resetIndex;

  let pos = HEADER_FRAME_BYTES;
  let first = true;
  while (pos + LENGTH_BYTES <= buf.length) {
    const length = buf.readUInt32BE(pos);
    if (length === 0) break;
    const frameEnd = pos + LENGTH_BYTES + length;
    let e: Entry | undefined;
    let problem: string | undefined;
    if (frameEnd > buf.length) problem = `a frame of ${length} bytes runs past the end of the file`;
    else if (buf[pos + LENGTH_BYTES] !== KIND_ENTRY) problem = `unknown frame kind ${buf[pos + LENGTH_BYTES]}`;
    else {
      try {
        e = decodeEntry(buf.subarray(pos + LENGTH_BYTES + 1, frameEnd));
      } catch (err) {
        if (!(err instanceof RecordError)) throw err;
        problem = err.message;
      }
    }
    if (e === undefined) {
      if (isLast && frameEnd <= buf.length && !lengthDamaged(buf, pos, length) && hasZeroSector(buf, pos, frameEnd)) {
        return { resetIndex, end: pos, size: buf.length, torn: pos };
      }
      throw damaged(pos, problem ?? 'bad frame');
    }
    if (e.index <= resetIndex) throw damaged(pos, `entry ${e.index} is at or below the reset index ${resetIndex}`);
    const prev = entries[entries.length - 1];
    if (prev !== undefined && e.index > prev.index + 1) {
      // Between segments this is an older segment whose deletion a crash undid: its entries are
      // obsolete (the store checks that the log still covers everything above its snapshot).
      if (!first) throw damaged(pos, `entry ${e.index} follows ${prev.index}`);
      entries.length = 0;
    } else if (prev !== undefined && e.index <= prev.index) {
      const keep = entries.length - (prev.index - e.index + 1);
      entries.length = Math.max(0, keep);
    }
    // A copy, so the entries do not pin the whole segment buffer.
    entries.push({ term: e.term, index: e.index, type: e.type, data: Buffer.from(e.data) });
    seg.maxIndex = e.index;
    first = false;
    pos = frameEnd;
  }
  // Data after the end (a zero length) is the rest of a torn write whose first page never landed.
  const torn = isLast && !allZero(buf, pos) ? pos : undefined;
  return { resetIndex, end: pos, size: buf.length, ...(torn === undefined ? {} : { torn }) };
}

/**
 * Whether the frame at `pos` holds a sound entry record of another length than its length field
 * says: the field is damaged (a torn write leaves zeros, not a record that checks out).
 */
function lengthDamaged(buf: Buffer, pos: number, length: number): boolean {
  const record = pos + LENGTH_BYTES + 1;
  if (record + ENTRY_RECORD_OVERHEAD > buf.length) return false;
  const implied = ENTRY_RECORD_OVERHEAD + buf.readUInt32BE(record + 18); // its data length field
  if (implied + 1 === length || record + implied > buf.length) return false;
  try {
    decodeEntry(buf.subarray(record, record + implied));
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a sector starting inside [from, to) is all zeros: a page of the write that never reached
 * the disk. Sectors are written whole, so the whole sector is checked, also past `to`: a few zero
 * bytes at the end of a damaged frame are not a torn write.
 */
function hasZeroSector(buf: Buffer, from: number, to: number): boolean {
  for (let s = Math.ceil(from / SECTOR) * SECTOR; s < to; s += SECTOR) {
    const sector = buf.subarray(s, Math.min(s + SECTOR, buf.length));
    if (sector.equals(ZEROS.subarray(0, sector.length))) return true;
  }
  return false;
}

function allZero(buf: Buffer, from: number): boolean {
  for (let at = from; at < buf.length; at += ZEROS.length) {
    const chunk = buf.subarray(at, Math.min(at + ZEROS.length, buf.length));
    if (!chunk.equals(ZEROS.subarray(0, chunk.length))) return false;
  }
  return true;
}

/** Zeros [at, size) and syncs: a later, shorter write must not leave old frames readable after it. */
async function zeroFrom(file: string, at: number, size: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    await handle.truncate(at);
    await handle.truncate(size);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeAll(handle: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await handle.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
