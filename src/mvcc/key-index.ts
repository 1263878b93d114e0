// The history of one key, as etcd's keyIndex keeps it: every revision not yet compacted away,
// oldest first. A tombstone ends a generation; the next put starts a new one (version 1, a new
// create revision). etcd stores generations as nested lists; a flat list where tombstones mark the
// boundaries answers the same questions with one array.

/** One kept revision of a key. */
export interface KeyRevision {
  /** The key as latin1 (one char per byte); the same string instance as its KeyIndex's. */
  readonly key: string;
  readonly main: number;
  readonly sub: number;
  /** Main revision of the generation's first put; 0 for a tombstone. */
  readonly createRevision: number;
  /** 1 for the generation's first put, +1 per put; 0 for a tombstone. */
  readonly version: number;
  /** Canonical int64 decimal; '0' = none (always for a tombstone). */
  readonly lease: string;
  /** The value as latin1; null marks a tombstone. */
  readonly value: string | null;
}

/**
 * A revision as its KeyIndex keeps it. Once a newer revision supersedes it, its value may move to
 * the store's ColdValues (src/mvcc/cold-values.ts): the store then replaces it with a copy whose
 * `value` is that value's handle. The store hands out KeyRevisions, with the value read back.
 */
export interface KeptRevision extends Omit<KeyRevision, 'value'> {
  /** The value as latin1, a ColdHandle, or null for a tombstone. */
  readonly value: string | number | null;
}

const NOTHING: readonly KeptRevision[] = Object.freeze([]);

/** Histories up to this long are kept in exact-size arrays (see push). */
const EXACT_SIZE_UP_TO = 16;

export class KeyIndex {
  /**
   * Kept revisions, strictly increasing by (main, sub). Never empty while the key is indexed; never
   * starts with a tombstone (compaction drops a tombstone together with what it ended).
   */
  revs: KeptRevision[] = [];
  /** Main revision of the last write that touched the key; lets a write list touched keys once. */
  touchedAt = 0;

  constructor(readonly key: string) {}

  /** Appends a revision (the caller keeps the order). */
  push(r: KeptRevision): void {
    const revs = this.revs;
    const n = revs.length;
    if (n >= EXACT_SIZE_UP_TO) {
      revs.push(r);
      return;
    }
    // Most keys hold a short history: exact-size copies. push grows a full array to 1.5x + 16
    // slots, which cost 100k keys of a few revisions each ~11 MB of empty slots.
    const next = new Array<KeptRevision>(n + 1);
    for (let i = 0; i < n; i++) next[i] = revs[i] as KeptRevision;
    next[n] = r;
    this.revs = next;
  }

  /** The key's put at the newest revision, or undefined if the key is deleted (or never was). */
  current(): KeptRevision | undefined {
    const last = this.revs[this.revs.length - 1];
    return last !== undefined && last.value !== null ? last : undefined;
  }

  /** Index of the newest revision with main <= rev, or -1. */
  private newestAtOrBefore(rev: number): number {
    const revs = this.revs;
    let hi = revs.length - 1;
    if (hi < 0 || (revs[hi] as KeptRevision).main <= rev) return hi;
    let lo = 0;
    if ((revs[0] as KeptRevision).main > rev) return -1;
    // Invariant: revs[lo].main <= rev < revs[hi].main.
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if ((revs[mid] as KeptRevision).main <= rev) lo = mid;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The put visible at main revision `rev`: the newest revision <= rev unless it is a tombstone.
   * This is also what etcd's keyIndex.keep(rev) keeps.
   */
  at(rev: number): KeptRevision | undefined {
    const i = this.newestAtOrBefore(rev);
    if (i < 0) return undefined;
    const r = this.revs[i] as KeptRevision;
    return r.value !== null ? r : undefined;
  }

  /**
   * etcd's keyIndex.compact(rev): keeps the newest revision <= rev unless it is a tombstone, and
   * everything newer; drops the rest. Returns the dropped revisions, oldest first.
   */
  compact(rev: number): readonly KeptRevision[] {
    const i = this.newestAtOrBefore(rev);
    if (i < 0) return NOTHING;
    const dropCount = (this.revs[i] as KeptRevision).value === null ? i + 1 : i;
    if (dropCount === 0) return NOTHING;
    const dropped = this.revs.slice(0, dropCount);
    // A fresh exact-size array: splice would keep the capacity a busy key's history grew to.
    this.revs = this.revs.slice(dropCount);
    return dropped;
  }
}
