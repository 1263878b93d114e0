import { applyToConfState, decodeConfChange } from './conf-change.js';
import { ProgressState, ProgressTracker } from './progress.js';
import { entryBytes, RaftLog } from './raft-log.js';
import { ReadOnly } from './read-only.js';
import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  type Entry,
  EntryType,
  type Message,
  message,
  MessageType,
  NONE,
  type NodeId,
  type PersistedState,
  type RaftConfig,
  RaftError,
  RaftErrorCode,
  type ReadState,
  type Snapshot,
  StateRole,
} from './types.js';

/** Marks a vote request that comes from a leader transfer, so leader stickiness must not block it. */
const TRANSFER_CONTEXT = 'transfer';
/** A follower that lost its leader's connection campaigns within 1..this many ticks (see suspectLeader). */
const LEADER_LOST_CAMPAIGN_TICKS = 3;

/**
 * The Raft protocol as a synchronous state machine in the style of etcd-io/raft: input arrives through
 * step() and tick(), output accumulates in `msgs`, `msgsAfterPersist` and `readStates` and is
 * collected by RaftNode into a Ready. Nothing here does I/O or reads a clock.
 */
export class Raft {
  readonly id: NodeId;
  term: number;
  /** Whom this node voted for in `term`. Persisted before any vote is announced. */
  vote: NodeId;
  lead: NodeId = NONE;
  role: StateRole = StateRole.Follower;
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;

  /** Messages that promise nothing about local disk; may go out before the Ready is persisted. */
  msgs: Message[] = [];
  /** Acknowledgements (votes, appends) that may only go out after the Ready is persisted. */
  msgsAfterPersist: Message[] = [];
  readStates: ReadState[] = [];

  private readonly config: RaftConfig;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** A conf change at or below this index is still unapplied; the leader accepts no other. */
  private pendingConfIndex = 0;
  /** The node the leader is handing leadership to. */
  private leadTransferee: NodeId = NONE;
  /** Bytes of uncommitted entries appended by this leader, bounded by maxUncommittedEntriesBytes. */
  private uncommittedBytes = 0;
  private readonly readOnly = new ReadOnly();
  /** ReadIndex requests a new leader holds until it has committed an entry of its own term. */
  private pendingReadIndexMessages: Message[] = [];

  constructor(config: RaftConfig, persisted: PersistedState) {
    if (config.heartbeatTicks <= 0 || config.electionTicks <= config.heartbeatTicks) {
      throw new Error('electionTicks must be greater than heartbeatTicks, which must be positive');
    }
    this.config = config;
    this.id = config.id;
    const hs = persisted.hardState;
    this.term = hs.term;
    this.vote = hs.vote;
    this.log = new RaftLog(persisted.snapshot, persisted.entries, hs.commit, persisted.applied, config.allocateLogChunk);
    this.tracker = new ProgressTracker(config.maxInflightMsgs, config.maxInflightBytes);
    // Membership is the snapshot's (or the bootstrap one) plus every conf change already applied.
    let cs: ConfState = persisted.snapshot?.metadata.confState ?? persisted.confState;
    for (let i = this.log.firstIndex(); i <= this.log.applied; i++) {
      const e = this.log.entryAt(i) as Entry;
      if (e.type === EntryType.ConfChange) cs = applyToConfState(cs, decodeConfChange(e.data));
    }
    this.tracker.reset(cs, this.log.lastIndex() + 1);
    this.becomeFollower(this.term, NONE);
  }

  get electionTimeout(): number {
    return this.config.electionTicks;
  }

  /** Can this node become leader? Only voters of the current configuration can. */
  promotable(): boolean {
    return this.tracker.isVoter(this.id);
  }

  // ---- Time ------------------------------------------------------------------------------------

  tick(): void {
    if (this.role === StateRole.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(message({ type: MessageType.Hup, from: this.id }));
    }
  }

  /**
   * The transport lost its connection to our leader (its process died, or the link broke). Waiting a
   * whole randomised election timeout for it is what makes a crashed leader cost etcd 1-2 s: instead
   * campaign within a few ticks, and stop shielding the leader from the others' (pre)votes, since
   * they lost it too when it died. Safety never rests on timing; a live leader that the others still
   * hear keeps its place, because they ignore our pre-vote and its next heartbeat brings us back.
   */
  private suspectLeader(): void {
    this.electionElapsed = Math.max(this.electionElapsed, this.config.electionTicks);
    const campaignAt = this.electionElapsed + 1 + this.config.random.int(LEADER_LOST_CAMPAIGN_TICKS);
    this.randomizedElectionTimeout = Math.min(this.randomizedElectionTimeout, campaignAt);
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0;
      if (this.config.checkQuorum) this.step(message({ type: MessageType.CheckQuorum, from: this.id }));
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.role === StateRole.Leader && this.leadTransferee !== NONE) this.leadTransferee = NONE;
    }
    if (this.role !== StateRole.Leader) return;
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.step(message({ type: MessageType.Beat, from: this.id }));
    }
  }

  // ---- Role changes ----------------------------------------------------------------------------

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout =
      this.config.electionTicks + this.config.random.int(this.config.electionTicks);
    this.leadTransferee = NONE;
    this.tracker.votes.clear();
    for (const [id, pr] of this.tracker.progress) {
      const learner = pr.isLearner;
      const fresh = this.tracker.newProgress(this.log.lastIndex() + 1, learner);
      // The leader counts itself only once its own disk has the entries (see appendEntry).
      fresh.recentActive = id === this.id;
      this.tracker.progress.set(id, fresh);
    }
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    this.readOnly.reset();
    this.pendingReadIndexMessages = [];
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = StateRole.Follower;
  }

  private becomePreCandidate(): void {
    if (this.role === StateRole.Leader) throw new Error('leader cannot become pre-candidate');
    // A pre-candidate keeps its term and vote: it only asks whether it could win.
    this.tracker.votes.clear();
    this.lead = NONE;
    this.role = StateRole.PreCandidate;
  }

  private becomeCandidate(): void {
    if (this.role === StateRole.Leader) throw new Error('leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = StateRole.Candidate;
  }

  private becomeLeader(): void {
    if (this.role === StateRole.Follower) throw new Error('follower cannot become leader directly');
    this.reset(this.term);
    this.lead = this.id;
    this.role = StateRole.Leader;
    const self = this.tracker.progress.get(this.id);
    if (self !== undefined) self.becomeReplicate();
    // Conf changes in the log before this term may be unapplied; accept none until they are.
    this.pendingConfIndex = this.log.lastIndex();
    // The empty entry lets this leader commit (and so learn the commit index) in its own term.
    this.appendEntries([{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array() }]);
  }

  // ---- Sending ---------------------------------------------------------------------------------

  private send(m: Message): void {
    // Proposals and read requests carry no term: they may be forwarded across terms.
    const stampTerm = m.term === 0 && m.type !== MessageType.Prop && m.type !== MessageType.ReadIndex;
    const full: Message = {
      ...m,
      from: m.from === NONE ? this.id : m.from,
      term: stampTerm ? this.term : m.term,
    };
    if (
      full.type === MessageType.AppResp ||
      full.type === MessageType.VoteResp ||
      full.type === MessageType.PreVoteResp
    ) {
      this.msgsAfterPersist.push(full);
    } else {
      this.msgs.push(full);
    }
  }

  /** Sends entries (or a snapshot) to a follower. Returns whether anything was sent. */
  private sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    if (to === this.id) return false;
    const pr = this.tracker.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const lastIndex = this.log.lastIndex();
    if (prevTerm === undefined || pr.next < this.log.firstIndex()) {
      return this.sendSnapshot(to);
    }
    const entries = pr.next <= lastIndex ? this.log.slice(pr.next, lastIndex + 1, this.config.maxSizePerMsg) : [];
    if (entries.length === 0 && !sendIfEmpty) return false;
    let bytes = 0;
    for (const e of entries) bytes += entryBytes(e);
    this.send(
      message({
        type: MessageType.App,
        to,
        index: prevIndex,
        logTerm: prevTerm,
        entries,
        commit: this.log.committed,
      }),
    );
    const last = entries.length > 0 ? (entries[entries.length - 1] as Entry).index : prevIndex;
    pr.sentEntries(last, entries.length, bytes);
    return true;
  }

  private sendSnapshot(to: NodeId): boolean {
    const pr = this.tracker.progress.get(to);
    const snapshot = this.log.snapshot;
    if (pr === undefined) return false;
    if (snapshot === undefined) throw new Error(`follower ${to} needs entries before ${this.log.firstIndex()} but there is no snapshot`);
    this.send(message({ type: MessageType.Snap, to, snapshot }));
    pr.becomeSnapshot(snapshot.metadata.index);
    return true;
  }

  private bcastAppend(): void {
    for (const id of this.tracker.progress.keys()) this.sendAppend(id);
  }

  private bcastHeartbeat(context = ''): void {
    for (const [id, pr] of this.tracker.progress) {
      if (id === this.id) continue;
      // A follower may only commit what it is known to hold.
      const commit = Math.min(pr.match, this.log.committed);
      this.send(message({ type: MessageType.Heartbeat, to: id, commit, context }));
    }
  }

  // ---- Appending and committing ----------------------------------------------------------------

  /** Leader: stamps and appends entries. Returns false when the uncommitted-bytes limit drops them. */
  private appendEntries(entries: readonly Entry[]): boolean {
    let bytes = 0;
    for (const e of entries) bytes += entryBytes(e);
    const limit = this.config.maxUncommittedEntriesBytes;
    if (limit > 0 && this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > limit) return false;
    this.uncommittedBytes += bytes;
    let index = this.log.lastIndex();
    const stamped = entries.map((e) => ({ ...e, term: this.term, index: ++index }));
    this.log.append(stamped);
    // The leader's own acknowledgement waits, like a follower's, until its disk has the entries.
    this.send(message({ type: MessageType.AppResp, to: this.id, from: this.id, index: this.log.lastIndex() }));
    return true;
  }

  private maybeCommit(): boolean {
    const before = this.log.committed;
    if (!this.log.maybeCommit(this.tracker.committedIndex(), this.term)) return false;
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - this.log.bytesBetween(before, this.log.committed));
    return true;
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  // ---- Step ------------------------------------------------------------------------------------

  /** Feeds one message in. Returns an error only for proposals that were dropped. */
  step(m: Message): RaftError | undefined {
    if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = m.context === TRANSFER_CONTEXT;
        const inLease =
          this.config.checkQuorum && this.lead !== NONE && this.electionElapsed < this.config.electionTicks;
        // Leader stickiness: while we hear from a live leader, a disruptive candidate is ignored.
        if (!force && inLease) return undefined;
      }
      if (m.type === MessageType.PreVote) {
        // Never change term for a pre-vote.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // A granted pre-vote carries the future term; the pre-candidate keeps its own until it wins.
      } else if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term > 0 && m.term < this.term) {
      if ((this.config.checkQuorum || this.config.preVote) &&
          (m.type === MessageType.Heartbeat || m.type === MessageType.App)) {
        // A stale leader (or one cut off while we moved on) learns our term and steps down.
        this.send(message({ type: MessageType.AppResp, to: m.from }));
      } else if (m.type === MessageType.PreVote) {
        this.send(message({ type: MessageType.PreVoteResp, to: m.from, reject: true }));
      }
      return undefined;
    }

    switch (m.type) {
      case MessageType.Hup:
        this.hup(false);
        return undefined;
      case MessageType.Vote:
      case MessageType.PreVote:
        this.handleVoteRequest(m);
        return undefined;
      default:
        switch (this.role) {
          case StateRole.Leader:
            return this.stepLeader(m);
          case StateRole.Candidate:
          case StateRole.PreCandidate:
            return this.stepCandidate(m);
          case StateRole.Follower:
            return this.stepFollower(m);
        }
    }
  }

  private handleVoteRequest(m: Message): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === MessageType.PreVote && m.term > this.term);
    const respType = m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // The granted answer carries the request's term so a pre-candidate can count it.
      this.send(message({ type: respType, to: m.from, term: m.term }));
      if (m.type === MessageType.Vote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send(message({ type: respType, to: m.from, term: this.term, reject: true }));
    }
  }

  /** Starts an election, with a pre-vote first unless this is a leader transfer. */
  private hup(transfer: boolean): void {
    if (this.role === StateRole.Leader || !this.promotable()) return;
    if (this.hasUnappliedConfChange()) return;
    if (this.config.preVote && !transfer) this.campaign(MessageType.PreVote, false);
    else this.campaign(MessageType.Vote, transfer);
  }

  private hasUnappliedConfChange(): boolean {
    for (let i = this.log.applied + 1; i <= this.log.committed; i++) {
      if (this.log.entryAt(i)?.type === EntryType.ConfChange) return true;
    }
    return false;
  }

  private campaign(type: MessageType.Vote | MessageType.PreVote, transfer: boolean): void {
    let term: number;
    if (type === MessageType.PreVote) {
      this.becomePreCandidate();
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      term = this.term;
    }
    const respType = type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
    for (const id of [...this.tracker.voters].sort()) {
      if (id === this.id) {
        // Our own vote counts only once it is on disk, like anyone else's.
        this.send(message({ type: respType, from: this.id, to: this.id, term }));
        continue;
      }
      this.send(
        message({
          type,
          to: id,
          term,
          index: this.log.lastIndex(),
          logTerm: this.log.lastTerm(),
          context: transfer ? TRANSFER_CONTEXT : '',
        }),
      );
    }
  }

  private stepCandidate(m: Message): RaftError | undefined {
    const myResp = this.role === StateRole.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.Prop:
        return new RaftError(RaftErrorCode.ProposalDropped, 'no leader: an election is in progress');
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return undefined;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return undefined;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return undefined;
      case MessageType.VoteResp:
      case MessageType.PreVoteResp: {
        if (m.type !== myResp) return undefined;
        this.tracker.recordVote(m.from, !m.reject);
        const result = this.tracker.voteResult();
        if (result === 'won') {
          if (this.role === StateRole.PreCandidate) {
            this.campaign(MessageType.Vote, false);
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === 'lost') {
          this.becomeFollower(this.term, NONE);
        }
        return undefined;
      }
      default:
        return undefined;
    }
  }

  private stepFollower(m: Message): RaftError | undefined {
    switch (m.type) {
      case MessageType.Prop:
        if (this.lead === NONE) return new RaftError(RaftErrorCode.ProposalDropped, 'no leader');
        this.send({ ...m, to: this.lead });
        return undefined;
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return undefined;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return undefined;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return undefined;
      case MessageType.TransferLeader:
      case MessageType.ReadIndex:
        if (this.lead === NONE) {
          return new RaftError(RaftErrorCode.ProposalDropped, `no leader to send ${m.type} to`);
        }
        this.send({ ...m, to: this.lead });
        return undefined;
      case MessageType.Unreachable:
        if (m.from === this.lead) this.suspectLeader();
        return undefined;
      case MessageType.TimeoutNow:
        // The leader chose us; campaign at once, past pre-vote and stickiness.
        this.hup(true);
        return undefined;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index, requestCtx: m.context });
        return undefined;
      default:
        return undefined;
    }
  }

  private stepLeader(m: Message): RaftError | undefined {
    switch (m.type) {
      case MessageType.Beat:
        this.bcastHeartbeat(this.readOnly.lastPendingCtx());
        return undefined;
      case MessageType.CheckQuorum:
        if (!this.tracker.quorumActive(this.id)) {
          this.becomeFollower(this.term, NONE);
          return undefined;
        }
        for (const [id, pr] of this.tracker.progress) pr.recentActive = id === this.id;
        return undefined;
      case MessageType.Prop:
        return this.handlePropose(m);
      case MessageType.ReadIndex:
        this.handleReadIndex(m);
        return undefined;
      default:
        break;
    }

    const pr = this.tracker.progress.get(m.from);
    if (pr === undefined) return undefined;
    switch (m.type) {
      case MessageType.AppResp:
        pr.recentActive = true;
        if (m.reject) {
          // Fast backtracking: jump over a whole term of the follower's log at once.
          let hint = m.rejectHint;
          if (m.logTerm > 0) hint = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
          if (pr.maybeDecrTo(m.index, hint)) {
            if (pr.state === ProgressState.Replicate) pr.becomeProbe();
            this.sendAppend(m.from);
          }
          return undefined;
        }
        {
          const wasPaused = pr.isPaused();
          if (!pr.maybeUpdate(m.index)) return undefined;
          if (pr.state === ProgressState.Probe) pr.becomeReplicate();
          else if (pr.state === ProgressState.Snapshot && pr.match >= pr.pendingSnapshot) pr.becomeProbe();
          else if (pr.state === ProgressState.Replicate) {
            pr.inflights.freeLE(m.index);
          }

          if (this.maybeCommit()) {
            this.releasePendingReadIndexMessages();
            this.bcastAppend();
          } else if (wasPaused) {
            this.sendAppend(m.from);
          }
          // Keep the pipe full while the inflight window allows.
          while (this.sendAppend(m.from, false)) {
            /* each send advances pr.next */
          }
          if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
            this.send(message({ type: MessageType.TimeoutNow, to: m.from }));
          }
        }
        return undefined;
      case MessageType.HeartbeatResp:
        pr.recentActive = true;
        pr.msgAppFlowPaused = false;
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
        if (m.context !== '' && this.tracker.isVoter(m.from)) {
          // The leader's own vote is implicit.
          if (this.readOnly.recvAck(m.from, m.context) + 1 >= this.tracker.quorum()) {
            for (const read of this.readOnly.advance(m.context)) this.releaseRead(read.from, read.ctx, read.index);
          }
        }
        return undefined;
      case MessageType.SnapStatus:
        if (pr.state !== ProgressState.Snapshot) return undefined;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for the next heartbeat response before trying again.
        pr.msgAppFlowPaused = true;
        return undefined;
      case MessageType.Unreachable:
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        return undefined;
      case MessageType.TransferLeader: {
        const transferee = m.from;
        if (pr.isLearner || transferee === this.id) return undefined;
        if (this.leadTransferee === transferee) return undefined;
        this.leadTransferee = transferee;
        // The transfer must finish within one election timeout.
        this.electionElapsed = 0;
        if (pr.match === this.log.lastIndex()) this.send(message({ type: MessageType.TimeoutNow, to: transferee }));
        else this.sendAppend(transferee);
        return undefined;
      }
      default:
        return undefined;
    }
  }

  private handlePropose(m: Message): RaftError | undefined {
    if (m.entries.length === 0) throw new Error('empty proposal');
    if (!this.tracker.progress.has(this.id)) {
      return new RaftError(RaftErrorCode.ProposalDropped, 'this node was removed from the cluster');
    }
    if (this.leadTransferee !== NONE) {
      return new RaftError(RaftErrorCode.ProposalDropped, `leadership is moving to ${this.leadTransferee}`);
    }
    for (const e of m.entries) {
      if (e.type !== EntryType.ConfChange) continue;
      if (this.pendingConfIndex > this.log.applied) {
        return new RaftError(RaftErrorCode.ConfChangePending, 'a membership change is already in progress');
      }
      this.pendingConfIndex = this.log.lastIndex() + 1;
    }
    if (!this.appendEntries(m.entries)) {
      return new RaftError(RaftErrorCode.ProposalDropped, 'too many uncommitted entries');
    }
    this.bcastAppend();
    return undefined;
  }

  private handleReadIndex(m: Message): void {
    if (this.tracker.voters.size === 1) {
      this.releaseRead(m.from, m.context, this.log.committed);
      return;
    }
    // Until this leader commits in its term it does not know the real commit index.
    if (!this.committedEntryInCurrentTerm()) {
      this.pendingReadIndexMessages.push(m);
      return;
    }
    this.readOnly.add(m.context, this.log.committed, m.from);
    this.bcastHeartbeat(m.context);
  }

  private releasePendingReadIndexMessages(): void {
    if (!this.committedEntryInCurrentTerm()) return;
    const pending = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of pending) this.handleReadIndex(m);
  }

  private releaseRead(from: NodeId, ctx: string, index: number): void {
    if (from === this.id || from === NONE) this.readStates.push({ index, requestCtx: ctx });
    else this.send(message({ type: MessageType.ReadIndexResp, to: from, index, context: ctx }));
  }

  // ---- Follower handlers -----------------------------------------------------------------------

  private handleAppendEntries(m: Message): void {
    if (m.index < this.log.committed) {
      this.send(message({ type: MessageType.AppResp, to: m.from, index: this.log.committed }));
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send(message({ type: MessageType.AppResp, to: m.from, index: lastNew }));
      return;
    }
    // Tell the leader where our log might agree, so it can skip a whole term per round trip.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send(
      message({
        type: MessageType.AppResp,
        to: m.from,
        index: m.index,
        reject: true,
        rejectHint: hint.index,
        logTerm: hint.term,
      }),
    );
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send(message({ type: MessageType.HeartbeatResp, to: m.from, context: m.context }));
  }

  private handleSnapshot(m: Message): void {
    const snapshot = m.snapshot;
    if (snapshot === undefined) throw new Error('snapshot message without a snapshot');
    if (this.restore(snapshot)) {
      this.send(message({ type: MessageType.AppResp, to: m.from, index: this.log.lastIndex() }));
    } else {
      this.send(message({ type: MessageType.AppResp, to: m.from, index: this.log.committed }));
    }
  }

  /** Installs a leader's snapshot; returns false when we already have what it holds. */
  private restore(snapshot: Snapshot): boolean {
    const { index, term, confState } = snapshot.metadata;
    if (index <= this.log.committed) return false;
    if (this.log.matchTerm(index, term)) {
      // Our log already has the snapshot's last entry, so everything up to it matches; just commit.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snapshot);
    this.tracker.reset(confState, this.log.lastIndex() + 1);
    return true;
  }

  // ---- Membership and snapshots from the application -------------------------------------------

  /** Applies a committed conf change; RaftNode calls this as the application applies the entry. */
  applyConfChange(cc: ConfChange): void {
    const before = this.tracker.confState();
    const after = applyToConfState(before, cc);
    const next = this.log.lastIndex() + 1;
    const progress = this.tracker.progress;
    this.tracker.voters = new Set(after.voters);
    this.tracker.learners = new Set(after.learners);
    for (const id of [...after.voters, ...after.learners]) {
      const pr = progress.get(id);
      const learner = this.tracker.learners.has(id);
      if (pr === undefined) {
        const fresh = this.tracker.newProgress(next, learner);
        // Treat a new member as active so check-quorum does not count it against the leader at once.
        fresh.recentActive = true;
        progress.set(id, fresh);
      } else {
        pr.isLearner = learner;
      }
    }
    for (const id of [...progress.keys()]) {
      if (!this.tracker.voters.has(id) && !this.tracker.learners.has(id)) progress.delete(id);
    }
    if (this.role !== StateRole.Leader) return;
    if (this.leadTransferee !== NONE && !progress.has(this.leadTransferee)) this.leadTransferee = NONE;
    if (cc.type === ConfChangeType.RemoveNode && cc.nodeId === this.id) {
      this.stepDownAfterRemoval();
      return;
    }
    // A smaller quorum may commit more at once.
    if (this.maybeCommit()) this.releasePendingReadIndexMessages();
    this.bcastAppend();
  }

  /**
   * A leader that removed itself hands over to the most caught-up voter (so the cluster does not
   * wait an election timeout) and becomes a follower.
   */
  private stepDownAfterRemoval(): void {
    let best: NodeId = NONE;
    let bestMatch = -1;
    for (const id of [...this.tracker.voters].sort()) {
      const match = this.tracker.progress.get(id)?.match ?? 0;
      if (match > bestMatch) {
        best = id;
        bestMatch = match;
      }
    }
    if (best !== NONE && bestMatch === this.log.lastIndex()) {
      this.send(message({ type: MessageType.TimeoutNow, to: best }));
    }
    this.becomeFollower(this.term, NONE);
  }

  /** Whether the leader is handing over (proposals are refused meanwhile). */
  transferring(): NodeId {
    return this.leadTransferee;
  }

  uncommittedSize(): number {
    return this.uncommittedBytes;
  }

  confState(): ConfState {
    return this.tracker.confState();
  }

  electionElapsedTicks(): number {
    return this.electionElapsed;
  }
}
