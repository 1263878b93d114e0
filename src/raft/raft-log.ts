import { type ChunkAllocator, LogEntries } from './log-entries.js';
import { type Entry, type Snapshot, RaftError, RaftErrorCode } from './types.js';

const ENTRY_OVERHEAD_BYTES = 16;

/** Bytes an entry counts for in size limits: its payload plus a small fixed overhead. */
export function entryBytes(e: Entry): number {
  return e.data.length + ENTRY_OVERHEAD_BYTES;
}

/**
 * The replicated log as one node sees it: a compacted prefix (summarised by the entry at
 * `prevIndex`), the entries after it, and the cursors that say how far they have been handed to the
 * application for persisting and applying.
 *
 * Invariants: prevIndex <= applied <= applying <= committed <= lastIndex();
 * entries[i] is the entry at index prevIndex + 1 + i.
 */
export class RaftLog {
  /** The last compacted index and its term (the snapshot's, or the log's start). */
  private prevIndex: number;
  private prevTerm: number;
  /** Packed (see LogEntries); Entry objects are built when asked for. */
  private entries: LogEntries;
  /** The newest snapshot this node has, kept to send to followers that fell behind. */
  snapshot: Snapshot | undefined;
  /** A snapshot received from the leader and not yet handed out for persisting. */
  pendingSnapshot: Snapshot | undefined;
  /** First index not yet handed out in a Ready for persisting. */
  unstableFrom: number;
  committed: number;
  /** Highest index handed out for applying. */
  applying: number;
  /** Highest index the application confirmed applied (through advance). */
  applied: number;

  /** `allocate` makes the chunks entry payloads are packed into (see LogEntries). */
  constructor(snapshot: Snapshot | undefined, entries: readonly Entry[], committed: number, applied: number, allocate: ChunkAllocator = (n) => new Uint8Array(n)) {
    this.snapshot = snapshot;
    this.pendingSnapshot = undefined;
    this.prevIndex = snapshot?.metadata.index ?? 0;
    this.prevTerm = snapshot?.metadata.term ?? 0;
    this.entries = new LogEntries(allocate);
    entries.forEach((e, i) => {
      if (e.index !== this.prevIndex + 1 + i) throw new Error(`log entries not contiguous at ${e.index}`);
      this.entries.push(e);
    });
    this.unstableFrom = this.lastIndex() + 1;
    if (committed < this.prevIndex || committed > this.lastIndex()) {
      throw new Error(`commit ${committed} out of range [${this.prevIndex}, ${this.lastIndex()}]`);
    }
    this.committed = committed;
    const start = Math.max(applied, this.prevIndex);
    if (start > committed) throw new Error(`applied ${applied} is beyond commit ${committed}`);
    this.applied = start;
    this.applying = start;
  }

  firstIndex(): number {
    return this.prevIndex + 1;
  }

  lastIndex(): number {
    return this.prevIndex + this.entries.length;
  }

  lastTerm(): number {
    return this.entries.length > 0 ? this.entries.term(this.entries.length - 1) : this.prevTerm;
  }

  /** The term of the entry at index, or undefined when it is compacted or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.prevIndex) return this.prevTerm;
    if (index < this.prevIndex || index > this.lastIndex()) return undefined;
    return this.entries.term(index - this.prevIndex - 1);
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  entryAt(index: number): Entry | undefined {
    if (index <= this.prevIndex || index > this.lastIndex()) return undefined;
    return this.entries.entry(index - this.prevIndex - 1, index);
  }

  /** Raft's election restriction: is a log ending at (index, term) at least as up to date as ours? */
  isUpToDate(index: number, term: number): boolean {
    const lastTerm = this.lastTerm();
    return term > lastTerm || (term === lastTerm && index >= this.lastIndex());
  }

  /**
   * The follower side of AppendEntries: if our entry at `index` has `logTerm`, append `entries`
   * (truncating a conflicting suffix) and advance commit. Returns the last index now known to match
   * the leader, or undefined when the consistency check fails.
   */
  maybeAppend(index: number, logTerm: number, commit: number, entries: readonly Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      if (conflict <= this.committed) throw new Error(`entry ${conflict} conflicts with committed entry`);
      this.append(entries.slice(conflict - index - 1));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** The first index where entries disagree with ours, or the first new one; 0 if all are present. */
  private findConflict(entries: readonly Entry[]): number {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * For fast backtracking: the largest index <= index whose term is <= term, with that term. When
   * the leader and follower disagree at index, every entry above the answer is known to differ.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = Math.min(index, this.lastIndex()); i > 0; i--) {
      const t = this.term(i);
      // Compacted: we cannot tell, so answer with the index itself and term 0 (send a snapshot).
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  /** Appends entries that start at or before lastIndex()+1, dropping any suffix they replace. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = (entries[0] as Entry).index;
    if (first <= this.committed) throw new Error(`append at ${first} would overwrite committed ${this.committed}`);
    if (first > this.lastIndex() + 1) throw new Error(`append at ${first} leaves a gap after ${this.lastIndex()}`);
    this.entries.truncate(first - this.prevIndex - 1);
    for (const e of entries) this.entries.push(e);
    if (first < this.unstableFrom) this.unstableFrom = first;
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    if (index > this.lastIndex()) throw new Error(`commit ${index} is beyond the last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Commits index if it is newer and (Raft's rule) its entry is of the current term. */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  /** Entries in [lo, hi) up to maxBytes (always at least one). Throws Compacted below firstIndex. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.prevIndex) throw new RaftError(RaftErrorCode.Compacted, `index ${lo} is compacted`);
    if (hi > this.lastIndex() + 1) throw new Error(`slice end ${hi} beyond last index ${this.lastIndex()}`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const k = i - this.prevIndex - 1;
      bytes += this.entries.dataBytes(k) + ENTRY_OVERHEAD_BYTES;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(this.entries.entry(k, i));
    }
    return out;
  }

  unstableEntries(): Entry[] {
    const out: Entry[] = [];
    for (let i = this.unstableFrom; i <= this.lastIndex(); i++) out.push(this.entries.entry(i - this.prevIndex - 1, i));
    return out;
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > this.applying;
  }

  nextCommittedEntries(maxBytes: number): Entry[] {
    if (this.committed <= this.applying) return [];
    return this.slice(this.applying + 1, this.committed + 1, maxBytes);
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  restore(snapshot: Snapshot): void {
    const { index, term } = snapshot.metadata;
    this.prevIndex = index;
    this.prevTerm = term;
    this.entries.truncate(0);
    this.snapshot = snapshot;
    this.pendingSnapshot = snapshot;
    this.unstableFrom = index + 1;
    this.committed = index;
    this.applying = index;
    this.applied = index;
  }

  /** Records a snapshot the application took of its own state at `snapshot.metadata.index`. */
  setSnapshot(snapshot: Snapshot): void {
    this.snapshot = snapshot;
  }

  /** Drops entries up to and including index; the application has them in a snapshot. */
  compact(index: number): void {
    if (index <= this.prevIndex) return;
    if (index > this.applied) throw new Error(`compact ${index} is beyond applied ${this.applied}`);
    if (index >= this.unstableFrom) throw new Error(`compact ${index} includes entries not yet persisted`);
    if (this.snapshot === undefined || this.snapshot.metadata.index < index) {
      throw new Error(`compact ${index} is beyond the newest snapshot`);
    }
    this.prevTerm = this.term(index) as number;
    this.entries.dropFirst(index - this.prevIndex);
    this.prevIndex = index;
  }

  /** Bytes of the entries in (from, to]. */
  bytesBetween(from: number, to: number): number {
    let bytes = 0;
    for (let i = Math.max(from, this.prevIndex) + 1; i <= Math.min(to, this.lastIndex()); i++) {
      bytes += this.entries.dataBytes(i - this.prevIndex - 1) + ENTRY_OVERHEAD_BYTES;
    }
    return bytes;
  }
}
