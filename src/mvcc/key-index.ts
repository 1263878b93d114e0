// The history of one key, as etcd's keyIndex keeps it: every revision not yet compacted away,
// oldest first. A tombstone ends a generation; the next put starts a new one (version 1, a new
// create revision). etcd stores generations as nested lists; a flat list where tombstones mark the
// boundaries answers the same questions with one array.
//
// The revisions are packed into one array, five slots per revision, rather than kept as an object
// each: 100k keys with 3.5 revisions each took 36 MiB as objects and their arrays, and every full
// GC marked each object (issue 9). Reads hand out KeptRevision objects made on the spot.

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
 * A revision as its KeyIndex keeps it. Its value may be in the store's ColdValues
 * (src/mvcc/cold-values.ts): `value` is then that value's handle. The store hands out KeyRevisions,
 * with the value read back.
 */
export interface KeptRevision extends Omit<KeyRevision, 'value'> {
  /** The value as latin1, a ColdHandle, or null for a tombstone. */
  readonly value: string | number | null;
}

/** Slots per revision in KeyIndex.slots: main, sub, createRevision, version, value. */
const FIELDS = 5;
const MAIN = 0;
const SUB = 1;
const CREATE = 2;
const VERSION = 3;
const VALUE = 4;

/** Numbers (small integers, stored unboxed), and values: a latin1 string, a ColdHandle or null. */
type Slot = number | string | null;

/** Histories up to this many revisions are kept in exact-size arrays (see push). */
const EXACT_SIZE_UP_TO = 16;

export class KeyIndex {
  /**
   * Kept revisions, FIELDS slots each, strictly increasing by (main, sub). Never empty while the
   * key is indexed; never starts with a tombstone (compaction drops a tombstone together with what
   * it ended).
   */
  private slots: Slot[] = [];
  /** Non-zero leases, by revision position; undefined while there are none. */
  private leases: (string | undefined)[] | undefined;
  /** Main revision of the last write that touched the key; lets a write list touched keys once. */
  touchedAt = 0;

  constructor(readonly key: string) {}

  /** Revisions kept. */
  get length(): number {
    return this.slots.length / FIELDS;
  }

  mainAt(i: number): number {
    return this.slots[i * FIELDS + MAIN] as number;
  }

  subAt(i: number): number {
    return this.slots[i * FIELDS + SUB] as number;
  }

  /** The value of revision i: a latin1 string, a ColdHandle, or null for a tombstone. */
  valueAt(i: number): string | number | null {
    return this.slots[i * FIELDS + VALUE] as string | number | null;
  }

  leaseAt(i: number): string {
    return this.leases?.[i] ?? '0';
  }

  /** Revision i as an object of its own. */
  revisionAt(i: number): KeptRevision {
    const n = this.slots;
    const at = i * FIELDS;
    return {
      key: this.key,
      main: n[at + MAIN] as number,
      sub: n[at + SUB] as number,
      createRevision: n[at + CREATE] as number,
      version: n[at + VERSION] as number,
      lease: this.leaseAt(i),
      value: this.valueAt(i),
    };
  }

  /** Every kept revision, oldest first. */
  revisions(): KeptRevision[] {
    const out = new Array<KeptRevision>(this.length);
    for (let i = 0; i < out.length; i++) out[i] = this.revisionAt(i);
    return out;
  }

  /** Appends a revision (the caller keeps the order). */
  push(r: KeptRevision): void {
    const i = this.length;
    const n = this.slots;
    const value = r.value;
    if (i >= EXACT_SIZE_UP_TO) {
      n.push(r.main, r.sub, r.createRevision, r.version, value);
    } else {
      // Most keys hold a short history: exact-size copies. push grows a full array to 1.5x + 16
      // slots, which cost 100k keys of a few revisions each ~11 MB of empty slots.
      const next = new Array<Slot>(n.length + FIELDS);
      for (let j = 0; j < n.length; j++) next[j] = n[j] as Slot;
      next[n.length + MAIN] = r.main;
      next[n.length + SUB] = r.sub;
      next[n.length + CREATE] = r.createRevision;
      next[n.length + VERSION] = r.version;
      next[n.length + VALUE] = value;
      this.slots = next;
    }
    if (r.lease !== '0') this.leases = withSlot(this.leases, i, r.lease);
  }

  /** Removes and returns the newest revision. */
  pop(): KeptRevision {
    const i = this.length - 1;
    const r = this.revisionAt(i);
    this.slots.length = i * FIELDS;
    if (this.leases !== undefined) this.leases.length = Math.min(this.leases.length, i);
    return r;
  }

  /** Replaces the value of revision i (a string moving to the cold files, as its handle). */
  setValue(i: number, value: string | number): void {
    this.slots[i * FIELDS + VALUE] = value;
  }

  /** Whether the key exists at the newest revision (its last revision is a put). */
  isLive(): boolean {
    const n = this.slots;
    return n.length > 0 && n[n.length - FIELDS + VALUE] !== null;
  }

  /** The key's put at the newest revision, or undefined if the key is deleted (or never was). */
  current(): KeptRevision | undefined {
    return this.isLive() ? this.revisionAt(this.length - 1) : undefined;
  }

  /** The lease of the key's current put; '0' when it has none or the key is deleted. */
  currentLease(): string {
    return this.isLive() ? this.leaseAt(this.length - 1) : '0';
  }

  /** Index of the newest revision with main <= rev, or -1. */
  private newestAtOrBefore(rev: number): number {
    let hi = this.length - 1;
    if (hi < 0 || this.mainAt(hi) <= rev) return hi;
    let lo = 0;
    if (this.mainAt(0) > rev) return -1;
    // Invariant: main(lo) <= rev < main(hi).
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (this.mainAt(mid) <= rev) lo = mid;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first revision with main >= rev (length if none). */
  firstAtOrAfter(rev: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.mainAt(mid) < rev) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Index of the put visible at main revision `rev` (the newest revision <= rev unless it is a
   * tombstone), or -1. This is also what etcd's keyIndex.keep(rev) keeps.
   */
  indexAt(rev: number): number {
    const i = this.newestAtOrBefore(rev);
    return i >= 0 && this.slots[i * FIELDS + VALUE] !== null ? i : -1;
  }

  /** The put visible at main revision `rev` (see indexAt). */
  at(rev: number): KeptRevision | undefined {
    const i = this.indexAt(rev);
    return i < 0 ? undefined : this.revisionAt(i);
  }

  /**
   * etcd's keyIndex.compact(rev): keeps the newest revision <= rev unless it is a tombstone, and
   * everything newer; drops the rest. Returns the dropped revisions, oldest first.
   */
  compact(rev: number): KeptRevision[] {
    const i = this.newestAtOrBefore(rev);
    if (i < 0) return [];
    const dropCount = this.slots[i * FIELDS + VALUE] === null ? i + 1 : i;
    if (dropCount === 0) return [];
    const dropped = new Array<KeptRevision>(dropCount);
    for (let j = 0; j < dropCount; j++) dropped[j] = this.revisionAt(j);
    // Fresh exact-size arrays: splice would keep the capacity a busy key's history grew to.
    this.slots = this.slots.slice(dropCount * FIELDS);
    this.leases = KeyIndex.dropFirst(this.leases, dropCount);
    return dropped;
  }

  private static dropFirst(a: (string | undefined)[] | undefined, count: number): (string | undefined)[] | undefined {
    if (a === undefined || a.length <= count) return undefined;
    const rest = a.slice(count);
    return rest.some((s) => s !== undefined) ? rest : undefined;
  }
}

/** `a` with a[i] = v: an exact-size copy when i is past its end in a short array (see EXACT_SIZE_UP_TO). */
function withSlot(a: (string | undefined)[] | undefined, i: number, v: string): (string | undefined)[] {
  if (a !== undefined && (i < a.length || i >= EXACT_SIZE_UP_TO)) {
    a[i] = v;
    return a;
  }
  const next = new Array<string | undefined>(i + 1);
  if (a !== undefined) for (let j = 0; j < a.length; j++) next[j] = a[j];
  next[i] = v;
  return next;
}
