import { decodeConfChange, encodeConfChange } from './conf-change.js';
import { Raft } from './raft.js';
import {
  type ConfChange,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  message,
  MessageType,
  type NodeId,
  type PersistedState,
  type RaftConfig,
  RaftError,
  RaftErrorCode,
  type Ready,
  type SoftState,
  type Snapshot,
  type StateRole,
} from './types.js';

/** Bytes of committed entries handed out in one Ready, so one apply round stays bounded. */
const MAX_COMMITTED_BYTES_PER_READY = 4 * 1024 * 1024;

export interface RaftStatus {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly lead: NodeId;
  readonly role: StateRole;
  readonly commit: number;
  readonly applied: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /** Leader only: each member's replicated index. */
  readonly progress: ReadonlyMap<NodeId, { match: number; next: number; state: string }>;
  readonly transferee: NodeId;
}

interface InFlight {
  readonly hardState: HardState;
  readonly appliedTo: number;
  readonly confChanges: readonly Entry[];
  readonly selfMessages: readonly Message[];
}

/**
 * The application's handle on a Raft node: feed it input, take a Ready, do what the Ready says, then
 * advance(). One Ready is outstanding at a time; input may keep arriving while it is being handled.
 */
export class RaftNode {
  private readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  private inFlight: InFlight | undefined;

  constructor(config: RaftConfig, persisted: PersistedState) {
    this.raft = new Raft(config, persisted);
    this.prevSoftState = this.softState();
    this.prevHardState = persisted.hardState;
  }

  get id(): NodeId {
    return this.raft.id;
  }

  tick(): void {
    this.raft.tick();
  }

  /** A message from a peer. Local-only message types are refused. */
  step(m: Message): void {
    if (m.type === MessageType.Hup || m.type === MessageType.Beat || m.type === MessageType.CheckQuorum) {
      throw new Error(`${m.type} is a local message`);
    }
    if (m.to !== this.raft.id) throw new Error(`message for ${m.to} delivered to ${this.raft.id}`);
    // Responses from peers we no longer track are harmless; the core ignores them.
    this.raft.step(m);
  }

  /** Proposes data for the log; throws RaftError ProposalDropped when there is no leader to take it. */
  propose(data: Uint8Array): void {
    this.proposeEntry(EntryType.Normal, data);
  }

  /**
   * Proposes several entries as one message: the leader appends them together and sends one append
   * per follower for all of them. Taken or dropped as a whole (ProposalDropped, as propose).
   */
  proposeBatch(data: readonly Uint8Array[]): void {
    if (data.length === 0) return;
    const entries = data.map((d) => ({ term: 0, index: 0, type: EntryType.Normal, data: d }));
    const err = this.raft.step(message({ type: MessageType.Prop, from: this.raft.id, entries }));
    if (err !== undefined) throw err;
  }

  proposeConfChange(cc: ConfChange): void {
    this.proposeEntry(EntryType.ConfChange, encodeConfChange(cc));
  }

  private proposeEntry(type: EntryType, data: Uint8Array): void {
    const err = this.raft.step(
      message({ type: MessageType.Prop, from: this.raft.id, entries: [{ term: 0, index: 0, type, data }] }),
    );
    if (err !== undefined) throw err;
  }

  /** Asks for a linearizable read; a ReadState with the same ctx comes back in a later Ready. */
  readIndex(ctx: string): void {
    const err = this.raft.step(message({ type: MessageType.ReadIndex, from: this.raft.id, context: ctx }));
    if (err !== undefined) throw err;
  }

  /** Asks the leader to hand leadership to `to` (it must be a caught-up voter). */
  transferLeader(to: NodeId): void {
    const err = this.raft.step(message({ type: MessageType.TransferLeader, from: to, to: this.raft.id }));
    if (err !== undefined) throw err;
  }

  /** Starts an election now (used by tests and by a lone member at bootstrap). */
  campaign(): void {
    this.raft.step(message({ type: MessageType.Hup, from: this.raft.id }));
  }

  /**
   * The transport could not reach `id`: a leader stops streaming to it until it answers; a follower
   * whose leader it is campaigns within a few ticks instead of a whole election timeout.
   */
  reportUnreachable(id: NodeId): void {
    this.raft.step(message({ type: MessageType.Unreachable, from: id, to: this.raft.id }));
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.step(message({ type: MessageType.SnapStatus, from: id, to: this.raft.id, reject: !ok }));
  }

  private softState(): SoftState {
    return { leader: this.raft.lead, role: this.raft.role };
  }

  private hardState(): HardState {
    return { term: this.raft.term, vote: this.raft.vote, commit: this.raft.log.committed };
  }

  hasReady(): boolean {
    if (this.inFlight !== undefined) return false;
    const r = this.raft;
    const ss = this.softState();
    const hs = this.hardState();
    return (
      ss.leader !== this.prevSoftState.leader ||
      ss.role !== this.prevSoftState.role ||
      !sameHardState(hs, this.prevHardState) ||
      r.log.pendingSnapshot !== undefined ||
      r.log.unstableFrom <= r.log.lastIndex() ||
      r.log.hasNextCommittedEntries() ||
      r.msgs.length > 0 ||
      r.msgsAfterPersist.length > 0 ||
      r.readStates.length > 0
    );
  }

  /** Takes everything the application must now do. Call advance() when it is done. */
  ready(): Ready {
    if (this.inFlight !== undefined) throw new Error('ready() called again before advance()');
    const r = this.raft;
    const log = r.log;
    const snapshot = log.pendingSnapshot;
    const entries = log.unstableEntries();
    const committedEntries = log.nextCommittedEntries(MAX_COMMITTED_BYTES_PER_READY);
    const ss = this.softState();
    const hs = this.hardState();
    const toSelf: Message[] = [];
    const afterPersist: Message[] = [];
    for (const m of r.msgsAfterPersist) (m.to === r.id ? toSelf : afterPersist).push(m);

    const ready: Ready = {
      softState: sameSoftState(ss, this.prevSoftState) ? undefined : ss,
      hardState: sameHardState(hs, this.prevHardState) ? undefined : hs,
      snapshot,
      entries,
      committedEntries,
      messages: r.msgs,
      messagesAfterPersist: afterPersist,
      readStates: r.readStates,
    };
    const appliedTo = committedEntries.length > 0
      ? (committedEntries[committedEntries.length - 1] as Entry).index
      : (snapshot?.metadata.index ?? log.applying);
    this.inFlight = {
      hardState: hs,
      appliedTo,
      confChanges: committedEntries.filter((e) => e.type === EntryType.ConfChange),
      selfMessages: toSelf,
    };
    this.prevSoftState = ss;
    r.msgs = [];
    r.msgsAfterPersist = [];
    r.readStates = [];
    log.pendingSnapshot = undefined;
    log.unstableFrom = log.lastIndex() + 1;
    log.applying = appliedTo;
    return ready;
  }

  /** The last Ready is persisted, its messages sent and its committed entries applied. */
  advance(): void {
    this.advanceBeforePersist()();
  }

  /**
   * The last Ready's messages are sent and its committed entries applied, but its write may still be
   * in flight (pipelining, as etcd-io/raft's async storage writes): the next Ready may be taken now.
   * Call the returned function once the write is durable; only then does this node count its own
   * acknowledgements (its append, its vote). The application must persist Readies in order and send
   * each Ready's messagesAfterPersist only after its write, too.
   */
  advanceBeforePersist(): () => void {
    const f = this.inFlight;
    if (f === undefined) throw new Error('advance() without a ready()');
    this.inFlight = undefined;
    this.prevHardState = f.hardState;
    const log = this.raft.log;
    log.applied = Math.max(log.applied, f.appliedTo);
    for (const e of f.confChanges) {
      // A snapshot installed meanwhile already holds the membership these changes led to.
      if (e.index >= log.firstIndex()) this.raft.applyConfChange(decodeConfChange(e.data));
    }
    // Acknowledgements to ourselves (our vote, our own append) hold once the write is durable.
    return () => {
      for (const m of f.selfMessages) this.raft.step(m);
    };
  }

  /**
   * Records a snapshot of the application's state at the applied index, so lagging followers can be
   * sent it; then drops log entries up to `compactTo` (keep some for followers that are only a little
   * behind).
   */
  createSnapshot(data: Uint8Array, compactTo: number): Snapshot {
    if (this.inFlight !== undefined) throw new Error('createSnapshot() while a Ready is outstanding');
    const log = this.raft.log;
    const index = log.applied;
    const existing = log.snapshot;
    if (existing !== undefined && existing.metadata.index > index) {
      throw new RaftError(RaftErrorCode.SnapshotOutOfDate, `a snapshot at ${existing.metadata.index} already exists`);
    }
    // One at this very index (trimLog's) is taken over with the new data.
    const term = log.term(index);
    if (term === undefined) throw new Error(`no term for applied index ${index}`);
    const metadata = existing?.metadata.index === index ? existing.metadata : { index, term, confState: this.raft.confState() };
    const snapshot: Snapshot = { metadata, data };
    log.setSnapshot(snapshot);
    log.compact(Math.min(compactTo, index));
    return snapshot;
  }

  /**
   * Drops log entries up to `upTo` (at most the applied and persisted ones) from memory, for an
   * application that keeps its log on disk until its next snapshot anyway: a peer that then needs
   * one of them is sent a snapshot, as after createSnapshot. When the newest snapshot is older than
   * the cut, one (without data: the application fills it in when it is sent) is recorded at the
   * applied index. Returns the index the log now starts after.
   */
  trimLog(upTo: number): number {
    if (this.inFlight !== undefined) throw new Error('trimLog() while a Ready is outstanding');
    const log = this.raft.log;
    const to = Math.min(upTo, log.applied, log.unstableFrom - 1);
    if (to <= log.firstIndex() - 1) return log.firstIndex() - 1;
    if (log.snapshot === undefined || log.snapshot.metadata.index < to) this.createSnapshot(new Uint8Array(), to);
    else log.compact(to);
    return log.firstIndex() - 1;
  }

  /** On the leader, the highest index every other member is known to hold (0 for one not heard from); elsewhere undefined. */
  matchedByAll(): number | undefined {
    const r = this.raft;
    if (r.role !== 'Leader') return undefined;
    let min = r.log.lastIndex();
    for (const [id, pr] of r.tracker.progress) if (id !== r.id && pr.match < min) min = pr.match;
    return min;
  }

  /** The cheap part of status(), for per-event checks. */
  basicStatus(): { term: number; role: StateRole; lead: NodeId; commit: number; applied: number; lastIndex: number } {
    const r = this.raft;
    return {
      term: r.term,
      role: r.role,
      lead: r.lead,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
    };
  }

  status(): RaftStatus {
    const r = this.raft;
    const progress = new Map<NodeId, { match: number; next: number; state: string }>();
    if (r.role === 'Leader') {
      for (const [id, pr] of r.tracker.progress) progress.set(id, { match: pr.match, next: pr.next, state: pr.state });
    }
    const cs = r.confState();
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      lead: r.lead,
      role: r.role,
      commit: r.log.committed,
      applied: r.log.applied,
      firstIndex: r.log.firstIndex(),
      lastIndex: r.log.lastIndex(),
      voters: cs.voters,
      learners: cs.learners,
      progress,
      transferee: r.transferring(),
    };
  }

  /** Log entries in [lo, hi), for tests and debugging tools. */
  entries(lo: number, hi: number): Entry[] {
    return this.raft.log.slice(lo, hi, Number.MAX_SAFE_INTEGER);
  }

  /** The term of the entry at index, if the log still holds it. */
  term(index: number): number | undefined {
    return this.raft.log.term(index);
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}
