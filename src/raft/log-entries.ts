import { type Entry, EntryType } from './types.js';

/**
 * Allocates the chunks payloads are packed into. The views a log hands out are subarrays of them,
 * so their class is the chunks' (a Node server passes Buffer.allocUnsafeSlow to get Buffers).
 */
export type ChunkAllocator = (bytes: number) => Uint8Array;

/** Payloads share chunks of this size. */
const CHUNK_BYTES = 64 * 1024;
/** A payload larger than this gets an exact chunk of its own. */
const SHARED_MAX_BYTES = 8 * 1024;

/**
 * The entries a RaftLog holds, packed: terms and types in parallel arrays, payloads copied into
 * shared chunks. A log holds up to --snapshot-count entries (100,000 by default) between
 * compactions; kept as Entry objects, each one cost an object, a view object and a pin on whatever
 * buffer its payload was cut from (a pooled 8 KiB slab, a received message, a LevelDB value),
 * about twice its own bytes in all, and pinned slabs kept short-lived garbage alive for as long.
 * Packed, an entry costs its payload and about 20 bytes; entries are built on demand as views.
 *
 * Entry k (from 0) is the log's k-th kept entry; the caller knows its index.
 */
export class LogEntries {
  // Invariant: the five arrays have the same length, the number of kept entries.
  private terms: number[] = [];
  private types: EntryType[] = [];
  /** The chunk holding each entry's payload. */
  private chunks: Uint8Array[] = [];
  private starts: number[] = [];
  private lengths: number[] = [];
  /** The chunk new small payloads are appended to, and how much of it is used. */
  private open: Uint8Array;
  private openUsed: number;
  private readonly empty: Uint8Array;

  constructor(private readonly allocate: ChunkAllocator) {
    this.empty = allocate(0);
    this.open = this.empty;
    this.openUsed = 0;
  }

  get length(): number {
    return this.terms.length;
  }

  push(e: Entry): void {
    const n = e.data.length;
    let chunk = this.empty;
    let start = 0;
    if (n > SHARED_MAX_BYTES) {
      chunk = this.allocate(n);
      chunk.set(e.data);
    } else if (n > 0) {
      if (this.openUsed + n > this.open.length) {
        this.open = this.allocate(CHUNK_BYTES);
        this.openUsed = 0;
      }
      chunk = this.open;
      start = this.openUsed;
      chunk.set(e.data, start);
      this.openUsed += n;
    }
    this.terms.push(e.term);
    this.types.push(e.type);
    this.chunks.push(chunk);
    this.starts.push(start);
    this.lengths.push(n);
  }

  /** Keeps the first `count` entries. */
  truncate(count: number): void {
    this.terms.length = count;
    this.types.length = count;
    this.chunks.length = count;
    this.starts.length = count;
    this.lengths.length = count;
  }

  /** Drops the first `count` entries; fresh arrays, so the dropped payloads' chunks can be freed. */
  dropFirst(count: number): void {
    if (count <= 0) return;
    this.terms = this.terms.slice(count);
    this.types = this.types.slice(count);
    this.chunks = this.chunks.slice(count);
    this.starts = this.starts.slice(count);
    this.lengths = this.lengths.slice(count);
  }

  term(k: number): number {
    return this.terms[k] as number;
  }

  type(k: number): EntryType {
    return this.types[k] as EntryType;
  }

  /** The payload's length. */
  dataBytes(k: number): number {
    return this.lengths[k] as number;
  }

  /** Entry k as an Entry at `index`; its data is a view of the packed payload. */
  entry(k: number, index: number): Entry {
    const start = this.starts[k] as number;
    const data = (this.chunks[k] as Uint8Array).subarray(start, start + (this.lengths[k] as number));
    return { term: this.terms[k] as number, index, type: this.types[k] as EntryType, data };
  }
}
