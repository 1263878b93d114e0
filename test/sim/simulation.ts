/**
 * A deterministic simulation of a Raft cluster: the real core (src/raft) runs over a simulated
 * network and disk while a seeded schedule injects faults, and an independent checker verifies the
 * safety properties after every event. One seed reproduces one run exactly.
 */
import { bootstrapState, joiningState } from '../../src/raft/bootstrap.js';
import { decodeConfChange } from '../../src/raft/conf-change.js';
import { RaftNode } from '../../src/raft/raft-node.js';
import {
  ConfChangeType,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  type NodeId,
  type PersistedState,
  type RaftConfig,
  RaftError,
  type Ready,
  type Snapshot,
  StateRole,
} from '../../src/raft/types.js';
import { SeededRandom } from '../../src/util/prng.js';
import { EventQueue } from './event-queue.js';

/** Simulated time units per tick of a node's clock (nodes drift around it). */
const TICK = 10;
const ELECTION_TICKS = 10;

export interface SimOptions {
  readonly seed: number;
  /** Events processed while faults are injected. */
  readonly steps: number;
  readonly trace?: (line: string) => void;
}

export interface SimStats {
  events: number;
  proposals: number;
  acked: number;
  reads: number;
  readsServed: number;
  leaderChanges: number;
  maxTerm: number;
  crashes: number;
  partitions: number;
  pauses: number;
  confChanges: number;
  transfers: number;
  snapshotsSent: number;
  snapshotsTaken: number;
  logTrims: number;
  messages: number;
  dropped: number;
  duplicated: number;
  livenessTicks: number;
}

export interface SimResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly error?: string;
  readonly stats: SimStats;
}

export class InvariantViolation extends Error {}

interface Disk {
  hardState: HardState;
  snapshot: Snapshot | undefined;
  entries: Entry[];
}

interface StateMachine {
  applied: number;
  hash: number;
}

interface PendingRead {
  readonly ctx: string;
  readonly incarnation: number;
  /** The highest commit index any node knew when the read was issued. */
  readonly commitAtInvoke: number;
  index?: number;
}

class SimNode {
  node: RaftNode | undefined;
  incarnation = 0;
  busy = false;
  pausedUntil = 0;
  removed = false;
  sm: StateMachine = { applied: 0, hash: 0 };
  readonly reads = new Map<string, PendingRead>();
  tickInterval: number;

  constructor(
    readonly id: NodeId,
    public disk: Disk,
    tickInterval: number,
  ) {
    this.tickInterval = tickInterval;
  }

  get alive(): boolean {
    return this.node !== undefined;
  }
}

type SimEvent =
  | { kind: 'tick'; id: NodeId; incarnation: number }
  | { kind: 'deliver'; msg: Message }
  | { kind: 'persisted'; id: NodeId; incarnation: number; ready: Ready }
  | { kind: 'snapStatus'; leader: NodeId; incarnation: number; to: NodeId; ok: boolean }
  | { kind: 'restart'; id: NodeId }
  | { kind: 'crashLeader'; id: NodeId; incarnation: number }
  | { kind: 'heal' }
  | { kind: 'client' }
  | { kind: 'fault' };

function fnv(hash: number, text: string): number {
  let h = (hash ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

function entryKey(e: Entry): string {
  if (e.type === EntryType.ConfChange) {
    const cc = decodeConfChange(e.data);
    return `cc:${ConfChangeType[cc.type]}:${cc.nodeId}`;
  }
  return e.data.length === 0 ? '(noop)' : decoder.decode(e.data);
}

function describeMessage(m: Message): string {
  const parts = [`${m.from} -> ${m.to} ${m.type} term=${m.term}`];
  if (m.type === MessageType.App || m.type === MessageType.Vote || m.type === MessageType.PreVote) {
    parts.push(`index=${m.index} logTerm=${m.logTerm}`);
  }
  if (m.entries.length > 0) parts.push(`entries=[${m.entries.map((e) => `${e.index}@${e.term}`).join(',')}]`);
  if (m.type === MessageType.App || m.type === MessageType.Heartbeat) parts.push(`commit=${m.commit}`);
  if (m.type === MessageType.AppResp) parts.push(`index=${m.index}`);
  if (m.reject) parts.push(`reject hint=${m.rejectHint}`);
  if (m.snapshot) parts.push(`snapshot=${m.snapshot.metadata.index}@${m.snapshot.metadata.term}`);
  if (m.context) parts.push(`ctx=${m.context}`);
  return parts.join(' ');
}

export class Simulation {
  private readonly rnd: SeededRandom;
  private readonly queue = new EventQueue<SimEvent>();
  private readonly nodes = new Map<NodeId, SimNode>();
  private now = 0;
  private nextNodeNumber = 1;
  private faultsOn = true;
  private readonly stats: SimStats = {
    events: 0,
    proposals: 0,
    acked: 0,
    reads: 0,
    readsServed: 0,
    leaderChanges: 0,
    maxTerm: 0,
    crashes: 0,
    partitions: 0,
    pauses: 0,
    confChanges: 0,
    transfers: 0,
    snapshotsSent: 0,
    snapshotsTaken: 0,
    logTrims: 0,
    messages: 0,
    dropped: 0,
    duplicated: 0,
    livenessTicks: 0,
  };

  // The network's fault settings for this seed.
  private readonly lossRate: number;
  private readonly dupRate: number;
  private readonly maxDelay: number;
  private readonly maxDiskDelay: number;
  private readonly snapshotEvery: number;
  private readonly crashInPersistRate: number;
  private readonly newLeaderCrashRate: number;
  private readonly raftTuning: Pick<RaftConfig, 'maxSizePerMsg' | 'maxInflightMsgs' | 'maxInflightBytes' | 'preVote'>;
  /** Directed links that drop everything: `${from}>${to}`. */
  private blocked = new Set<string>();

  // What the checker has learned.
  private readonly leaders = new Map<number, NodeId>();
  /** Applied entries by index: the one sequence every node's applied log must be a prefix of. */
  private readonly appliedLog = new Map<number, { term: number; key: string; hash: number }>();
  /** Every (index, term) ever written to a disk, with its payload: log matching at entry level. */
  private readonly written = new Map<string, string>();
  private maxCommitSeen = 0;
  /** The highest commit index any node knew while in a given term. */
  private readonly commitSeenInTerm = new Map<number, number>();
  private readonly proposals = new Map<string, { id: NodeId; incarnation: number }>();
  private readonly acked = new Map<string, number>();
  private proposalSeq = 0;
  private readSeq = 0;

  constructor(private readonly opts: SimOptions) {
    this.rnd = new SeededRandom(opts.seed);
    const r = this.rnd;
    this.lossRate = r.pick([0, 0, 0.01, 0.05, 0.1, 0.2]);
    this.dupRate = r.pick([0, 0, 0.01, 0.05]);
    this.maxDelay = r.pick([2, 5, 10, 20, 40]);
    this.maxDiskDelay = r.pick([0, 1, 3, 8]);
    this.snapshotEvery = r.pick([10, 25, 60, 1_000_000]);
    this.crashInPersistRate = r.pick([0, 0.002, 0.01, 0.03]);
    this.newLeaderCrashRate = r.pick([0, 0.1, 0.3, 0.6]);
    this.raftTuning = {
      maxSizePerMsg: r.pick([1, 64, 256, 1024 * 1024]),
      maxInflightMsgs: r.pick([1, 2, 4, 256]),
      maxInflightBytes: r.pick([0, 0, 128]),
      preVote: r.chance(0.8),
    };
    const size = r.pick([3, 3, 5]);
    const ids = Array.from({ length: size }, () => this.newNodeId());
    const boot = bootstrapState(ids.map((id) => ({ id })));
    for (const id of ids) this.addNode(id, boot);
    this.queue.push(this.now + 1, { kind: 'client' });
    this.queue.push(this.now + this.rnd.int(20 * TICK), { kind: 'fault' });
  }

  private newNodeId(): NodeId {
    return `n${this.nextNodeNumber++}`;
  }

  private trace(line: string): void {
    this.opts.trace?.(`t=${String(this.now).padStart(6)} ${line}`);
  }

  private fail(why: string): never {
    throw new InvariantViolation(why);
  }

  // ---- Nodes -------------------------------------------------------------------------------------

  private addNode(id: NodeId, state: PersistedState): void {
    const disk: Disk = { hardState: state.hardState, snapshot: state.snapshot, entries: [...state.entries] };
    const sn = new SimNode(id, disk, TICK - 1 + this.rnd.int(3));
    this.nodes.set(id, sn);
    this.start(sn);
  }

  private raftConfig(id: NodeId): RaftConfig {
    return {
      id,
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: 1,
      random: new SeededRandom(this.rnd.nextUint32()),
      checkQuorum: true,
      maxUncommittedEntriesBytes: 0,
      ...this.raftTuning,
    };
  }

  /** Starts (or restarts) a node from its disk; volatile state restarts from the snapshot. */
  private start(sn: SimNode): void {
    const d = sn.disk;
    const snapIndex = d.snapshot?.metadata.index ?? 0;
    sn.sm = d.snapshot ? (JSON.parse(decoder.decode(d.snapshot.data)) as StateMachine) : { applied: 0, hash: 0 };
    sn.incarnation++;
    sn.busy = false;
    sn.reads.clear();
    sn.node = new RaftNode(this.raftConfig(sn.id), {
      hardState: d.hardState,
      snapshot: d.snapshot,
      entries: d.entries.filter((e) => e.index > snapIndex),
      confState: { voters: [], learners: [] },
      applied: snapIndex,
    });
    this.queue.push(this.now + this.rnd.int(sn.tickInterval) + 1, { kind: 'tick', id: sn.id, incarnation: sn.incarnation });
    this.trace(`${sn.id} start (incarnation ${sn.incarnation}, term ${d.hardState.term}, commit ${d.hardState.commit}, snapshot ${snapIndex})`);
    this.pump(sn);
  }

  private crash(sn: SimNode): void {
    if (!sn.alive) return;
    sn.node = undefined;
    sn.busy = false;
    sn.reads.clear();
    this.stats.crashes++;
    this.trace(`${sn.id} CRASH (unpersisted state lost)`);
  }

  private liveNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.alive && !n.removed);
  }

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    let bestTerm = -1;
    for (const sn of this.liveNodes()) {
      const s = (sn.node as RaftNode).basicStatus();
      if (s.role === StateRole.Leader && s.term > bestTerm) {
        best = sn;
        bestTerm = s.term;
      }
    }
    return best;
  }

  // ---- Ready handling: the simulated application ------------------------------------------------

  private pump(sn: SimNode): void {
    const node = sn.node;
    if (node === undefined || sn.busy || !node.hasReady()) return;
    const ready = node.ready();
    if (ready.softState !== undefined) {
      const s = node.basicStatus();
      this.trace(`${sn.id} is ${ready.softState.role} (term ${s.term}, leader ${ready.softState.leader || '-'})`);
    }
    for (const m of ready.messages) this.send(m);
    for (const rs of ready.readStates) {
      const read = sn.reads.get(rs.requestCtx);
      if (read === undefined) continue;
      if (rs.index < read.commitAtInvoke) {
        this.fail(`read ${rs.requestCtx} on ${sn.id} got read index ${rs.index} below commit ${read.commitAtInvoke} known when it was issued (stale read)`);
      }
      read.index = rs.index;
    }
    sn.busy = true;
    this.queue.push(this.now + this.rnd.int(this.maxDiskDelay + 1), {
      kind: 'persisted',
      id: sn.id,
      incarnation: sn.incarnation,
      ready,
    });
  }

  private persisted(sn: SimNode, ready: Ready): void {
    const node = sn.node as RaftNode;
    const disk = sn.disk;
    // 1. Persist: snapshot, entries, hard state (one atomic write, as one LevelDB batch is).
    if (ready.snapshot !== undefined) {
      disk.snapshot = ready.snapshot;
      disk.entries = [];
    }
    if (ready.entries.length > 0) {
      const first = (ready.entries[0] as Entry).index;
      disk.entries = disk.entries.filter((e) => e.index < first);
      for (const e of ready.entries) {
        this.checkWritten(e);
        disk.entries.push(e);
      }
    }
    if (ready.hardState !== undefined) {
      if (ready.hardState.commit < disk.hardState.commit) {
        this.fail(`${sn.id} persisted commit ${ready.hardState.commit} below ${disk.hardState.commit}`);
      }
      if (ready.hardState.term < disk.hardState.term) {
        this.fail(`${sn.id} persisted term ${ready.hardState.term} below ${disk.hardState.term}`);
      }
      disk.hardState = ready.hardState;
    }
    // 2. Acknowledgements that promise what was just written.
    for (const m of ready.messagesAfterPersist) this.send(m);
    // 3. Apply.
    if (ready.snapshot !== undefined) this.applySnapshot(sn, ready.snapshot);
    for (const e of ready.committedEntries) this.apply(sn, e);
    node.advance();
    sn.busy = false;
    this.maybeTakeSnapshot(sn);
    this.maybeTrimLog(sn);
    this.serveReads(sn);
  }

  private checkWritten(e: Entry): void {
    const at = `${e.index}@${e.term}`;
    const key = entryKey(e);
    const seen = this.written.get(at);
    if (seen !== undefined && seen !== key) {
      this.fail(`log matching: two different entries at index ${e.index} term ${e.term}: ${seen} and ${key}`);
    }
    this.written.set(at, key);
  }

  private applySnapshot(sn: SimNode, snap: Snapshot): void {
    const sm = JSON.parse(decoder.decode(snap.data)) as StateMachine;
    const known = this.appliedLog.get(sm.applied);
    if (known !== undefined && known.hash !== sm.hash) {
      this.fail(`${sn.id} installed a snapshot at ${sm.applied} whose state differs from what others applied`);
    }
    if (sm.applied < sn.sm.applied) this.fail(`${sn.id} installed a snapshot older than its state`);
    sn.sm = sm;
    this.trace(`${sn.id} installs snapshot at ${sm.applied}`);
  }

  private apply(sn: SimNode, e: Entry): void {
    if (e.index !== sn.sm.applied + 1) {
      this.fail(`${sn.id} applied index ${e.index} after ${sn.sm.applied}: gap or repeat`);
    }
    const key = entryKey(e);
    const hash = fnv(sn.sm.hash, `${e.index}:${key}`);
    const known = this.appliedLog.get(e.index);
    if (known === undefined) {
      this.appliedLog.set(e.index, { term: e.term, key, hash });
    } else if (known.term !== e.term || known.key !== key || known.hash !== hash) {
      this.fail(`committed entry changed: ${sn.id} applied ${e.index}@${e.term} ${key}, another node applied ${e.index}@${known.term} ${known.key}`);
    }
    sn.sm = { applied: e.index, hash };
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      this.trace(`${sn.id} applies ${e.index}@${e.term} ${key}`);
      if (cc.type === ConfChangeType.RemoveNode && cc.nodeId === sn.id) {
        // A removed member shuts itself down once it knows, as etcd's does.
        sn.removed = true;
        this.trace(`${sn.id} learns it was removed and stops`);
      }
      return;
    }
    const p = this.proposals.get(key);
    if (p !== undefined && p.id === sn.id && p.incarnation === sn.incarnation && !this.acked.has(key)) {
      this.acked.set(key, e.index);
      this.stats.acked++;
    }
  }

  private maybeTakeSnapshot(sn: SimNode): void {
    const node = sn.node;
    if (node === undefined) return;
    const snapIndex = sn.disk.snapshot?.metadata.index ?? 0;
    if (sn.sm.applied - snapIndex < this.snapshotEvery) return;
    if (node.basicStatus().applied !== sn.sm.applied) return;
    const keep = this.rnd.int(5);
    const snap = node.createSnapshot(encoder.encode(JSON.stringify(sn.sm)), sn.sm.applied - keep);
    sn.disk.snapshot = snap;
    const firstKept = node.basicStatus().lastIndex >= 0 ? sn.sm.applied - keep : 0;
    sn.disk.entries = sn.disk.entries.filter((e) => e.index > firstKept);
    this.stats.snapshotsTaken++;
    this.trace(`${sn.id} snapshot at ${snap.metadata.index}, log compacted to ${firstKept}`);
  }

  /**
   * As a Ketch member does: drops log entries from memory (its disk keeps them until its next
   * snapshot); a leader those every member holds, a follower all but a few behind its applied index.
   * The snapshot trimLog records has no data: send() fills it in, as Ketch does.
   */
  private maybeTrimLog(sn: SimNode): void {
    const node = sn.node;
    if (node === undefined || !this.rnd.chance(0.25)) return;
    const upTo = node.matchedByAll() ?? node.basicStatus().applied - this.rnd.int(6);
    const before = node.status().firstIndex - 1;
    const after = node.trimLog(upTo);
    if (after === before) return;
    this.stats.logTrims++;
    this.trace(`${sn.id} trims its in-memory log to ${after}`);
  }

  private serveReads(sn: SimNode): void {
    for (const [ctx, read] of sn.reads) {
      if (read.index === undefined || sn.sm.applied < read.index) continue;
      sn.reads.delete(ctx);
      this.stats.readsServed++;
      this.trace(`${sn.id} serves read ${ctx} at applied ${sn.sm.applied} (read index ${read.index})`);
    }
  }

  // ---- Network -----------------------------------------------------------------------------------

  private send(m: Message): void {
    this.stats.messages++;
    if (m.type === MessageType.Snap && m.snapshot !== undefined && m.snapshot.data.length === 0) {
      // A trim's snapshot: the state at its index, which every node that applied it agrees on.
      const index = m.snapshot.metadata.index;
      const known = this.appliedLog.get(index);
      if (known === undefined) this.fail(`${m.from} sent a snapshot at ${index}, which nobody applied`);
      const sm: StateMachine = { applied: index, hash: known?.hash ?? 0 };
      m = { ...m, snapshot: { ...m.snapshot, data: encoder.encode(JSON.stringify(sm)) } };
    }
    if (this.faultsOn && this.rnd.chance(this.lossRate)) {
      this.stats.dropped++;
      // Snapshots go over their own stream, whose failure the transport reports, as etcd's does.
      const from = this.nodes.get(m.from);
      if (m.type === MessageType.Snap && from?.alive) {
        this.queue.push(this.now + 1, { kind: 'snapStatus', leader: m.from, incarnation: from.incarnation, to: m.to, ok: false });
      }
      return;
    }
    const copies = this.faultsOn && this.rnd.chance(this.dupRate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      this.queue.push(this.now + 1 + this.rnd.int(this.maxDelay), { kind: 'deliver', msg: m });
    }
    if (m.type === MessageType.Snap) this.stats.snapshotsSent++;
  }

  private deliver(m: Message): void {
    const to = this.nodes.get(m.to);
    const from = this.nodes.get(m.from);
    const cut = this.blocked.has(`${m.from}>${m.to}`);
    const ok = to !== undefined && to.alive && !to.removed && !cut;
    if (m.type === MessageType.Snap && from?.alive) {
      // The transport reports how sending the snapshot went, as etcd's does.
      this.queue.push(this.now, { kind: 'snapStatus', leader: m.from, incarnation: from.incarnation, to: m.to, ok });
    }
    if (!ok) {
      // A real transport notices a cut link or a dead peer when its stream breaks.
      if ((cut || to?.alive === false) && from?.alive && this.rnd.chance(0.3)) from.node?.reportUnreachable(m.to);
      return;
    }
    this.opts.trace?.(`t=${String(this.now).padStart(6)} ${describeMessage(m)}`);
    (to.node as RaftNode).step(m);
    this.pump(to);
  }

  // ---- Clients -----------------------------------------------------------------------------------

  private clientOp(): void {
    const live = this.liveNodes();
    if (live.length === 0) return;
    const sn = this.rnd.pick(live);
    const node = sn.node as RaftNode;
    if (this.rnd.chance(0.7)) {
      const key = `p${++this.proposalSeq}`;
      try {
        node.propose(encoder.encode(key));
        this.proposals.set(key, { id: sn.id, incarnation: sn.incarnation });
        this.stats.proposals++;
        this.trace(`${sn.id} propose ${key}`);
      } catch (err) {
        if (!(err instanceof RaftError)) throw err;
      }
    } else {
      const ctx = `r${++this.readSeq}`;
      try {
        node.readIndex(ctx);
        sn.reads.set(ctx, { ctx, incarnation: sn.incarnation, commitAtInvoke: this.maxCommitSeen });
        this.stats.reads++;
        this.trace(`${sn.id} read ${ctx} (commit known anywhere: ${this.maxCommitSeen})`);
      } catch (err) {
        if (!(err instanceof RaftError)) throw err;
      }
    }
    this.pump(sn);
  }

  // ---- Faults ------------------------------------------------------------------------------------

  private injectFault(): void {
    const all = [...this.nodes.values()].filter((n) => !n.removed);
    const live = all.filter((n) => n.alive);
    const roll = this.rnd.int(100);
    if (roll < 18) {
      // Crash a node (the leader half the time) and restart it later from its disk.
      const lead = this.leader();
      const victim = lead !== undefined && this.rnd.chance(0.5) ? lead : live.length > 0 ? this.rnd.pick(live) : undefined;
      if (victim !== undefined) {
        this.crash(victim);
        this.queue.push(this.now + (1 + this.rnd.int(40)) * TICK, { kind: 'restart', id: victim.id });
      }
    } else if (roll < 38) {
      this.partition(all);
    } else if (roll < 48) {
      // Pause a node (SIGSTOP, a long GC): it stops, and later acts on stale timers and messages.
      const victim = live.length > 0 ? this.rnd.pick(live) : undefined;
      if (victim !== undefined) {
        victim.pausedUntil = this.now + (1 + this.rnd.int(30)) * TICK;
        this.stats.pauses++;
        this.trace(`${victim.id} PAUSE until ${victim.pausedUntil}`);
      }
    } else if (roll < 63) {
      this.changeMembership();
    } else if (roll < 75) {
      const lead = this.leader();
      const voters = lead?.node?.status().voters.filter((v) => v !== lead.id) ?? [];
      if (lead !== undefined && voters.length > 0) {
        const target = this.rnd.pick(voters);
        this.stats.transfers++;
        this.trace(`${lead.id} transfer leadership to ${target}`);
        try {
          lead.node?.transferLeader(target);
        } catch (err) {
          if (!(err instanceof RaftError)) throw err;
        }
        this.pump(lead);
      }
    } else {
      // Quiet period: let the cluster work.
    }
  }

  private partition(all: SimNode[]): void {
    const ids = all.map((n) => n.id);
    if (ids.length < 2) return;
    this.blocked = new Set();
    const shape = this.rnd.int(4);
    const block = (a: NodeId, b: NodeId): void => {
      this.blocked.add(`${a}>${b}`);
    };
    let what: string;
    if (shape === 0) {
      const lone = this.leader()?.id ?? this.rnd.pick(ids);
      for (const other of ids) if (other !== lone) (block(lone, other), block(other, lone));
      what = `isolate ${lone}`;
    } else if (shape === 1) {
      const side = new Set(ids.filter(() => this.rnd.chance(0.5)));
      for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) block(a, b);
      what = `split {${[...side].join(',')}} | {${ids.filter((i) => !side.has(i)).join(',')}}`;
    } else if (shape === 2) {
      // Asymmetric: one node's outgoing traffic is lost but it still hears everyone.
      const mute = this.rnd.pick(ids);
      for (const other of ids) if (other !== mute) block(mute, other);
      what = `mute ${mute} (it hears, is not heard)`;
    } else {
      // A bridge: two halves that only one node connects.
      const shuffled = [...ids].sort(() => this.rnd.next() - 0.5);
      const bridge = shuffled[0] as NodeId;
      const left = new Set(shuffled.slice(1, 1 + Math.floor((ids.length - 1) / 2)));
      for (const a of ids) {
        for (const b of ids) {
          if (a === bridge || b === bridge) continue;
          if (left.has(a) !== left.has(b)) block(a, b);
        }
      }
      what = `bridge through ${bridge}`;
    }
    this.stats.partitions++;
    this.trace(`PARTITION ${what}`);
    this.queue.push(this.now + (5 + this.rnd.int(60)) * TICK, { kind: 'heal' });
  }

  private changeMembership(): void {
    const lead = this.leader();
    const node = lead?.node;
    if (lead === undefined || node === undefined) return;
    const st = node.status();
    const roll = this.rnd.int(4);
    let cc: { type: ConfChangeType; nodeId: NodeId } | undefined;
    if (roll === 0 && st.learners.length > 0) {
      cc = { type: ConfChangeType.AddNode, nodeId: this.rnd.pick(st.learners) };
    } else if (roll === 1 && st.voters.length + st.learners.length < 6) {
      const id = this.newNodeId();
      this.addNode(id, joiningState());
      cc = { type: ConfChangeType.AddLearner, nodeId: id };
    } else if (roll === 2 && st.voters.length > 3) {
      cc = { type: ConfChangeType.RemoveNode, nodeId: this.rnd.pick(st.voters) };
    } else if (roll === 3 && st.learners.length > 0) {
      cc = { type: ConfChangeType.RemoveNode, nodeId: this.rnd.pick(st.learners) };
    }
    if (cc === undefined) return;
    this.trace(`${lead.id} propose conf change ${ConfChangeType[cc.type]} ${cc.nodeId}`);
    try {
      node.proposeConfChange({ ...cc, context: new Uint8Array() });
      this.stats.confChanges++;
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
    }
    this.pump(lead);
  }

  private heal(): void {
    if (this.blocked.size > 0) this.trace('HEAL');
    this.blocked = new Set();
  }

  // ---- Main loop ---------------------------------------------------------------------------------

  private handle(ev: SimEvent): void {
    switch (ev.kind) {
      case 'tick': {
        const sn = this.nodes.get(ev.id) as SimNode;
        if (sn.incarnation !== ev.incarnation || !sn.alive || sn.removed) return;
        this.queue.push(this.now + sn.tickInterval, ev);
        sn.node?.tick();
        this.pump(sn);
        return;
      }
      case 'deliver':
        this.deliver(ev.msg);
        return;
      case 'persisted': {
        const sn = this.nodes.get(ev.id) as SimNode;
        if (sn.incarnation !== ev.incarnation || !sn.alive) return;
        if (this.faultsOn && this.rnd.chance(this.crashInPersistRate)) {
          // Power loss with a write in flight: the worst moment for anything promised too early.
          this.crash(sn);
          this.queue.push(this.now + (1 + this.rnd.int(10)) * TICK, { kind: 'restart', id: sn.id });
          return;
        }
        this.persisted(sn, ev.ready);
        this.pump(sn);
        return;
      }
      case 'snapStatus': {
        const sn = this.nodes.get(ev.leader) as SimNode;
        if (sn.incarnation !== ev.incarnation || !sn.alive) return;
        sn.node?.reportSnapshot(ev.to, ev.ok);
        this.pump(sn);
        return;
      }
      case 'crashLeader': {
        const sn = this.nodes.get(ev.id) as SimNode;
        if (sn.incarnation !== ev.incarnation || !sn.alive || !this.faultsOn) return;
        this.crash(sn);
        this.queue.push(this.now + (1 + this.rnd.int(20)) * TICK, { kind: 'restart', id: sn.id });
        return;
      }
      case 'restart': {
        const sn = this.nodes.get(ev.id) as SimNode;
        if (!sn.alive && !sn.removed) this.start(sn);
        return;
      }
      case 'heal':
        this.heal();
        return;
      case 'client':
        this.clientOp();
        if (this.faultsOn) this.queue.push(this.now + 1 + this.rnd.int(3 * TICK), { kind: 'client' });
        return;
      case 'fault':
        if (!this.faultsOn) return;
        this.injectFault();
        this.queue.push(this.now + (1 + this.rnd.int(40)) * TICK, { kind: 'fault' });
        return;
    }
  }

  /** Node of the event, for pauses: a paused node's events wait until it resumes. */
  private eventNode(ev: SimEvent): SimNode | undefined {
    switch (ev.kind) {
      case 'tick':
      case 'persisted':
        return this.nodes.get(ev.id);
      case 'deliver':
        return this.nodes.get(ev.msg.to);
      case 'snapStatus':
        return this.nodes.get(ev.leader);
      default:
        return undefined;
    }
  }

  private runOne(): boolean {
    const next = this.queue.pop();
    if (next === undefined) return false;
    this.now = Math.max(this.now, next.at);
    const sn = this.eventNode(next.item);
    if (sn !== undefined && sn.pausedUntil > this.now) {
      this.queue.push(sn.pausedUntil, next.item);
      return true;
    }
    this.handle(next.item);
    this.stats.events++;
    this.checkAfterEvent();
    return true;
  }

  // ---- Invariants --------------------------------------------------------------------------------

  private checkAfterEvent(): void {
    for (const sn of this.nodes.values()) {
      const node = sn.node;
      if (node === undefined) continue;
      const s = node.basicStatus();
      if (s.commit > this.maxCommitSeen) this.maxCommitSeen = s.commit;
      if (s.commit > (this.commitSeenInTerm.get(s.term) ?? 0)) this.commitSeenInTerm.set(s.term, s.commit);
      if (s.term > this.stats.maxTerm) this.stats.maxTerm = s.term;
      if (s.role !== StateRole.Leader) continue;
      const known = this.leaders.get(s.term);
      if (known === undefined) {
        this.leaders.set(s.term, sn.id);
        this.stats.leaderChanges++;
        this.checkLeaderCompleteness(sn, node, s.term);
        if (this.faultsOn && this.rnd.chance(this.newLeaderCrashRate)) {
          // A leader that dies just after winning leaves old-term entries half replicated (figure 8).
          this.queue.push(this.now + this.rnd.int(3 * TICK), { kind: 'crashLeader', id: sn.id, incarnation: sn.incarnation });
        }
      } else if (known !== sn.id) {
        this.fail(`two leaders in term ${s.term}: ${known} and ${sn.id}`);
      }
    }
    if (this.stats.events % 64 === 0) this.checkLogMatching();
  }

  /**
   * A new leader's log must hold every entry committed in an earlier term. (A leader of an older
   * term can still be elected late, after a newer term committed more; it need not have that.)
   */
  private checkLeaderCompleteness(sn: SimNode, node: RaftNode, term: number): void {
    const st = node.status();
    let required = 0;
    for (const [t, commit] of this.commitSeenInTerm) if (t < term && commit > required) required = commit;
    if (st.lastIndex < required) {
      this.fail(`leader completeness: ${sn.id} leads term ${term} with last index ${st.lastIndex} < commit ${required} of an earlier term`);
    }
    for (let i = st.firstIndex; i <= required; i++) {
      const known = this.appliedLog.get(i);
      if (known !== undefined && node.term(i) !== known.term) {
        this.fail(`leader completeness: ${sn.id} leads term ${term} but has term ${node.term(i)} at committed index ${i} (was ${known.term})`);
      }
    }
  }

  /** If two logs hold an entry with the same index and term, they agree on everything before it. */
  private checkLogMatching(): void {
    const live = [...this.nodes.values()].filter((n) => n.alive);
    for (let a = 0; a < live.length; a++) {
      for (let b = a + 1; b < live.length; b++) {
        const na = (live[a] as SimNode).node as RaftNode;
        const nb = (live[b] as SimNode).node as RaftNode;
        const sa = na.status();
        const sb = nb.status();
        const lo = Math.max(sa.firstIndex, sb.firstIndex);
        const hi = Math.min(sa.lastIndex, sb.lastIndex);
        let top = -1;
        for (let i = hi; i >= lo; i--) {
          if (na.term(i) === nb.term(i)) {
            top = i;
            break;
          }
        }
        if (top < lo) continue;
        const ea = na.entries(lo, top + 1);
        const eb = nb.entries(lo, top + 1);
        for (let k = 0; k < ea.length; k++) {
          const x = ea[k] as Entry;
          const y = eb[k] as Entry;
          if (x.term !== y.term || entryKey(x) !== entryKey(y)) {
            this.fail(`log matching: ${live[a]?.id} and ${live[b]?.id} agree at ${top} but differ at ${x.index}`);
          }
        }
      }
    }
  }

  // ---- Phases ------------------------------------------------------------------------------------

  run(): SimResult {
    try {
      while (this.stats.events < this.opts.steps && this.runOne()) {
        /* fault phase */
      }
      this.checkLogMatching();
      this.liveness();
      this.checkAcknowledged();
      return { seed: this.opts.seed, ok: true, stats: this.stats };
    } catch (err) {
      const msg = err instanceof Error ? `${err.message}\n${err instanceof InvariantViolation ? '' : err.stack ?? ''}` : String(err);
      return { seed: this.opts.seed, ok: false, error: `at t=${this.now}: ${msg.trim()}`, stats: this.stats };
    }
  }

  /**
   * Heal everything, restart every member, and require a leader and every member fully caught up
   * (including one new proposal) within a bounded number of ticks.
   */
  private liveness(): void {
    this.faultsOn = false;
    this.heal();
    this.trace('LIVENESS: heal, restart all, no more faults');
    // Members removed from the newest configuration are shut down, as an operator would.
    const newest = [...this.nodes.values()]
      .filter((n) => n.alive)
      .sort((a, b) => b.sm.applied - a.sm.applied)[0];
    for (const sn of this.nodes.values()) {
      sn.pausedUntil = 0;
      if (!sn.alive && !sn.removed) this.start(sn);
    }
    const budgetTicks = 60 * ELECTION_TICKS;
    const deadline = this.now + budgetTicks * TICK;
    let finalKey: string | undefined;
    let finalProposedBy: { id: NodeId; term: number } | undefined;
    let lastCheck = 0;
    void newest;
    while (this.now < deadline) {
      if (!this.runOne()) break;
      if (this.now - lastCheck < TICK) continue;
      lastCheck = this.now;
      const lead = this.leader();
      if (lead === undefined) continue;
      const node = lead.node as RaftNode;
      const st = node.status();
      if (finalProposedBy === undefined || finalProposedBy.id !== lead.id || finalProposedBy.term !== st.term) {
        finalKey = `final-${lead.id}-${st.term}`;
        try {
          node.propose(encoder.encode(finalKey));
          finalProposedBy = { id: lead.id, term: st.term };
          this.trace(`${lead.id} propose ${finalKey}`);
          this.pump(lead);
        } catch (err) {
          if (!(err instanceof RaftError)) throw err;
        }
        continue;
      }
      const members = [...st.voters, ...st.learners];
      const done = members.every((id) => {
        const m = this.nodes.get(id);
        const ms = m?.node?.basicStatus();
        return ms !== undefined && ms.commit === st.lastIndex && m !== undefined && m.sm.applied === st.lastIndex;
      });
      const finalApplied = [...this.appliedLog.values()].some((v) => v.key === finalKey);
      if (done && finalApplied) {
        this.stats.livenessTicks = Math.round((this.now - (deadline - budgetTicks * TICK)) / TICK);
        this.finalMembers = members;
        return;
      }
    }
    const summary = [...this.nodes.values()]
      .map((n) => {
        const s = n.node?.basicStatus();
        return s === undefined ? `${n.id}:down${n.removed ? '(removed)' : ''}` : `${n.id}:${s.role}/t${s.term}/c${s.commit}/a${n.sm.applied}/l${s.lastIndex}`;
      })
      .join(' ');
    this.fail(`liveness: no leader with every member caught up within ${budgetTicks} ticks after healing: ${summary}`);
  }

  private finalMembers: NodeId[] = [];

  /** Every proposal whose proposer applied it (the client got its answer) is applied everywhere. */
  private checkAcknowledged(): void {
    for (const [key, index] of this.acked) {
      const at = this.appliedLog.get(index);
      if (at === undefined || at.key !== key) this.fail(`acknowledged ${key} at ${index} is not in the applied log`);
      for (const id of this.finalMembers) {
        const sn = this.nodes.get(id) as SimNode;
        if (sn.sm.applied < index) this.fail(`acknowledged ${key} at ${index} not applied on ${id}`);
      }
    }
  }
}

export function runSeed(seed: number, steps: number, trace?: (line: string) => void): SimResult {
  return new Simulation({ seed, steps, trace }).run();
}
