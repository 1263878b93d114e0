// Values moved off the heap into files. The MVCC store is in memory (DESIGN.md) but its values
// need not be: history is read rarely (ranges at a past revision, watchers catching up, hashes,
// snapshots) and can be most of the data (after 500k puts over 100k keys, four values in five are
// history), and a large current value costs little to read back beside the rest of a request. On the heap each of their bytes cost about two
// bytes of RSS (V8 lets the old generation grow to twice its live size) and every full GC walked
// them. Here a value costs its bytes in a file, that is in the OS page cache, which the kernel can
// reclaim, and 12 bytes of typed arrays; reading one back is a pread, so reads stay synchronous.
// (MvccStore decides which go: superseded ones, and current ones of a kilobyte or more.)
//
// The files are a cache of what LevelDB holds durably: never synced, deleted when the store closes
// or is replaced, and wiped by the next process (ketch-server clears the folder at startup).
// Appends collect in a buffer written when full. History is freed by compaction in the order it
// was written, so segments mostly empty as a whole and are then deleted; values that stay current
// keep a few alive, and rewriteSparse moves those on.

import { closeSync, mkdirSync, openSync, readSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

import { fromLatin1, toLatin1, writeLatin1 } from './latin1.js';

/** A segment file takes appends until it holds this many bytes (by default). */
const SEGMENT_BYTES = 64 * 1024 * 1024;
/** Appends collect in memory up to this many bytes before one write. */
const PENDING_BYTES = 256 * 1024;
/** A read fetches at least this much, so that a walk over neighbouring values is one pread per block. */
const READ_BLOCK_BYTES = 16 * 1024;
/** readMany's largest read. */
const MANY_READ_BYTES = 1024 * 1024;
/** readMany reads over a gap between two values up to this long rather than making a second read. */
const SPAN_GAP_BYTES = 8 * 1024;
/** A segment (not the active one) whose live values fill less than 1/this of it is rewritten. */
const REWRITE_BELOW_LIVE_SHARE = 4;
/** Marks a handle-table slot not in use. */
const FREED = 0xffffffff;

interface Segment {
  readonly fd: number;
  readonly path: string;
  /** Bytes appended, the pending ones included. */
  size: number;
  /** Values in it not yet freed, and their bytes. */
  live: number;
  liveBytes: number;
}

/** Where a value went: an index into the handle table, reused once freed. */
export type ColdHandle = number;

export class ColdValues {
  // Handle table: the segment, offset and length of each value.
  private segmentOf: Uint32Array<ArrayBuffer> = new Uint32Array(4096);
  private offsetOf: Uint32Array<ArrayBuffer> = new Uint32Array(4096);
  private lengthOf: Uint32Array<ArrayBuffer> = new Uint32Array(4096);
  private handles = 0;
  private readonly freeHandles: ColdHandle[] = [];
  private readonly segments: (Segment | undefined)[] = [];
  private active!: Segment;
  private activeId = -1;
  /** Appended bytes not yet written; they belong to the active segment from `pendingAt` on. */
  private readonly pending = Buffer.allocUnsafeSlow(PENDING_BYTES);
  private pendingUsed = 0;
  private pendingAt = 0;
  // The last block read, which serves reads of values it holds.
  private readonly block = Buffer.allocUnsafeSlow(READ_BLOCK_BYTES);
  /** readMany's buffer for reads larger than a block, made at the first. */
  private manyBuffer: Buffer | undefined;
  private blockSegment = -1;
  private blockAt = 0;
  private blockLength = 0;
  private liveBytes = 0;
  /** Set when a segment could not be rewritten: segments are then only deleted once empty. */
  private rewriteFailure: Error | undefined;
  private closed = false;

  private readonly segmentBytes: number;

  /** Takes `dir` (created, or emptied if it exists) for this instance alone. */
  constructor(
    private readonly dir: string,
    opts: { segmentBytes?: number | undefined } = {},
  ) {
    this.segmentBytes = opts.segmentBytes ?? SEGMENT_BYTES;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    this.startSegment();
  }

  /** Bytes of the values held. */
  get bytes(): number {
    return this.liveBytes;
  }

  /** Segment files on disk. */
  get segmentCount(): number {
    return this.segments.filter((s) => s !== undefined).length;
  }

  /** Stores a latin1 value (one char per byte); throws if the file cannot be written. */
  add(value: string): ColdHandle {
    if (this.closed) throw new Error('mvcc: cold values are closed');
    const h = this.freeHandles.pop() ?? this.newHandle();
    try {
      this.place(h, value);
    } catch (err) {
      this.segmentOf[h] = FREED;
      this.freeHandles.push(h);
      throw err;
    }
    return h;
  }

  /** Appends `value` to the active segment as handle h's. */
  private place(h: ColdHandle, value: string): void {
    const n = value.length;
    if (this.active.size > 0 && this.active.size + n > this.segmentBytes) {
      this.flush();
      this.startSegment();
    }
    const at = this.active.size;
    if (n > PENDING_BYTES) {
      this.flush();
      this.writeFully(fromLatin1(value), at);
      this.pendingAt = at + n;
    } else {
      if (this.pendingUsed + n > PENDING_BYTES) this.flush();
      writeLatin1(this.pending, value, this.pendingUsed);
      this.pendingUsed += n;
    }
    this.active.size += n;
    this.active.live++;
    this.active.liveBytes += n;
    this.liveBytes += n;
    this.segmentOf[h] = this.activeId;
    this.offsetOf[h] = at;
    this.lengthOf[h] = n;
  }

  /** The value's length in bytes. */
  length(h: ColdHandle): number {
    return this.lengthOf[h] as number;
  }

  /** The value `add` stored, as the same latin1 string. */
  read(h: ColdHandle): string {
    const segmentId = this.segmentOf[h] as number;
    const at = this.offsetOf[h] as number;
    const n = this.lengthOf[h] as number;
    if (n === 0) return '';
    if (segmentId === this.activeId && at >= this.pendingAt) {
      const from = at - this.pendingAt;
      return toLatin1(this.pending, from, from + n);
    }
    const inBlock = segmentId === this.blockSegment && at >= this.blockAt && at + n <= this.blockAt + this.blockLength;
    if (!inBlock) {
      if (n > READ_BLOCK_BYTES) {
        const buf = Buffer.allocUnsafe(n);
        this.readFully(segmentId, buf, n, at);
        return toLatin1(buf, 0, n);
      }
      this.blockSegment = -1;
      this.blockLength = this.readFully(segmentId, this.block, READ_BLOCK_BYTES, at, n);
      this.blockSegment = segmentId;
      this.blockAt = at;
    }
    const from = at - this.blockAt;
    return toLatin1(this.block, from, from + n);
  }

  /**
   * The values of many handles, in their order, read in file order: for ranges and walks over the
   * history (snapshots, hashes), which visit keys in key order while the files hold values in the
   * order they were written. Values close to each other in a file come in one read (one pread per
   * value took seconds for a snapshot); far apart ones in reads of their own.
   */
  readMany(handles: readonly ColdHandle[]): string[] {
    const out = new Array<string>(handles.length);
    this.forEachBytes(handles, (i, buf, start, end) => {
      out[i] = toLatin1(buf, start, end);
    });
    return out;
  }

  /** A value's length in bytes. */
  byteLength(handle: ColdHandle): number {
    return this.lengthOf[handle] as number;
  }

  /**
   * readMany's reads, handing each value's bytes to `visit` (handles[i]'s at buf[start, end), valid
   * only during the call) instead of making a string of them: a snapshot copies them straight into
   * its buffer.
   */
  forEachBytes(handles: readonly ColdHandle[], visit: (i: number, buf: Buffer, start: number, end: number) => void): void {
    const order = Array.from(handles.keys());
    const seg = this.segmentOf;
    const off = this.offsetOf;
    const len = this.lengthOf;
    order.sort((a, b) => {
      const ha = handles[a] as number;
      const hb = handles[b] as number;
      return (seg[ha] as number) - (seg[hb] as number) || (off[ha] as number) - (off[hb] as number);
    });
    const readable = (h: number): boolean => {
      const n = len[h] as number;
      return n > 0 && n <= MANY_READ_BYTES && !(seg[h] === this.activeId && (off[h] as number) >= this.pendingAt);
    };
    let k = 0;
    while (k < order.length) {
      const first = handles[order[k] as number] as number;
      if (!readable(first)) {
        const bytes = fromLatin1(this.read(first));
        visit(order[k] as number, bytes, 0, bytes.length);
        k++;
        continue;
      }
      // One read from this value to the end of the last one that follows it closely.
      const segmentId = seg[first] as number;
      const from = off[first] as number;
      let to = from + (len[first] as number);
      let last = k + 1;
      for (; last < order.length; last++) {
        const h = handles[order[last] as number] as number;
        const at = off[h] as number;
        const end = at + (len[h] as number);
        if (seg[h] !== segmentId || at > to + SPAN_GAP_BYTES || end - from > MANY_READ_BYTES || !readable(h)) break;
        if (end > to) to = end;
      }
      const buf = this.spanBuffer(to - from);
      this.readFully(segmentId, buf, to - from, from);
      for (; k < last; k++) {
        const h = handles[order[k] as number] as number;
        const at = (off[h] as number) - from;
        visit(order[k] as number, buf, at, at + (len[h] as number));
      }
    }
  }

  /** Forgets a value; a segment with none left is deleted (but for the one taking appends). */
  free(h: ColdHandle): void {
    const segmentId = this.segmentOf[h] as number;
    const segment = this.segments[segmentId] as Segment;
    const n = this.lengthOf[h] as number;
    this.liveBytes -= n;
    segment.liveBytes -= n;
    this.segmentOf[h] = FREED;
    this.freeHandles.push(h);
    segment.live--;
    if (segment.live === 0 && segmentId !== this.activeId) this.dropSegment(segmentId);
  }

  private dropSegment(segmentId: number): void {
    const segment = this.segments[segmentId] as Segment;
    this.segments[segmentId] = undefined;
    if (this.blockSegment === segmentId) this.blockSegment = -1;
    closeSync(segment.fd);
    unlinkSync(segment.path);
  }

  /**
   * Moves the values of mostly empty segments (but the active one) to the active one and deletes
   * them; after frees, so that values freed together are not moved first. Values live on while
   * their keys are current, so without this a segment kept for a few long-lived values would hold
   * the disk space of all the history compaction freed around them.
   */
  rewriteSparse(): void {
    if (this.rewriteFailure !== undefined) return;
    const sparse = new Set<number>();
    this.segments.forEach((s, id) => {
      if (s !== undefined && id !== this.activeId && s.liveBytes * REWRITE_BELOW_LIVE_SHARE < s.size) sparse.add(id);
    });
    if (sparse.size === 0) return;
    const moving: ColdHandle[] = [];
    for (let h = 0; h < this.handles; h++) if (sparse.has(this.segmentOf[h] as number)) moving.push(h);
    try {
      const values = this.readMany(moving);
      for (let i = 0; i < moving.length; i++) {
        const h = moving[i] as number;
        const from = this.segments[this.segmentOf[h] as number] as Segment;
        const value = values[i] as string;
        this.place(h, value);
        this.liveBytes -= value.length;
        from.liveBytes -= value.length;
        from.live--;
      }
    } catch (err) {
      // A full disk: what was not moved stays where it is, readable; no more rewrites.
      this.rewriteFailure = err as Error;
    }
    for (const id of sparse) if (this.segments[id]?.live === 0) this.dropSegment(id);
  }

  /** A buffer for a read of n bytes (<= MANY_READ_BYTES) in readMany; its content is overwritten. */
  private spanBuffer(n: number): Buffer {
    if (n <= READ_BLOCK_BYTES) {
      this.blockSegment = -1;
      return this.block;
    }
    this.manyBuffer ??= Buffer.allocUnsafeSlow(MANY_READ_BYTES);
    return this.manyBuffer;
  }

  /** Closes and deletes every file; the values are gone. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.segments) if (s !== undefined) closeSync(s.fd);
    this.segments.length = 0;
    rmSync(this.dir, { recursive: true, force: true });
  }

  private startSegment(): void {
    if (this.activeId >= 0 && this.active.live === 0) {
      // The old active segment emptied while it took appends: nothing else will delete it.
      this.segments[this.activeId] = undefined;
      closeSync(this.active.fd);
      unlinkSync(this.active.path);
    }
    const id = this.segments.length;
    const path = join(this.dir, `segment-${String(id).padStart(6, '0')}`);
    const segment: Segment = { fd: openSync(path, 'w+'), path, size: 0, live: 0, liveBytes: 0 };
    this.segments.push(segment);
    this.active = segment;
    this.activeId = id;
    this.pendingAt = 0;
    this.pendingUsed = 0;
  }

  private flush(): void {
    if (this.pendingUsed === 0) return;
    this.writeFully(this.pending.subarray(0, this.pendingUsed), this.pendingAt);
    this.pendingAt += this.pendingUsed;
    this.pendingUsed = 0;
  }

  private writeFully(buf: Uint8Array, position: number): void {
    let done = 0;
    while (done < buf.length) done += writeSync(this.active.fd, buf, done, buf.length - done, position + done);
  }

  /** Reads up to `want` bytes at `position` (at least `need`, default all); returns how many. */
  private readFully(segmentId: number, buf: Buffer, want: number, position: number, need = want): number {
    const segment = this.segments[segmentId];
    if (segment === undefined) throw new Error(`mvcc: cold value in deleted segment ${segmentId}`);
    let done = 0;
    while (done < need) {
      const n = readSync(segment.fd, buf, done, want - done, position + done);
      if (n === 0) throw new Error(`mvcc: cold value segment ${segment.path} is shorter than expected`);
      done += n;
    }
    return done;
  }

  private newHandle(): ColdHandle {
    if (this.handles === this.segmentOf.length) {
      const grow = (a: Uint32Array): Uint32Array<ArrayBuffer> => {
        const b = new Uint32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.segmentOf = grow(this.segmentOf);
      this.offsetOf = grow(this.offsetOf);
      this.lengthOf = grow(this.lengthOf);
    }
    return this.handles++;
  }
}
