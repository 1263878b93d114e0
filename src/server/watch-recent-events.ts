// The most recent events the watch hub was handed, oldest first, bounded by count and bytes. A
// watcher that fell a little behind (a slow consumer, a client reconnecting with last seen + 1)
// catches up from here in time proportional to the events it missed, instead of scanning every key
// of its range in the MVCC index. Older history still comes from the MVCC store.

import type { Event } from '../mvcc/types.js';
import { toLatin1 } from '../mvcc/latin1.js';

/** One event and its key as latin1 (bytewise order = string order). */
export interface RecentEvent {
  readonly event: Event;
  readonly key: string;
  readonly revision: number;
}

/** Counted per event besides its key and value bytes. */
const EVENT_OVERHEAD_BYTES = 96;

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
      this.entries.push({ event, key: toLatin1(event.kv.key), revision });
      this.bytes += eventBytes(event);
    }
    while (this.size > this.maxEvents || (this.bytes > this.maxBytes && this.size > 0)) this.evictRevision();
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
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
