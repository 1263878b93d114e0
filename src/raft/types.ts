/**
 * The data the Raft core consumes and produces. Names follow the Raft paper and etcd-io/raft so a
 * reader can cross-check them. Indexes and terms are safe integers; node IDs are strings (a uint64 in
 * hex on the wire, any unique string in the simulator).
 */

export type NodeId = string;

/** The empty ID: "no leader", "voted for nobody". */
export const NONE: NodeId = '';

export enum EntryType {
  Normal = 0,
  ConfChange = 1,
}

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** Opaque to raft. An empty Normal entry is the no-op a new leader appends. */
  readonly data: Uint8Array;
}

export enum ConfChangeType {
  AddNode = 0,
  RemoveNode = 1,
  AddLearner = 2,
}

/** One membership change. AddNode on an existing learner promotes it. */
export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  /** Opaque to raft: the server keeps the member's URLs here. */
  readonly context: Uint8Array;
}

export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  /** The application's state at metadata.index; opaque to raft. */
  readonly data: Uint8Array;
}

/** What must be on disk before a node may promise anything that depends on it. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export enum MessageType {
  /** Local: start an election (pre-vote first when enabled). */
  Hup = 'Hup',
  /** Local: the leader's heartbeat timer fired. */
  Beat = 'Beat',
  /** A client proposal; followers forward it to the leader. */
  Prop = 'Prop',
  App = 'App',
  AppResp = 'AppResp',
  Vote = 'Vote',
  VoteResp = 'VoteResp',
  PreVote = 'PreVote',
  PreVoteResp = 'PreVoteResp',
  Snap = 'Snap',
  Heartbeat = 'Heartbeat',
  HeartbeatResp = 'HeartbeatResp',
  /** Local or forwarded: the transport could not reach msg.from. */
  Unreachable = 'Unreachable',
  /** Local: the transport finished (or failed) sending a snapshot to msg.from. */
  SnapStatus = 'SnapStatus',
  /** Local: the leader's check-quorum timer fired. */
  CheckQuorum = 'CheckQuorum',
  /** Ask the leader to hand leadership to msg.from. */
  TransferLeader = 'TransferLeader',
  /** The leader tells its chosen successor to campaign now. */
  TimeoutNow = 'TimeoutNow',
  ReadIndex = 'ReadIndex',
  ReadIndexResp = 'ReadIndexResp',
}

export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  /** 0 for local messages and for proposals (they carry no term). */
  readonly term: number;
  /** App: term of the entry at index. Votes: the candidate's last log term. AppResp rejection: the follower's term at rejectHint. */
  readonly logTerm: number;
  /** App: the index just before entries. Votes: the candidate's last index. AppResp: the highest index now matching (or the rejected one). */
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  readonly rejectHint: number;
  readonly snapshot?: Snapshot;
  /** Heartbeats and ReadIndex: the read request being confirmed. Votes: 'transfer' for a leader transfer. */
  readonly context: string;
}

/** Builds a message, filling the fields a given type does not use. */
export function message(fields: Partial<Message> & { type: MessageType }): Message {
  return {
    from: NONE,
    to: NONE,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: '',
    ...fields,
  };
}

export enum StateRole {
  Follower = 'Follower',
  PreCandidate = 'PreCandidate',
  Candidate = 'Candidate',
  Leader = 'Leader',
}

/** Volatile state the application may want to watch (not persisted). */
export interface SoftState {
  readonly leader: NodeId;
  readonly role: StateRole;
}

/** A linearizable read may be served once the local applied index reaches `index`. */
export interface ReadState {
  readonly index: number;
  readonly requestCtx: string;
}

/**
 * Everything the application must do after a round of steps, in this order:
 * 1. send `messages` (they promise nothing about local disk);
 * 2. persist `snapshot`, then `entries` (replacing any conflicting suffix), then `hardState`;
 * 3. send `messagesAfterPersist` (acknowledgements that promise what step 2 wrote);
 * 4. apply `snapshot` if present, then `committedEntries`, in order;
 * 5. call advance().
 */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly snapshot?: Snapshot;
  readonly entries: readonly Entry[];
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly messagesAfterPersist: readonly Message[];
  readonly readStates: readonly ReadState[];
}

export interface RaftConfig {
  readonly id: NodeId;
  /** Ticks without hearing from a leader before a follower campaigns (randomised in [n, 2n)). */
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly random: { int(n: number): number };
  /** Candidates first ask whether they could win, so a rejoining node does not raise the term. */
  readonly preVote: boolean;
  /** A leader that has not heard from a quorum in an election timeout steps down. */
  readonly checkQuorum: boolean;
  /** Bytes of entries in one append message (at least one entry is always sent). */
  readonly maxSizePerMsg: number;
  /** Append messages in flight to one follower in replicate state. */
  readonly maxInflightMsgs: number;
  /** Bytes of entries in flight to one follower (0 = no limit beyond maxInflightMsgs). */
  readonly maxInflightBytes: number;
  /** Bytes of uncommitted entries the leader accepts before dropping proposals (0 = no limit). */
  readonly maxUncommittedEntriesBytes: number;
  /**
   * Allocates the chunks the log packs entry payloads into; entries' data are views of them, so this
   * picks their class (default Uint8Array; a Node server passes Buffer.allocUnsafeSlow).
   */
  readonly allocateLogChunk?: (bytes: number) => Uint8Array;
}

/** What a node recovers from its disk when it starts. */
export interface PersistedState {
  readonly hardState: HardState;
  readonly snapshot?: Snapshot;
  /** Entries after the snapshot, contiguous. */
  readonly entries: readonly Entry[];
  /** Bootstrap membership when there is neither snapshot nor conf change on disk. */
  readonly confState: ConfState;
  /** The application's applied index (entries up to it are not handed out again). */
  readonly applied: number;
}

export enum RaftErrorCode {
  ProposalDropped = 'ProposalDropped',
  ConfChangePending = 'ConfChangePending',
  SnapshotOutOfDate = 'SnapshotOutOfDate',
  Compacted = 'Compacted',
}

export class RaftError extends Error {
  constructor(
    readonly code: RaftErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RaftError';
  }
}
