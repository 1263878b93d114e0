import { ConfChangeType } from '../raft/types.js';
import type { MemberContext } from './request-codec.js';

/** A storage write in the server's own keyspace (cluster records start with 'c'). */
export type ClusterOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

export interface Member {
  readonly id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export type AlarmType = 'NOSPACE' | 'CORRUPT';

const MEMBER_PREFIX = 'c/m/';
const REMOVED_PREFIX = 'c/r/';
const ALARM_PREFIX = 'c/a/';

/**
 * The cluster's membership as the replicated state machine sees it (etcd's membership.RaftCluster):
 * members with names and URLs, IDs that were removed (never to return), and active alarms. Changed
 * only by applying log entries, so every member holds the same view at the same index.
 */
export class Membership {
  readonly members = new Map<string, Member>();
  readonly removed = new Set<string>();
  /** `${memberId}/${alarm}` */
  readonly alarms = new Set<string>();

  static load(records: Iterable<[Buffer, Buffer]>): Membership {
    const m = new Membership();
    for (const [k, v] of records) {
      const key = k.toString();
      if (key.startsWith(MEMBER_PREFIX)) {
        const member = JSON.parse(v.toString()) as Member;
        m.members.set(member.id, member);
      } else if (key.startsWith(REMOVED_PREFIX)) {
        m.removed.add(key.slice(REMOVED_PREFIX.length));
      } else if (key.startsWith(ALARM_PREFIX)) {
        m.alarms.add(key.slice(ALARM_PREFIX.length));
      }
    }
    return m;
  }

  /** Every record, to persist a copy from empty (snapshot install). */
  allOps(): ClusterOp[] {
    return [
      ...[...this.members.values()].map((mem) => this.putMember(mem)),
      ...[...this.removed].map((id) => put(REMOVED_PREFIX + id, '')),
      ...[...this.alarms].map((a) => put(ALARM_PREFIX + a, '')),
    ];
  }

  sorted(): Member[] {
    return [...this.members.values()].sort((a, b) => (BigInt(`0x${a.id}`) < BigInt(`0x${b.id}`) ? -1 : 1));
  }

  applyConfChange(type: ConfChangeType, nodeId: string, ctx: MemberContext | undefined): ClusterOp[] {
    switch (type) {
      case ConfChangeType.AddNode: {
        const existing = this.members.get(nodeId);
        if (existing !== undefined) {
          existing.isLearner = false;
          return [this.putMember(existing)];
        }
        return this.add(nodeId, ctx, false);
      }
      case ConfChangeType.AddLearner:
        return this.add(nodeId, ctx, true);
      case ConfChangeType.RemoveNode:
        this.members.delete(nodeId);
        this.removed.add(nodeId);
        return [{ type: 'del', key: Buffer.from(MEMBER_PREFIX + nodeId) }, put(REMOVED_PREFIX + nodeId, '')];
    }
  }

  private add(id: string, ctx: MemberContext | undefined, isLearner: boolean): ClusterOp[] {
    const member: Member = {
      id,
      name: ctx?.name ?? '',
      peerURLs: ctx?.peer_urls ?? [],
      clientURLs: ctx?.client_urls ?? [],
      isLearner,
    };
    this.members.set(id, member);
    return [this.putMember(member)];
  }

  /** A member announcing its name and client URLs after start. */
  publish(id: string, name: string, clientURLs: string[]): ClusterOp[] {
    const member = this.members.get(id);
    if (member === undefined) return [];
    member.name = name;
    member.clientURLs = clientURLs;
    return [this.putMember(member)];
  }

  updatePeerURLs(id: string, peerURLs: string[]): ClusterOp[] {
    const member = this.members.get(id);
    if (member === undefined) return [];
    member.peerURLs = peerURLs;
    return [this.putMember(member)];
  }

  setAlarm(memberId: string, alarm: AlarmType, active: boolean): ClusterOp[] {
    const key = `${memberId}/${alarm}`;
    if (active) {
      this.alarms.add(key);
      return [put(ALARM_PREFIX + key, '')];
    }
    this.alarms.delete(key);
    return [{ type: 'del', key: Buffer.from(ALARM_PREFIX + key) }];
  }

  hasAlarm(alarm: AlarmType): boolean {
    for (const a of this.alarms) if (a.endsWith(`/${alarm}`)) return true;
    return false;
  }

  peerURLInUse(urls: readonly string[], except?: string): boolean {
    for (const m of this.members.values()) {
      if (m.id !== except && m.peerURLs.some((u) => urls.includes(u))) return true;
    }
    return false;
  }

  toJSON(): { members: Member[]; removed: string[]; alarms: string[] } {
    return { members: this.sorted(), removed: [...this.removed].sort(), alarms: [...this.alarms].sort() };
  }

  static fromJSON(j: { members: Member[]; removed: string[]; alarms: string[] }): Membership {
    const m = new Membership();
    for (const mem of j.members) m.members.set(mem.id, mem);
    for (const id of j.removed) m.removed.add(id);
    for (const a of j.alarms) m.alarms.add(a);
    return m;
  }

  private putMember(m: Member): ClusterOp {
    return put(MEMBER_PREFIX + m.id, JSON.stringify(m));
  }
}

function put(key: string, value: string): ClusterOp {
  return { type: 'put', key: Buffer.from(key), value: Buffer.from(value) };
}
