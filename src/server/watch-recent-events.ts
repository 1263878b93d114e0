// The most recent events the watch hub was handed, oldest first, bounded by count and bytes. A
// watcher that fell a little behind (a slow consumer, a client reconnecting with last seen + 1)
// catches up from here in time proportional to the events it missed, instead of scanning every key
// of its range in the MVCC index. Older history still comes from the MVCC store.

import type { Event, KeyValue } from '../mvcc/types.js';
import { toLatin1 } from '../mvcc/latin1.js';

/** One event and its key as latin1 (bytewise order = string order). */
export interface RecentEvent {
  readonly event: Event;
  readonly key: string;
  readonly revision: number;
}

/** Counted per event besides its key and value bytes. */
const EVENT_OVERHEAD_BYTES = 96;
/** Evicted entries sliced off together. */
const EVICTED_SLICE = 1024;

/** Kept events' bytes share chunks of this size; a value larger than SHARED_MAX_BYTES gets its own. */
const CHUNK_BYTES = 64 * 1024;
const SHARED_MAX_BYTES = 8 * 1024;
const EMPTY = Buffer.alloc(0);

/**
 * Copies the bytes of kept events into shared chunks, oldest first, so eviction frees them in
 * order. An event's kv views its LevelDB record, cut from an 8 KiB pooled slab with short-lived
 * data around it; kept here as it is (16,384 events), each event pinned about twice its bytes and
 * held the rest of its slab's garbage into the old generation.
 */
class EventPacker {
  private open: Buffer = EMPTY;
  private used = 0;

  pack(e: Event): Event {
    const kv = this.kv(e.kv, undefined);
    return e.prevKv === undefined ? { type: e.type, kv } : { type: e.type, kv, prevKv: this.kv(e.prevKv, e.prevKv.key === e.kv.key ? kv.key : undefined) };
  }

  private kv(kv: KeyValue, key: Buffer | undefined): KeyValue {
    return {
      key: key ?? this.copy(kv.key),
      createRevision: kv.createRevision,
      modRevision: kv.modRevision,
      version: kv.version,
      value: this.copy(kv.value),
      lease: kv.lease,
    };
  }

  private copy(b: Buffer): Buffer {
    const n = b.length;
    if (n === 0) return EMPTY;
    if (n > SHARED_MAX_BYTES) {
      const own = Buffer.allocUnsafeSlow(n);
      b.copy(own);
      return own;
    }
    if (this.used + n > this.open.length) {
      this.open = Buffer.allocUnsafeSlow(CHUNK_BYTES);
      this.used = 0;
    }
    b.copy(this.open, this.used);
    const view = this.open.subarray(this.used, this.used + n);
    this.used += n;
    return view;
  }
}

export class RecentEvents {
  private entries: RecentEvent[] = [];
  /** Index of the oldest kept entry; entries before it are dropped (sliced away now and then). */
  private head = 0;
  private bytes = 0;
  /**
   * Every event with revision >= coveredFrom (up to the last appended revision) is kept here.
   * Whole revisions are evicted, so this moves past each evicted revision.
   */
  private coveredFromRev: number;
  private readonly packer = new EventPacker();

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
    return this.entries.length - this.head;
  }

  /** Appends the events of one batch (revision order); `revision` is the store's after it. */
  append(events: readonly Event[]): void {
    for (const event of events) {
      const revision = event.kv.modRevision;
      this.entries.push({ event: this.packer.pack(event), key: toLatin1(event.kv.key), revision });
      this.bytes += eventBytes(event);
    }
    while (this.size > this.maxEvents || (this.bytes > this.maxBytes && this.size > 0)) this.evictRevision();
    // Evicted entries stay reachable until sliced away: slice every EVICTED_SLICE of them (a copy
    // of the kept ones), not once they are half the array, which held up to twice the bound.
    if (this.head >= EVICTED_SLICE) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  /** Forgets everything: the store jumped (a snapshot was installed); coverage starts after `revision`. */
  reset(revision: number): void {
    this.entries = [];
    this.head = 0;
    this.bytes = 0;
    this.coveredFromRev = revision + 1;
  }

  /** Kept entries with revision in [fromRev, toRev], in order; the caller checks `coveredFrom` first. */
  *between(fromRev: number, toRev: number): Generator<RecentEvent> {
    let lo = this.head;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.entries[mid] as RecentEvent).revision < fromRev) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.entries.length; i++) {
      const e = this.entries[i] as RecentEvent;
      if (e.revision > toRev) return;
      yield e;
    }
  }

  private evictRevision(): void {
    const first = this.entries[this.head] as RecentEvent;
    const revision = first.revision;
    while (this.head < this.entries.length && (this.entries[this.head] as RecentEvent).revision === revision) {
      this.bytes -= eventBytes((this.entries[this.head] as RecentEvent).event);
      this.head++;
    }
    this.coveredFromRev = revision + 1;
  }
}

function eventBytes(e: Event): number {
  const prev = e.prevKv === undefined ? 0 : e.prevKv.value.length + EVENT_OVERHEAD_BYTES;
  return e.kv.key.length + e.kv.value.length + prev + EVENT_OVERHEAD_BYTES;
}
