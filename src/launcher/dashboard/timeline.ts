import type { LeaseView, NodeView, StoreView, TimelineEntry, TimelineKind } from './dashboard-types.js';
import { clusterLeader } from './store-leader.js';

/**
 * The dashboard's timeline: what changed between two observations of the cluster (store members'
 * probed status, the peer-link cut, Lease holders, node readiness), written as one entry per
 * change. Nothing is inferred beyond what two successive observations show.
 */

const ENTRIES_MAX = 500;

export class Timeline {
  private readonly list: TimelineEntry[] = [];
  private seq = 0;
  private stores: StoreView[] | undefined;
  private cut: Array<[string, string]> = [];
  /** The member leading at the last observation (undefined while none does). */
  private leader: string | undefined;
  /** The last member seen leading, and in which term (kept through leaderless periods). */
  private lastLeader: string | undefined;
  private leaderTerm: number | undefined;
  /** When an observation last showed a leader (the real handover happened after it). */
  private leaderSeenAt: number | undefined;
  /** Since when no running member leads (undefined while one does). */
  private leaderlessSince: number | undefined;
  private leases = new Map<string, { holder: string | undefined; current: boolean }>();
  private nodes: Map<string, string> | undefined;

  constructor(private readonly onEntry: (entry: TimelineEntry) => void = () => undefined) {}

  entries(): TimelineEntry[] {
    return [...this.list];
  }

  /** An entry that is not derived from observation, such as an action taken from the page. */
  add(kind: TimelineKind, text: string, atMs: number, extra: { term?: number; subject?: string } = {}): void {
    const entry: TimelineEntry = { seq: ++this.seq, at: atMs, kind, text, ...extra };
    this.list.push(entry);
    if (this.list.length > ENTRIES_MAX) this.list.splice(0, this.list.length - ENTRIES_MAX);
    this.onEntry(entry);
  }

  /** One probe of every store member and the peer-link cut. */
  observeStores(stores: readonly StoreView[], cut: ReadonlyArray<readonly [string, string]>, atMs: number): void {
    const before = this.stores === undefined ? undefined : new Map(this.stores.map((s) => [s.name, s]));
    const leader = clusterLeader(stores);
    if (before !== undefined) {
      for (const s of stores) {
        const was = before.get(s.name);
        if (was === undefined || was.state === s.state) continue;
        // The last leader, even when a probe round in between already saw it stop answering.
        const wasLeader = this.lastLeader === s.name && (this.leader === undefined || this.leader === s.name) ? ' (the leader)' : '';
        const text =
          s.state === 'down' ? `${s.name} went down${wasLeader}`
          : s.state === 'paused' ? `${s.name} paused${wasLeader}`
          : was.state === 'paused' ? `${s.name} resumed`
          : `${s.name} is running again (pid ${s.pid})`;
        this.add('member', text, atMs, { subject: s.name });
      }
      const cutText = (c: ReadonlyArray<readonly [string, string]>): string => c.map(([a, b]) => `${a}-${b}`).join(' ');
      if (cutText(cut) !== cutText(this.cut)) {
        this.add('partition', cut.length === 0 ? 'peer links healed' : `peer links cut: ${cutText(cut)}`, atMs);
      }
    }
    if (leader === undefined) {
      if (this.leader !== undefined || before === undefined) {
        this.leaderlessSince = atMs;
        const lost = this.leader === undefined ? '' : ` (${this.leader} no longer leads)`;
        this.add('election', `no leader${lost}`, atMs, { ...(this.leaderTerm === undefined ? {} : { term: this.leaderTerm }) });
      }
    } else if (leader.name !== this.leader || leader.term !== this.leaderTerm) {
      const term = leader.term ?? 0;
      let text: string;
      if (before === undefined) text = `${leader.name} is the leader (term ${term})`;
      else if (leader.name === this.lastLeader) text = `${leader.name} leads again in term ${term}`;
      else text = `${leader.name} elected leader in term ${term}${this.lastLeader === undefined ? '' : ` (was ${this.lastLeader})`}`;
      // Probes are a second apart: bound the leaderless time by the last sight of the old leader.
      const seconds = (from: number): string => ((atMs - from) / 1000).toFixed(1);
      if (before !== undefined && this.lastLeader !== undefined && this.leaderSeenAt !== undefined && this.lastLeader !== leader.name) text += `, ${seconds(this.leaderSeenAt)} s after ${this.lastLeader} was last seen leading`;
      else if (before !== undefined && this.leaderlessSince !== undefined) text += `, ${seconds(this.leaderlessSince)} s after no leader was first seen`;
      this.add('leader', text, atMs, { term, subject: leader.name });
      this.leaderlessSince = undefined;
    }
    this.leader = leader?.name;
    if (leader !== undefined) {
      this.leaderSeenAt = atMs;
      this.lastLeader = leader.name;
      this.leaderTerm = leader.term;
    }
    this.stores = stores.map((s) => ({ ...s }));
    this.cut = cut.map(([a, b]) => [a, b]);
  }

  /** The Leases as the watch (and the clock, for expiry) show them now. */
  observeLeases(leases: readonly LeaseView[], atMs: number): void {
    for (const l of leases) {
      const now = { holder: l.current ? (l.holder ?? l.holderIdentity) : undefined, current: l.current };
      const was = this.leases.get(l.lease);
      this.leases.set(l.lease, now);
      if (was !== undefined ? was.holder === now.holder : now.holder === undefined) continue;
      const text =
        now.holder === undefined ? `Lease ${l.lease}: nobody holds it (${was?.holder ?? 'no holder'} stopped renewing)`
        : was === undefined ? `Lease ${l.lease} held by ${now.holder}`
        : `Lease ${l.lease}: ${now.holder} took over${was.holder === undefined ? '' : ` from ${was.holder}`}`;
      this.add('lease', text, atMs, { subject: l.lease });
    }
  }

  /** Node readiness; the first observation sets the baseline without entries. */
  observeNodes(nodes: readonly NodeView[], atMs: number): void {
    const now = new Map(nodes.map((n) => [n.name, n.ready]));
    if (this.nodes !== undefined) {
      for (const n of nodes) {
        const was = this.nodes.get(n.name);
        if (was === n.ready) continue;
        const what = n.ready === 'True' ? 'Ready' : n.ready === 'False' ? 'NotReady' : 'readiness Unknown';
        this.add('node', `node ${n.name} ${was === undefined ? 'registered, ' : ''}${what}${n.readyReason === undefined || n.ready === 'True' ? '' : ` (${n.readyReason})`}`, atMs, { subject: n.name });
      }
    }
    this.nodes = now;
  }
}
