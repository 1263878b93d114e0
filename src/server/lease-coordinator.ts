import type { Logger } from 'pino';
import type * as grpc from '@grpc/grpc-js';
import { canonicalLease } from '../mvcc/record-codec.js';
import type { PeerCredentials } from '../transport/peer-credentials.js';
import { EtcdErrors } from '../util/etcd-errors.js';
import type { ApplyOutcome } from './apply.js';
import { LeaseIdGenerator } from './lease-id.js';
import {
  PeerLeaseClient,
  peerLeaseHandlers,
  peerLeaseServiceDefinition,
  type PeerRenewAnswer,
  type PeerTimeToLiveAnswer,
} from './lease-peer.js';
import { LEASE_REVOKE_RATE, Lessor } from './lessor.js';
import type { InternalRequest } from './request-codec.js';

/** How often the primary looks for expired leases (etcd's lessor runLoop: 500 ms). */
const EXPIRY_CHECK_MS = 500;
/** Revoke proposals in flight at once (etcd's maxPendingRevokes). */
const MAX_PENDING_REVOKES = 16;
/** Pause between attempts to reach a leader that can renew (etcd: 50 ms). */
const RETRY_MS = 50;

/** What the coordinator needs from the member (KetchServer); narrow so tests can fake it. */
export interface LeaseHost {
  readonly memberId: string;
  readonly clusterId: string;
  readonly log: Logger;
  isLeader(): boolean;
  /** The current leader's peer URLs; undefined while there is no leader (or it is this member). */
  leaderPeerUrls(): readonly string[] | undefined;
  /** How to dial those URLs (TLS for https://); default: no peer TLS. */
  readonly peerCredentials?: PeerCredentials;
  hasLeader(): boolean;
  propose(body: Omit<InternalRequest, 'id'>): Promise<ApplyOutcome>;
  /** Resolves once this member has applied all it knows to be committed (etcd's ApplyWait). */
  waitCommittedApplied(): Promise<void>;
  keysWithLease(id: string): Buffer[];
  requestTimeoutMs(): number;
  electionTimeoutMs(): number;
}

export interface TimeToLive {
  id: string;
  /** Remaining seconds, truncated; -1 when the lease does not exist (etcd's answer). */
  ttlSeconds: number;
  grantedTtlSeconds: number;
  keys: Buffer[];
}

/**
 * The server side of etcd 3.4's leases around the Lessor: grant and revoke go through the log;
 * expiry is decided by the primary (the leader) and proposed as revokes; keepalives and TTL reads
 * are answered by the primary, and a member that is not the leader forwards them to it over the
 * peer URLs (PeerLease), so clients may use any member, as with etcd.
 */
export class LeaseCoordinator {
  readonly lessor: Lessor;
  private readonly host: LeaseHost;
  private readonly ids: LeaseIdGenerator;
  private readonly peer: PeerLeaseClient;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Expired leases waiting for, or in, a revoke proposal. */
  private readonly revokeQueue: string[] = [];
  private readonly revoking = new Set<string>();
  private revokesInFlight = 0;

  constructor(host: LeaseHost, lessor: Lessor, nowMs: () => number = Date.now) {
    this.host = host;
    this.lessor = lessor;
    this.ids = new LeaseIdGenerator(host.memberId, nowMs());
    this.peer = new PeerLeaseClient(host.clusterId, host.peerCredentials);
  }

  /** The PeerLease service to serve on the peer URLs. */
  peerService(): { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation } {
    return {
      definition: peerLeaseServiceDefinition(),
      implementation: peerLeaseHandlers(this.host.clusterId, {
        renewLocal: (id) => this.renewLocal(id, Date.now() + this.host.requestTimeoutMs()),
        timeToLiveLocal: (id, keys) => this.timeToLiveLocal(id, keys, Date.now() + this.host.requestTimeoutMs()),
      }),
    };
  }

  start(): void {
    this.timer = setInterval(() => this.revokeExpired(), EXPIRY_CHECK_MS);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.lessor.demote();
    this.peer.close();
  }

  /** The leader applied the first entry of its term: it now keeps the lease clocks (etcd's Promote). */
  promote(): void {
    this.lessor.promote(this.host.electionTimeoutMs());
    this.host.log.info({ leases: this.lessor.size }, 'promoted to primary lessor; every lease restarts from its full TTL');
  }

  demote(): void {
    if (this.lessor.isPrimary) this.host.log.info('demoted from primary lessor');
    this.lessor.demote();
    // Expiry decided under the old term is not ours to act on any more; the next primary decides.
    for (const id of this.revokeQueue.splice(0)) this.revoking.delete(id);
  }

  // ---- Client requests.

  /** LeaseGrant: the ID is chosen here when the client leaves it 0, before proposing, so all members agree. */
  async grant(ttl: string, id: string): Promise<ApplyOutcome> {
    let leaseId = canonicalLease(id);
    if (leaseId === '0') leaseId = this.ids.next();
    return this.host.propose({ request: 'lease_grant', lease_grant: { TTL: ttl, ID: leaseId } });
  }

  revoke(id: string): Promise<ApplyOutcome> {
    return this.host.propose({ request: 'lease_revoke', lease_revoke: { ID: canonicalLease(id) } });
  }

  /** LeaseKeepAlive: the renewed TTL, or 0 when the lease does not exist (etcd answers, not fails). */
  async renew(id: string): Promise<number> {
    const deadline = Date.now() + this.host.requestTimeoutMs();
    for (;;) {
      this.checkRunning();
      let answer: PeerRenewAnswer | undefined;
      if (this.host.isLeader()) {
        answer = await this.renewLocal(id, deadline);
      } else {
        const urls = this.host.leaderPeerUrls();
        if (urls !== undefined) answer = await this.peer.renew(urls, id, this.attemptTimeoutMs(deadline)).catch(() => undefined);
      }
      if (answer?.kind === 'renewed') return answer.ttlSeconds;
      if (answer?.kind === 'not-found') return 0;
      await this.pause(deadline);
    }
  }

  /** LeaseTimeToLive from the primary; TTL -1 when the lease does not exist. */
  async timeToLive(id: string, keys: boolean): Promise<TimeToLive> {
    const deadline = Date.now() + this.host.requestTimeoutMs();
    const leaseId = canonicalLease(id);
    for (;;) {
      this.checkRunning();
      let answer: PeerTimeToLiveAnswer | undefined;
      if (this.host.isLeader()) {
        answer = await this.timeToLiveLocal(leaseId, keys, deadline);
      } else {
        const urls = this.host.leaderPeerUrls();
        if (urls !== undefined) answer = await this.peer.timeToLive(urls, leaseId, keys, this.attemptTimeoutMs(deadline)).catch(() => undefined);
      }
      if (answer?.kind === 'ok') return { id: leaseId, ttlSeconds: answer.ttlSeconds, grantedTtlSeconds: answer.grantedTtlSeconds, keys: answer.keys };
      if (answer?.kind === 'not-found') return { id: leaseId, ttlSeconds: -1, grantedTtlSeconds: 0, keys: [] };
      await this.pause(deadline);
    }
  }

  /** Whether this member knows a leader (keepalive streams that require one are cut without). */
  hasLeader(): boolean {
    return this.host.hasLeader();
  }

  electionTimeoutMs(): number {
    return this.host.electionTimeoutMs();
  }

  /** LeaseLeases: this member's table, not linearizable (as etcd). */
  list(): string[] {
    return this.lessor.ids();
  }

  // ---- The primary's side.

  /** Renews on this member if it is the primary; waits while an expired lease's revoke is under way. */
  async renewLocal(id: string, deadline: number): Promise<PeerRenewAnswer> {
    if (!this.host.isLeader()) return { kind: 'not-primary' };
    // A lease granted through another member must be applied here before we can say it is unknown.
    if (!(await this.appliedBy(deadline))) return { kind: 'not-primary' };
    const out = this.lessor.renew(id);
    if (out.kind !== 'expired') return out;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      out.settled,
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
      }),
    ]);
    clearTimeout(timer);
    return outcome === 'revoked' ? { kind: 'not-found' } : { kind: 'not-primary' };
  }

  async timeToLiveLocal(id: string, keys: boolean, deadline: number): Promise<PeerTimeToLiveAnswer> {
    if (!this.host.isLeader()) return { kind: 'not-primary' };
    if (!(await this.appliedBy(deadline))) return { kind: 'not-primary' };
    // Until the new leader's first entry applies, its clocks are not running yet.
    if (!this.lessor.isPrimary) return { kind: 'not-primary' };
    const view = this.lessor.lookup(id);
    if (view === undefined) return { kind: 'not-found' };
    return {
      kind: 'ok',
      ttlSeconds: Lessor.remainingSeconds(view),
      grantedTtlSeconds: view.ttlSeconds,
      keys: keys ? this.host.keysWithLease(view.id) : [],
    };
  }

  /** Every 500 ms on the primary: propose revokes for expired leases, at most half the rate per round. */
  private revokeExpired(): void {
    if (this.stopped || !this.lessor.isPrimary) return;
    for (const id of this.lessor.takeExpired(LEASE_REVOKE_RATE / 2)) {
      if (this.revoking.has(id)) continue;
      this.revoking.add(id);
      this.revokeQueue.push(id);
    }
    this.drainRevokes();
  }

  private drainRevokes(): void {
    while (!this.stopped && this.lessor.isPrimary && this.revokesInFlight < MAX_PENDING_REVOKES && this.revokeQueue.length > 0) {
      const id = this.revokeQueue.shift() as string;
      this.revokesInFlight++;
      this.host.propose({ request: 'lease_revoke', lease_revoke: { ID: id } }).then(
        () => this.host.log.info({ lease: id }, 'revoked expired lease'),
        (err: unknown) => {
          // Already revoked by a client, or leadership moved: the next primary retries.
          if (err !== EtcdErrors.leaseNotFound && !this.stopped) this.host.log.warn({ lease: id, err }, 'failed to revoke expired lease');
        },
      ).finally(() => {
        this.revokesInFlight--;
        this.revoking.delete(id);
        this.drainRevokes();
      });
    }
  }

  /** Waits (until the deadline) for this member to apply what it knows committed; false on timeout. */
  private async appliedBy(deadline: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      this.host.waitCommittedApplied().then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
      }),
    ]);
    clearTimeout(timer);
    return outcome;
  }

  private attemptTimeoutMs(deadline: number): number {
    return Math.max(1, Math.min(deadline - Date.now(), Math.max(1000, 2 * this.host.electionTimeoutMs())));
  }

  private checkRunning(): void {
    if (this.stopped) throw EtcdErrors.stopped;
  }

  private async pause(deadline: number): Promise<void> {
    if (Date.now() >= deadline) throw this.host.hasLeader() ? EtcdErrors.timeout : EtcdErrors.noLeader;
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}
