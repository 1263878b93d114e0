/**
 * A deterministic in-memory network of RaftNodes for scenario tests, in the spirit of etcd-io/raft's
 * rafttest interaction environment. Nothing happens unless a test says so: time passes only through
 * tick(), messages move only through deliverAll(), and every node's Ready is handled exactly per the
 * contract in src/raft/types.ts (send `messages`, persist, send `messagesAfterPersist`, apply,
 * advance). Each node has a memory "disk" that survives crash(); everything else is lost.
 *
 * The application on each node records the text of every normal entry it applies. It is durable and
 * stores its applied index with its data, as etcd's server does, so a restarted node resumes applying
 * where it stopped instead of applying twice. Every apply is checked: entries arrive in order without
 * gaps or repeats, and no two nodes ever apply different entries at one index (state machine safety).
 *
 * deliverAll() is one FIFO queue: it handles every pending Ready, then delivers the oldest message,
 * and repeats, so a transcript reads in causal order. A message is dropped when it is delivered if
 * its link is cut then (isolate, cut, partition, drop) or its receiver is down.
 */
import {
  type ConfChange,
  ConfChangeType,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  NONE,
  type NodeId,
  type RaftConfig,
  RaftError,
  type RaftErrorCode,
  RaftNode,
  type RaftStatus,
  type Ready,
  type ReadState,
  type Snapshot,
  StateRole,
  decodeConfChange,
  encodeConfChange,
} from '../../src/raft/index.js';
import { SeededRandom } from '../../src/util/prng.js';

export interface ClusterOptions {
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  /** Seeds every node's election-timeout randomness. */
  readonly seed?: number;
  readonly maxSizePerMsg?: number;
  readonly maxInflightMsgs?: number;
}

export const ELECTION_TICKS = 10;
export const HEARTBEAT_TICKS = 1;

/** Everything a node keeps across a crash. */
export interface Disk {
  hardState: HardState;
  snapshot: Snapshot | undefined;
  /** Entries after the snapshot (or from index 1), contiguous. */
  entries: Entry[];
}

/** The toy state machine: the texts of the normal entries applied, and up to which index. */
interface AppState {
  appliedIndex: number;
  texts: string[];
}

interface Member {
  readonly id: NodeId;
  /** Undefined while crashed. */
  node: RaftNode | undefined;
  readonly disk: Disk;
  app: AppState;
  /** deliverAll() leaves a held node's Readies alone, so a test can take one and inspect it. */
  held: boolean;
  /** A Ready taken by takeReady() whose messages were sent but which is not yet persisted. */
  inHand: Ready | undefined;
  readonly readStates: ReadState[];
  /** Snapshots received from a leader and installed (Ready.snapshot), by index. */
  readonly snapshotsInstalled: number[];
}

/** One message handed to the network, and what became of it. */
export interface Sent {
  readonly msg: Message;
  readonly line: string;
  /** Undefined while still queued. */
  delivered: boolean | undefined;
}

/** Drops the message when it returns true. */
export type DropRule = (m: Message) => boolean;

/** Upper bound on network steps in one deliverAll(), so a livelock fails the test instead of hanging. */
const DELIVER_STEPS_MAX = 200_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function text(data: Uint8Array): string {
  return decoder.decode(data);
}

/** The etcd bootstrap: one AddNode per initial member at indices 1..n, term 1, all committed. */
export function bootstrapDisk(ids: readonly NodeId[]): Disk {
  const entries: Entry[] = ids.map((id, i) => ({
    term: 1,
    index: i + 1,
    type: EntryType.ConfChange,
    data: encodeConfChange({ type: ConfChangeType.AddNode, nodeId: id, context: new Uint8Array() }),
  }));
  return { hardState: { term: 1, vote: NONE, commit: ids.length }, snapshot: undefined, entries };
}

function emptyDisk(): Disk {
  return { hardState: { term: 0, vote: NONE, commit: 0 }, snapshot: undefined, entries: [] };
}

export class Cluster {
  private readonly members = new Map<NodeId, Member>();
  private readonly queue: Sent[] = [];
  private readonly sentLog: Sent[] = [];
  private lines: string[] = [];
  private readonly isolated = new Set<NodeId>();
  private readonly cuts = new Set<string>();
  private dropRules: DropRule[] = [];
  private readonly seeds: SeededRandom;
  /** State machine safety, checked on every apply: the entry each index was applied as, anywhere. */
  private readonly appliedEverywhere = new Map<number, { term: number; text: string }>();

  constructor(
    ids: readonly NodeId[],
    private readonly opts: ClusterOptions = {},
  ) {
    this.seeds = new SeededRandom(opts.seed ?? 1);
    for (const id of ids) this.addMember(id, bootstrapDisk(ids));
  }

  // ---- Membership of the test network ------------------------------------------------------------

  private config(id: NodeId): RaftConfig {
    return {
      id,
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: HEARTBEAT_TICKS,
      random: new SeededRandom(this.seeds.nextUint32()),
      preVote: this.opts.preVote ?? false,
      checkQuorum: this.opts.checkQuorum ?? false,
      maxSizePerMsg: this.opts.maxSizePerMsg ?? 1024 * 1024,
      maxInflightMsgs: this.opts.maxInflightMsgs ?? 256,
      maxInflightBytes: 0,
      maxUncommittedEntriesBytes: 0,
    };
  }

  private addMember(id: NodeId, disk: Disk): void {
    if (this.members.has(id)) throw new Error(`node ${id} already exists`);
    const m: Member = {
      id,
      node: undefined,
      disk,
      app: { appliedIndex: 0, texts: [] },
      held: false,
      inHand: undefined,
      readStates: [],
      snapshotsInstalled: [],
    };
    this.members.set(id, m);
    this.boot(m);
  }

  /** Starts a brand-new, empty node that will join through a conf change (etcd's "existing" state). */
  addNode(id: NodeId): void {
    this.addMember(id, emptyDisk());
  }

  private boot(m: Member): void {
    const { disk } = m;
    const snapIndex = disk.snapshot?.metadata.index ?? 0;
    // Like a server at boot: an application behind the snapshot on disk loads the snapshot first.
    if (disk.snapshot !== undefined && snapIndex > m.app.appliedIndex) m.app = decodeApp(disk.snapshot);
    m.node = new RaftNode(this.config(m.id), {
      hardState: disk.hardState,
      snapshot: disk.snapshot,
      entries: disk.entries.filter((e) => e.index > snapIndex),
      confState: { voters: [], learners: [] },
      applied: m.app.appliedIndex,
    });
  }

  private member(id: NodeId): Member {
    const m = this.members.get(id);
    if (m === undefined) throw new Error(`no node ${id}`);
    return m;
  }

  /** The live RaftNode (throws while the node is crashed). */
  node(id: NodeId): RaftNode {
    const n = this.member(id).node;
    if (n === undefined) throw new Error(`node ${id} is down`);
    return n;
  }

  ids(): NodeId[] {
    return [...this.members.keys()].sort();
  }

  isUp(id: NodeId): boolean {
    return this.member(id).node !== undefined;
  }

  // ---- Faults ------------------------------------------------------------------------------------

  /** The node loses everything not on its disk (including a Ready taken but not yet persisted). */
  crash(id: NodeId): void {
    const m = this.member(id);
    m.node = undefined;
    m.inHand = undefined;
    m.held = false;
  }

  /** A new RaftNode from the disk. */
  restart(id: NodeId): void {
    const m = this.member(id);
    if (m.node !== undefined) throw new Error(`node ${id} is running`);
    this.boot(m);
  }

  /** Drops every message to or from id until heal(). */
  isolate(id: NodeId): void {
    this.isolated.add(id);
  }

  /** Drops every message between a and b, both ways, until heal(). */
  cut(a: NodeId, b: NodeId): void {
    this.cuts.add(linkKey(a, b));
  }

  /** Drops messages the rule matches until heal() or the returned undo function. */
  drop(rule: DropRule): () => void {
    this.dropRules.push(rule);
    return () => {
      this.dropRules = this.dropRules.filter((r) => r !== rule);
    };
  }

  /** Cuts every link between the two sides. */
  partition(a: readonly NodeId[], b: readonly NodeId[]): void {
    for (const x of a) for (const y of b) this.cut(x, y);
  }

  heal(): void {
    this.isolated.clear();
    this.cuts.clear();
    this.dropRules = [];
  }

  private blocked(msg: Message): boolean {
    const to = this.members.get(msg.to);
    if (to === undefined || to.node === undefined) return true;
    if (this.isolated.has(msg.from) || this.isolated.has(msg.to)) return true;
    if (this.cuts.has(linkKey(msg.from, msg.to))) return true;
    return this.dropRules.some((rule) => rule(msg));
  }

  // ---- Input -------------------------------------------------------------------------------------

  /** n ticks of the node's clock; after each one the network runs until quiet. */
  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.node(id).tick();
      this.deliverAll();
    }
  }

  campaign(id: NodeId): void {
    this.node(id).campaign();
  }

  /** campaign + deliverAll, insisting that id won. */
  elect(id: NodeId): void {
    this.campaign(id);
    this.deliverAll();
    if (this.node(id).status().role !== StateRole.Leader) {
      throw new Error(`${id} did not win: it is ${this.node(id).status().role}`);
    }
  }

  propose(id: NodeId, data: string): void {
    this.node(id).propose(encoder.encode(data));
  }

  proposeConfChange(id: NodeId, type: ConfChangeType, nodeId: NodeId): void {
    this.node(id).proposeConfChange({ type, nodeId, context: new Uint8Array() });
  }

  readIndex(id: NodeId, ctx: string): void {
    this.node(id).readIndex(ctx);
  }

  transferLeader(leader: NodeId, to: NodeId): void {
    this.node(leader).transferLeader(to);
  }

  /**
   * The node snapshots its application at its applied index and compacts its log up to compactTo
   * (default: the applied index), on its disk too, as etcd's storage does.
   */
  compact(id: NodeId, compactTo?: number): Snapshot {
    const m = this.member(id);
    const upTo = compactTo ?? m.app.appliedIndex;
    const snap = this.node(id).createSnapshot(encodeApp(m.app), upTo);
    m.disk.snapshot = snap;
    m.disk.entries = m.disk.entries.filter((e) => e.index > Math.min(upTo, snap.metadata.index));
    return snap;
  }

  // ---- The Ready loop and the network ------------------------------------------------------------

  /** Handles Readies and delivers messages, one at a time in FIFO order, until nothing is left. */
  deliverAll(): void {
    for (let steps = 0; ; steps++) {
      if (steps > DELIVER_STEPS_MAX) throw new Error('the network did not go quiet');
      if (this.handleReadies()) continue;
      const next = this.queue.shift();
      if (next === undefined) return;
      this.deliver(next);
    }
  }

  private handleReadies(): boolean {
    let any = false;
    for (const id of this.ids()) {
      const m = this.member(id);
      if (m.node === undefined || m.held || m.inHand !== undefined || !m.node.hasReady()) continue;
      this.takeReady(id);
      this.finishReady(id);
      any = true;
    }
    return any;
  }

  private deliver(s: Sent): void {
    if (this.blocked(s.msg)) {
      s.delivered = false;
      return;
    }
    s.delivered = true;
    this.lines.push(s.line);
    this.node(s.msg.to).step(s.msg);
  }

  private send(msgs: readonly Message[]): void {
    for (const msg of msgs) {
      const s: Sent = { msg, line: formatMessage(msg), delivered: undefined };
      this.queue.push(s);
      this.sentLog.push(s);
    }
  }

  /** Keeps deliverAll() away from the node's Readies (messages are still delivered to it). */
  hold(id: NodeId): void {
    this.member(id).held = true;
  }

  release(id: NodeId): void {
    const m = this.member(id);
    if (m.inHand !== undefined) throw new Error(`finish the Ready of ${id} first`);
    m.held = false;
  }

  /**
   * Takes the node's next Ready and does step 1 of the contract (send `messages`, which promise
   * nothing about the disk). The rest waits for finishReady(); a crash() in between loses it.
   */
  takeReady(id: NodeId): Ready {
    const m = this.member(id);
    const node = this.node(id);
    if (m.inHand !== undefined) throw new Error(`${id} already has a Ready in hand`);
    if (!node.hasReady()) throw new Error(`${id} has no Ready`);
    const rd = node.ready();
    m.inHand = rd;
    m.readStates.push(...rd.readStates);
    this.send(rd.messages);
    return rd;
  }

  /** Steps 2-5: persist, send `messagesAfterPersist`, apply, advance. */
  finishReady(id: NodeId): void {
    const m = this.member(id);
    const rd = m.inHand;
    if (rd === undefined) throw new Error(`${id} has no Ready in hand`);
    this.persist(m, rd);
    this.send(rd.messagesAfterPersist);
    this.apply(m, rd);
    m.inHand = undefined;
    this.node(id).advance();
  }

  private persist(m: Member, rd: Ready): void {
    const disk = m.disk;
    if (rd.snapshot !== undefined) {
      disk.snapshot = rd.snapshot;
      disk.entries = [];
    }
    if (rd.entries.length > 0) {
      const first = (rd.entries[0] as Entry).index;
      const last = disk.entries.length > 0
        ? (disk.entries[disk.entries.length - 1] as Entry).index
        : (disk.snapshot?.metadata.index ?? 0);
      if (first > last + 1) throw new Error(`${m.id}: Ready entries start at ${first}, disk ends at ${last}`);
      disk.entries = [...disk.entries.filter((e) => e.index < first), ...rd.entries];
    }
    if (rd.hardState !== undefined) disk.hardState = rd.hardState;
  }

  private apply(m: Member, rd: Ready): void {
    if (rd.snapshot !== undefined) {
      m.app = decodeApp(rd.snapshot);
      m.snapshotsInstalled.push(rd.snapshot.metadata.index);
    }
    for (const e of rd.committedEntries) {
      if (e.index !== m.app.appliedIndex + 1) {
        throw new Error(`${m.id} was handed entry ${e.index} to apply after ${m.app.appliedIndex}`);
      }
      const t = e.type === EntryType.Normal ? text(e.data) : describeConfChange(decodeConfChange(e.data));
      const seen = this.appliedEverywhere.get(e.index);
      if (seen !== undefined && (seen.term !== e.term || seen.text !== t)) {
        throw new Error(
          `state machine safety: ${m.id} applied ${e.index}@${e.term} "${t}", another node ${e.index}@${seen.term} "${seen.text}"`,
        );
      }
      this.appliedEverywhere.set(e.index, { term: e.term, text: t });
      m.app.appliedIndex = e.index;
      if (e.type === EntryType.Normal && e.data.length > 0) m.app.texts.push(t);
    }
  }

  // ---- Observation -------------------------------------------------------------------------------

  status(id: NodeId): RaftStatus {
    return this.node(id).status();
  }

  role(id: NodeId): StateRole {
    return this.status(id).role;
  }

  term(id: NodeId): number {
    return this.status(id).term;
  }

  /** The live node that leads in the highest term, if any. */
  leader(): NodeId | undefined {
    let best: RaftStatus | undefined;
    for (const id of this.ids()) {
      if (!this.isUp(id)) continue;
      const s = this.status(id);
      if (s.role === StateRole.Leader && (best === undefined || s.term > best.term)) best = s;
    }
    return best?.id;
  }

  /** Texts of the normal entries the node's application has applied, in order. */
  applied(id: NodeId): string[] {
    return [...this.member(id).app.texts];
  }

  appliedIndex(id: NodeId): number {
    return this.member(id).app.appliedIndex;
  }

  readStates(id: NodeId): ReadState[] {
    return [...this.member(id).readStates];
  }

  snapshotsInstalled(id: NodeId): number[] {
    return [...this.member(id).snapshotsInstalled];
  }

  disk(id: NodeId): Readonly<Disk> {
    return this.member(id).disk;
  }

  /**
   * The node's log from index `from`, one string per entry: "index@term", then the text of a normal
   * entry or the conf change ("7@2 a", "4@2" for a leader's empty entry, "3@1 AddNode(3)").
   */
  log(id: NodeId, from = 1): string[] {
    const node = this.node(id);
    const s = node.status();
    const lo = Math.max(from, s.firstIndex);
    if (lo > s.lastIndex) return [];
    return node.entries(lo, s.lastIndex + 1).map(formatEntry);
  }

  /** Delivered messages since the last resetTranscript(), one line each. */
  transcript(): string[] {
    return [...this.lines];
  }

  resetTranscript(): void {
    this.lines = [];
  }

  /** Every message ever handed to the network, with its fate. */
  sent(): readonly Sent[] {
    return this.sentLog;
  }
}

export function newCluster(ids: readonly NodeId[], opts: ClusterOptions = {}): Cluster {
  const c = new Cluster(ids, opts);
  // Every member applies the bootstrap conf changes and so learns the membership.
  c.deliverAll();
  return c;
}

/** The RaftError code fn throws, or undefined if it returns normally. */
export function errorCode(fn: () => void): RaftErrorCode | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof RaftError) return e.code;
    throw e;
  }
  return undefined;
}

function linkKey(a: NodeId, b: NodeId): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

function encodeApp(app: AppState): Uint8Array {
  return encoder.encode(JSON.stringify(app.texts));
}

function decodeApp(snap: Snapshot): AppState {
  return { appliedIndex: snap.metadata.index, texts: JSON.parse(text(snap.data)) as string[] };
}

function describeConfChange(cc: ConfChange): string {
  return `${ConfChangeType[cc.type]}(${cc.nodeId})`;
}

export function formatEntry(e: Entry): string {
  const head = `${e.index}@${e.term}`;
  if (e.type === EntryType.ConfChange) return `${head} ${describeConfChange(decodeConfChange(e.data))}`;
  return e.data.length > 0 ? `${head} ${text(e.data)}` : head;
}

function formatEntries(entries: readonly Entry[]): string {
  const ids = entries.map((e) => `${e.index}@${e.term}`);
  if (ids.length > 4) return `[${ids[0]}..${ids[ids.length - 1]}]`;
  return `[${ids.join(',')}]`;
}

/** One transcript line, e.g. "1 -> 2 App term=2 index=3 logTerm=1 entries=[4@2] commit=3". */
export function formatMessage(m: Message): string {
  const parts: string[] = [`${m.from} -> ${m.to} ${m.type}`];
  const ctx = m.context !== '' ? [`ctx=${m.context}`] : [];
  switch (m.type) {
    case MessageType.App:
      parts.push(`term=${m.term}`, `index=${m.index}`, `logTerm=${m.logTerm}`);
      parts.push(`entries=${formatEntries(m.entries)}`, `commit=${m.commit}`);
      break;
    case MessageType.AppResp:
      parts.push(`term=${m.term}`, `index=${m.index}`);
      if (m.reject) parts.push(`reject hint=${m.rejectHint}@${m.logTerm}`);
      break;
    case MessageType.Vote:
    case MessageType.PreVote:
      parts.push(`term=${m.term}`, `index=${m.index}`, `logTerm=${m.logTerm}`, ...ctx);
      break;
    case MessageType.VoteResp:
    case MessageType.PreVoteResp:
      parts.push(`term=${m.term}`);
      if (m.reject) parts.push('reject');
      break;
    case MessageType.Heartbeat:
      parts.push(`term=${m.term}`, `commit=${m.commit}`, ...ctx);
      break;
    case MessageType.HeartbeatResp:
      parts.push(`term=${m.term}`, ...ctx);
      break;
    case MessageType.Snap:
      parts.push(`term=${m.term}`, `snapshot=${m.snapshot?.metadata.index}@${m.snapshot?.metadata.term}`);
      break;
    case MessageType.Prop:
      parts.push(`entries=[${m.entries.map((e) => JSON.stringify(text(e.data))).join(',')}]`);
      break;
    case MessageType.ReadIndex:
      parts.push(...ctx);
      break;
    case MessageType.ReadIndexResp:
      parts.push(`term=${m.term}`, `index=${m.index}`, ...ctx);
      break;
    default:
      parts.push(`term=${m.term}`);
      if (m.reject) parts.push('reject');
      break;
  }
  return parts.join(' ');
}
