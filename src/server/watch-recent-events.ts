// The most recent events the watch hub was handed, oldest first, bounded by count and bytes. A
// watcher that fell a little behind (a slow consumer, a client reconnecting with last seen + 1)
// catches up from here in time proportional to the events it missed, instead of scanning every key
// of its range in the MVCC index. Older history still comes from the MVCC store.

import type { Event, KeyValue } from '../mvcc/types.js';
import { fromLatin1, toLatin1 } from '../mvcc/latin1.js';

/** A kept event handed back by between(). */
export interface RecentEvent {
  readonly event: Event;
  readonly revision: number;
}

/** Counted per event besides its key and value bytes. */
const EVENT_OVERHEAD_BYTES = 96;

/** Kept values' bytes share chunks of this size; a value larger than SHARED_MAX_BYTES gets its own. */
const CHUNK_BYTES = 64 * 1024;
const SHARED_MAX_BYTES = 8 * 1024;
const EMPTY = Buffer.alloc(0);

// An event's numbers, NUMS slots each: revision, flags, then kv's createRevision, version, value
// start and length in its chunk, then prevKv's createRevision, modRevision, version, value start
// and length. Its references, REFS slots each: kv's value chunk and lease, prevKv's value chunk
// and lease. Its key, as latin1, in `keys`.
const NUMS = 11;
const REV = 0;
const FLAGS = 1;
const CREATE = 2;
const VERSION = 3;
const START = 4;
const LENGTH = 5;
const PREV_CREATE = 6;
const PREV_MOD = 7;
const PREV_VERSION = 8;
const PREV_START = 9;
const PREV_LENGTH = 10;
const REFS = 4;
const CHUNK = 0;
const LEASE = 1;
const PREV_CHUNK = 2;
const PREV_LEASE = 3;
const DELETE_FLAG = 1;
const PREV_FLAG = 2;

/**
 * The kept events, packed: numbers in one array, chunk and lease references in another, keys in a
 * third, each a ring (oldest at `start`) that doubles when full; value bytes copied into shared
 * chunks (oldest first, so eviction frees them in order). Events are rebuilt as objects only for
 * the watchers that read them. Kept as objects (an event, two kvs, three or four Buffer views and
 * the key: ~600 bytes of objects), 16,384 events of one second of writes were all promoted to the
 * old generation and traced by every GC (issue 9); an event's kv also viewed its LevelDB record,
 * cut from an 8 KiB pooled slab, which it then pinned.
 */
export class RecentEvents {
  private nums: number[] = [];
  private refs: (Buffer | string)[] = [];
  private keys: string[] = [];
  /** Ring capacity in events (a power of two, or 0), the oldest event's slot, and the event count. */
  private capacity = 0;
  private start = 0;
  private count = 0;
  private bytes = 0;
  private open: Buffer = EMPTY;
  private used = 0;
  /**
   * Every event with revision >= coveredFrom (up to the last appended revision) is kept here.
   * Whole revisions are evicted, so this moves past each evicted revision.
   */
  private coveredFromRev: number;

  constructor(
    revision: number,
    private readonly maxEvents: number,
    private readonly maxBytes: number,
  ) {
    this.coveredFromRev = revision + 1;
  }

  get coveredFrom(): number {
    return this.coveredFromRev;
  }

  get size(): number {
    return this.count;
  }

  /** Appends the events of one batch (revision order); `revision` is the store's after it. */
  append(events: readonly Event[]): void {
    for (const event of events) this.push(event);
    while (this.count > this.maxEvents || (this.bytes > this.maxBytes && this.count > 0)) this.evictRevision();
  }

  /** Forgets everything: the store jumped (a snapshot was installed); coverage starts after `revision`. */
  reset(revision: number): void {
    this.nums = [];
    this.refs = [];
    this.keys = [];
    this.capacity = 0;
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
    this.coveredFromRev = revision + 1;
  }

  /**
   * Kept events with revision in [fromRev, toRev] whose key (latin1) `wanted` accepts, in order;
   * the caller checks `coveredFrom` first.
   */
  *between(fromRev: number, toRev: number, wanted: (key: string) => boolean): Generator<RecentEvent> {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.revisionAt(this.slot(mid)) < fromRev) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.count; i++) {
      const at = this.slot(i);
      const revision = this.revisionAt(at);
      if (revision > toRev) return;
      if (wanted(this.keys[at] as string)) yield { event: this.eventAt(at), revision };
    }
  }

  /** The ring slot of the i-th oldest kept event. */
  private slot(i: number): number {
    return (this.start + i) & (this.capacity - 1);
  }

  private revisionAt(at: number): number {
    return this.nums[at * NUMS + REV] as number;
  }

  private push(e: Event): void {
    const { kv, prevKv } = e;
    if (this.count === this.capacity) {
      // Full at the bound: the oldest revision goes now rather than after the batch, as it would.
      if (this.capacity >= this.maxEvents && this.revisionAt(this.start) !== kv.modRevision) this.evictRevision();
      else this.grow();
    }
    const at = this.slot(this.count);
    const n = this.nums;
    const r = this.refs;
    const i = at * NUMS;
    const ref = at * REFS;
    n[i + REV] = kv.modRevision;
    n[i + FLAGS] = (e.type === 'DELETE' ? DELETE_FLAG : 0) | (prevKv === undefined ? 0 : PREV_FLAG);
    n[i + CREATE] = kv.createRevision;
    n[i + VERSION] = kv.version;
    n[i + LENGTH] = kv.value.length;
    n[i + START] = this.copy(kv.value, ref + CHUNK);
    r[ref + LEASE] = kv.lease;
    if (prevKv === undefined) {
      n[i + PREV_CREATE] = 0;
      n[i + PREV_MOD] = 0;
      n[i + PREV_VERSION] = 0;
      n[i + PREV_LENGTH] = 0;
      n[i + PREV_START] = 0;
      r[ref + PREV_CHUNK] = EMPTY;
      r[ref + PREV_LEASE] = '0';
    } else {
      n[i + PREV_CREATE] = prevKv.createRevision;
      n[i + PREV_MOD] = prevKv.modRevision;
      n[i + PREV_VERSION] = prevKv.version;
      n[i + PREV_LENGTH] = prevKv.value.length;
      n[i + PREV_START] = this.copy(prevKv.value, ref + PREV_CHUNK);
      r[ref + PREV_LEASE] = prevKv.lease;
    }
    this.keys[at] = toLatin1(kv.key);
    this.count++;
    this.bytes += this.keptBytes(at);
  }

  /** Doubles the ring, the oldest event first. Rare: past the event bound only for a revision bigger than the ring. */
  private grow(): void {
    const capacity = Math.max(1024, this.capacity * 2);
    const nums = new Array<number>(capacity * NUMS).fill(0);
    const refs = new Array<Buffer | string>(capacity * REFS).fill(EMPTY);
    const keys = new Array<string>(capacity).fill('');
    for (let i = 0; i < this.count; i++) {
      const at = this.slot(i);
      for (let f = 0; f < NUMS; f++) nums[i * NUMS + f] = this.nums[at * NUMS + f] as number;
      for (let f = 0; f < REFS; f++) refs[i * REFS + f] = this.refs[at * REFS + f] as Buffer | string;
      keys[i] = this.keys[at] as string;
    }
    this.nums = nums;
    this.refs = refs;
    this.keys = keys;
    this.capacity = capacity;
    this.start = 0;
  }

  private eventAt(at: number): Event {
    const n = this.nums;
    const r = this.refs;
    const i = at * NUMS;
    const ref = at * REFS;
    const key = fromLatin1(this.keys[at] as string);
    const kv: KeyValue = {
      key,
      createRevision: n[i + CREATE] as number,
      modRevision: n[i + REV] as number,
      version: n[i + VERSION] as number,
      value: view(r[ref + CHUNK] as Buffer, n[i + START] as number, n[i + LENGTH] as number),
      lease: r[ref + LEASE] as string,
    };
    const flags = n[i + FLAGS] as number;
    const type = (flags & DELETE_FLAG) !== 0 ? 'DELETE' : 'PUT';
    if ((flags & PREV_FLAG) === 0) return { type, kv };
    const prevKv: KeyValue = {
      key,
      createRevision: n[i + PREV_CREATE] as number,
      modRevision: n[i + PREV_MOD] as number,
      version: n[i + PREV_VERSION] as number,
      value: view(r[ref + PREV_CHUNK] as Buffer, n[i + PREV_START] as number, n[i + PREV_LENGTH] as number),
      lease: r[ref + PREV_LEASE] as string,
    };
    return { type, kv, prevKv };
  }

  /** Copies a value's bytes into the open chunk (or one of its own), stores the chunk in refs[ref]; returns where they start. */
  private copy(b: Buffer, ref: number): number {
    const n = b.length;
    if (n === 0) {
      this.refs[ref] = EMPTY;
      return 0;
    }
    if (n > SHARED_MAX_BYTES) {
      const own = Buffer.allocUnsafeSlow(n);
      b.copy(own);
      this.refs[ref] = own;
      return 0;
    }
    if (this.used + n > this.open.length) {
      this.open = Buffer.allocUnsafeSlow(CHUNK_BYTES);
      this.used = 0;
    }
    b.copy(this.open, this.used);
    this.refs[ref] = this.open;
    const start = this.used;
    this.used += n;
    return start;
  }

  /** Drops the oldest revision's events; their slots let go of their chunks at once. */
  private evictRevision(): void {
    const revision = this.revisionAt(this.start);
    while (this.count > 0 && this.revisionAt(this.start) === revision) {
      const at = this.start;
      this.bytes -= this.keptBytes(at);
      this.refs[at * REFS + CHUNK] = EMPTY;
      this.refs[at * REFS + PREV_CHUNK] = EMPTY;
      this.keys[at] = '';
      this.start = (this.start + 1) & (this.capacity - 1);
      this.count--;
    }
    this.coveredFromRev = revision + 1;
  }

  private keptBytes(at: number): number {
    const n = this.nums;
    const i = at * NUMS;
    const prev = ((n[i + FLAGS] as number) & PREV_FLAG) === 0 ? 0 : (n[i + PREV_LENGTH] as number) + EVENT_OVERHEAD_BYTES;
    return (this.keys[at] as string).length + (n[i + LENGTH] as number) + prev + EVENT_OVERHEAD_BYTES;
  }
}

/** A kept value: a view of its chunk (the chunk is never written there again). */
function view(chunk: Buffer, start: number, length: number): Buffer {
  return length === 0 ? EMPTY : chunk.subarray(start, start + length);
}
