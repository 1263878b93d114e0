import type { ConfState, NodeId } from './types.js';

/** The leader's window of append messages sent to one follower and not yet acknowledged. */
export class Inflights {
  private readonly lastIndexes: number[] = [];
  private readonly sizes: number[] = [];
  private bytes = 0;

  constructor(
    private readonly maxMsgs: number,
    private readonly maxBytes: number,
  ) {}

  add(lastIndex: number, bytes: number): void {
    this.lastIndexes.push(lastIndex);
    this.sizes.push(bytes);
    this.bytes += bytes;
  }

  /** Frees every message whose entries end at or before index. */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.lastIndexes.length && (this.lastIndexes[n] as number) <= index) {
      this.bytes -= this.sizes[n] as number;
      n++;
    }
    this.lastIndexes.splice(0, n);
    this.sizes.splice(0, n);
  }

  full(): boolean {
    return this.lastIndexes.length >= this.maxMsgs || (this.maxBytes > 0 && this.bytes >= this.maxBytes);
  }

  count(): number {
    return this.lastIndexes.length;
  }

  reset(): void {
    this.lastIndexes.length = 0;
    this.sizes.length = 0;
    this.bytes = 0;
  }
}

export enum ProgressState {
  /** Unknown match: send one append at a time and wait for its answer. */
  Probe = 'Probe',
  /** Known match: stream appends optimistically, bounded by the inflight window. */
  Replicate = 'Replicate',
  /** The follower needs a snapshot; send nothing until it is applied or fails. */
  Snapshot = 'Snapshot',
}

/** What the leader knows about one follower's log. Invariant: match < next. */
export class Progress {
  match = 0;
  next: number;
  state = ProgressState.Probe;
  /** In Snapshot state: the index of the snapshot sent. */
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /**
   * Stop sending appends until an answer or a heartbeat response arrives: in Probe after each
   * append, in Replicate when the inflight window is full. A heartbeat response clears it, which is
   * how a window filled by lost messages recovers.
   */
  msgAppFlowPaused = false;
  readonly inflights: Inflights;

  constructor(
    next: number,
    public isLearner: boolean,
    maxInflightMsgs: number,
    maxInflightBytes: number,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflightMsgs, maxInflightBytes);
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, resume right after it (or after match if that is further).
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /** An acknowledgement up to index; returns whether it told us anything new. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.msgAppFlowPaused = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * A rejection of the append whose previous index was `rejected`; `matchHint` is where the
   * follower's log may agree. Returns false when the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In Probe, only the answer to the append we sent last (prev index next-1) counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /** Records that entries ending at lastIndex were sent. */
  sentEntries(lastIndex: number, count: number, bytes: number): void {
    if (this.state === ProgressState.Replicate) {
      if (count > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
      this.msgAppFlowPaused = this.inflights.full();
    } else if (this.state === ProgressState.Probe) {
      this.msgAppFlowPaused = true;
    }
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
      case ProgressState.Replicate:
        return this.msgAppFlowPaused;
      case ProgressState.Snapshot:
        return true;
    }
  }
}

export type VoteResult = 'won' | 'lost' | 'pending';

/** Membership (voters and learners, one change at a time) and the leader's view of each member. */
export class ProgressTracker {
  voters = new Set<NodeId>();
  learners = new Set<NodeId>();
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();
  /** committedIndex's work array, sorted descending over its first voters.size slots. */
  private readonly matchScratch: number[] = [];

  constructor(
    private readonly maxInflightMsgs: number,
    private readonly maxInflightBytes: number,
  ) {}

  confState(): ConfState {
    return { voters: [...this.voters].sort(), learners: [...this.learners].sort() };
  }

  /** Replaces membership wholesale (bootstrap, restart, snapshot). */
  reset(cs: ConfState, nextIndex: number): void {
    this.voters = new Set(cs.voters);
    this.learners = new Set(cs.learners);
    this.progress.clear();
    for (const id of this.voters) this.progress.set(id, this.newProgress(nextIndex, false));
    for (const id of this.learners) this.progress.set(id, this.newProgress(nextIndex, true));
  }

  newProgress(nextIndex: number, isLearner: boolean): Progress {
    return new Progress(nextIndex, isLearner, this.maxInflightMsgs, this.maxInflightBytes);
  }

  isVoter(id: NodeId): boolean {
    return this.voters.has(id);
  }

  quorum(): number {
    return Math.floor(this.voters.size / 2) + 1;
  }

  /** The highest index replicated on a quorum of voters. */
  committedIndex(): number {
    if (this.voters.size === 0) return 0;
    // Called on every append response: an insertion sort into a reused array, no allocation.
    const matches = this.matchScratch;
    let n = 0;
    for (const id of this.voters) {
      const match = this.progress.get(id)?.match ?? 0;
      let i = n++;
      for (; i > 0 && (matches[i - 1] as number) < match; i--) matches[i] = matches[i - 1] as number;
      matches[i] = match;
    }
    return matches[this.quorum() - 1] as number;
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  voteResult(): VoteResult {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    const q = this.quorum();
    if (granted >= q) return 'won';
    if (rejected > this.voters.size - q) return 'lost';
    return 'pending';
  }

  /** Whether a quorum of voters (counting `self`) was heard from recently. */
  quorumActive(self: NodeId): boolean {
    let active = 0;
    for (const id of this.voters) {
      if (id === self || this.progress.get(id)?.recentActive) active++;
    }
    return active >= this.quorum();
  }
}
