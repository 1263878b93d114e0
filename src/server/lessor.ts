import type { StorageOp } from '../mvcc/types.js';
import { canonicalLease, compareLease } from '../mvcc/record-codec.js';
import { EtcdErrors } from '../util/etcd-errors.js';

/** etcd's MaxLeaseTTL (lease/lessor.go): larger TTLs are refused with "too large lease TTL". */
export const MAX_LEASE_TTL_SECONDS = 9_000_000_000;
/** etcd's leaseRevokeRate: expired leases revoked per second at most (and the Promote pile-up bound). */
export const LEASE_REVOKE_RATE = 1000;
/** etcd's defaultExpiredleaseRetryInterval: an expired lease whose revoke did not land is offered again. */
export const EXPIRED_LEASE_RETRY_MS = 3000;
/** Seconds etcd reports for a lease without expiry: time.Duration(math.MaxInt64).Seconds(), truncated. */
const FOREVER_SECONDS = 9_223_372_036;

/** Lease records in the member's LevelDB: 'l/<decimal id>' → JSON {id, ttl}. */
const RECORD_PREFIX = 'l/';
export const LEASE_RECORD_PREFIX = Buffer.from('l');

/** What is replicated about a lease: its ID (canonical decimal int64) and granted TTL in seconds. */
export interface LeaseRecord {
  id: string;
  ttl: number;
}

export interface LessorOptions {
  /** Shorter TTLs are raised to this (etcd: 1.5 election timeouts, rounded up to seconds). */
  readonly minTtlSeconds: number;
  /** Monotonic milliseconds; injected so tests drive time. */
  readonly nowMs: () => number;
  readonly revokeRatePerSecond?: number;
  readonly expiredRetryMs?: number;
}

export type RenewOutcome =
  | { kind: 'renewed'; ttlSeconds: number }
  | { kind: 'not-found' }
  | { kind: 'not-primary' }
  /** Expired but not yet revoked: settles once it is revoked or this lessor is demoted (etcd waits). */
  | { kind: 'expired'; settled: Promise<'revoked' | 'demoted'> };

export interface LeaseView {
  id: string;
  ttlSeconds: number;
  /** Milliseconds until expiry; Infinity while this member is not the primary. */
  remainingMs: number;
}

interface Lease {
  readonly id: string;
  readonly ttlSeconds: number;
  /** When the primary lets the lease expire; Infinity on a non-primary (etcd's "forever"). */
  expiryMs: number;
  /** An expired lease handed out for revocation is not handed out again before this. */
  retryAtMs: number;
  /** Renewals of this lease waiting for its revocation (or the demotion that cancels it). */
  waiters: Array<(outcome: 'revoked' | 'demoted') => void>;
}

/**
 * etcd 3.4's lessor: the replicated lease table (grant and revoke are applied from the log on every
 * member, identically) plus the primary's in-memory expiry clock. Only the primary (the Raft leader,
 * once it has applied its first entry) tracks time: it renews, finds expired leases (which the
 * server revokes through the log) and answers remaining TTLs. Everyone else keeps every lease
 * "forever", so a follower never expires anything on its own. Remaining TTLs are not checkpointed
 * (etcd 3.4's default): a new primary starts every lease over from its full TTL plus an extension.
 *
 * Pure: no timers or I/O. Grant and revoke return the storage ops that persist them.
 */
export class Lessor {
  /**
   * Since start, for etcd's etcd_debugging_lease_granted/revoked/renewed_total and
   * etcd_debugging_server_lease_expired_total: grants and revokes as applied (every member),
   * renewals and expired leases handed out for revocation on the primary.
   */
  readonly counts = { granted: 0, revoked: 0, renewed: 0, expired: 0 };
  private readonly leases = new Map<string, Lease>();
  private primary = false;
  private readonly minTtlSeconds: number;
  private readonly nowMs: () => number;
  private readonly revokeRate: number;
  private readonly retryMs: number;

  constructor(opts: LessorOptions) {
    if (!Number.isSafeInteger(opts.minTtlSeconds) || opts.minTtlSeconds < 1) {
      throw new RangeError(`minTtlSeconds must be a positive integer, got ${opts.minTtlSeconds}`);
    }
    this.minTtlSeconds = opts.minTtlSeconds;
    this.nowMs = opts.nowMs;
    this.revokeRate = opts.revokeRatePerSecond ?? LEASE_REVOKE_RATE;
    this.retryMs = opts.expiredRetryMs ?? EXPIRED_LEASE_RETRY_MS;
  }

  /** etcd's minimum TTL: (3 * electionTicks / 2) heartbeats (integer ticks), in whole seconds rounded up. */
  static minTtlSeconds(heartbeatIntervalMs: number, electionTimeoutMs: number): number {
    const electionTicks = Math.floor(electionTimeoutMs / heartbeatIntervalMs);
    const ms = Math.floor((3 * electionTicks) / 2) * heartbeatIntervalMs;
    return Math.max(1, Math.ceil(ms / 1000));
  }

  get isPrimary(): boolean {
    return this.primary;
  }

  get size(): number {
    return this.leases.size;
  }

  /** Whether a lease exists (MvccStore's leaseExists). */
  readonly exists = (id: string): boolean => this.leases.has(canonicalLease(id));

  // ---- Replicated: applied from the log on every member.

  /**
   * etcd's Lessor.Grant: ID 0 is "lease not found", a TTL above MaxLeaseTTL "too large lease TTL",
   * an existing ID "lease already exists"; a TTL under the minimum is raised to it.
   */
  grant(rawId: string, rawTtl: string | number): { lease: LeaseRecord; ops: StorageOp[] } {
    const id = canonicalLease(rawId);
    if (id === '0') throw EtcdErrors.leaseNotFound;
    const requested = BigInt(rawTtl);
    if (requested > BigInt(MAX_LEASE_TTL_SECONDS)) throw EtcdErrors.leaseTTLTooLarge;
    if (this.leases.has(id)) throw EtcdErrors.leaseExist;
    const ttlSeconds = requested < BigInt(this.minTtlSeconds) ? this.minTtlSeconds : Number(requested);
    const lease: Lease = { id, ttlSeconds, expiryMs: Infinity, retryAtMs: 0, waiters: [] };
    if (this.primary) this.refresh(lease, 0);
    this.leases.set(id, lease);
    this.counts.granted++;
    const record = { id, ttl: ttlSeconds };
    return { lease: record, ops: [putOp(record)] };
  }

  /** Forgets a lease (its keys are the MVCC store's to delete, in the same apply). */
  revoke(rawId: string): StorageOp[] {
    const id = canonicalLease(rawId);
    const lease = this.leases.get(id);
    if (lease === undefined) throw EtcdErrors.leaseNotFound;
    this.leases.delete(id);
    this.counts.revoked++;
    for (const w of lease.waiters.splice(0)) w('revoked');
    return [{ type: 'del', key: recordKey(id) }];
  }

  // ---- Primary only: the in-memory clock.

  /**
   * Becomes the primary: every lease gets its full TTL plus `extendMs` from now (etcd's Promote), so
   * no lease expires merely because leadership moved. With many leases, ones that would expire in
   * the same second are spread out so revocations stay under 3/4 of the revoke rate.
   */
  promote(extendMs: number): void {
    this.primary = true;
    for (const lease of this.leases.values()) this.refresh(lease, extendMs);
    if (this.leases.size < this.revokeRate) return;

    const now = this.nowMs();
    const sorted = this.byExpiry();
    const remaining = (l: Lease): number => l.expiryMs - now;
    let baseWindow = remaining(sorted[0] as Lease);
    let nextWindow = baseWindow + 1000;
    let expires = 0;
    const targetPerSecond = Math.floor((3 * this.revokeRate) / 4);
    for (const lease of sorted) {
      const left = remaining(lease);
      if (left > nextWindow) {
        baseWindow = left;
        nextWindow = baseWindow + 1000;
        expires = 1;
        continue;
      }
      expires++;
      if (expires <= targetPerSecond) continue;
      // Leases already n seconds past the window's base need n seconds less of a delay.
      const delayMs = Math.trunc(1000 * (expires / targetPerSecond) - (left - baseWindow));
      nextWindow = baseWindow + delayMs;
      this.refresh(lease, delayMs + extendMs);
    }
  }

  /** Stops being the primary: every lease lasts forever here again; waiting renewals give up. */
  demote(): void {
    this.primary = false;
    for (const lease of this.leases.values()) {
      lease.expiryMs = Infinity;
      lease.retryAtMs = 0;
      for (const w of lease.waiters.splice(0)) w('demoted');
    }
  }

  /** etcd's Renew: the lease starts over from its full TTL. Only the primary renews. */
  renew(rawId: string): RenewOutcome {
    if (!this.primary) return { kind: 'not-primary' };
    const lease = this.leases.get(canonicalLease(rawId));
    if (lease === undefined) return { kind: 'not-found' };
    if (lease.expiryMs - this.nowMs() <= 0) {
      // Its revocation may be on its way through the log; answer once it lands (etcd's revokec).
      return { kind: 'expired', settled: new Promise((resolve) => lease.waiters.push(resolve)) };
    }
    this.refresh(lease, 0);
    this.counts.renewed++;
    return { kind: 'renewed', ttlSeconds: lease.ttlSeconds };
  }

  /**
   * Expired leases to revoke now, earliest first, at most `limit`; each is not offered again for
   * the retry interval, in case its revoke proposal is lost. Nothing on a non-primary.
   */
  takeExpired(limit: number): string[] {
    if (!this.primary || limit <= 0) return [];
    const now = this.nowMs();
    const due: Lease[] = [];
    for (const lease of this.leases.values()) {
      if (lease.expiryMs <= now && lease.retryAtMs <= now) due.push(lease);
    }
    due.sort((a, b) => a.expiryMs - b.expiryMs || compareLease(a.id, b.id));
    const taken = due.slice(0, limit);
    for (const lease of taken) {
      // A retry of a lease already handed out is not a new expiry.
      if (lease.retryAtMs === 0) this.counts.expired++;
      lease.retryAtMs = now + this.retryMs;
    }
    return taken.map((l) => l.id);
  }

  lookup(rawId: string): LeaseView | undefined {
    const lease = this.leases.get(canonicalLease(rawId));
    if (lease === undefined) return undefined;
    return { id: lease.id, ttlSeconds: lease.ttlSeconds, remainingMs: lease.expiryMs - this.nowMs() };
  }

  /** etcd's TimeToLive TTL: remaining seconds, truncated (negative once overdue). */
  static remainingSeconds(view: LeaseView): number {
    return view.remainingMs === Infinity ? FOREVER_SECONDS : Math.trunc(view.remainingMs / 1000);
  }

  /** All lease IDs, soonest expiry first (etcd's Leases), ties by ID. */
  ids(): string[] {
    return this.byExpiry().map((l) => l.id);
  }

  // ---- Persistence and snapshots.

  /** The replicated part of every lease, by ID. */
  records(): LeaseRecord[] {
    return [...this.leases.values()]
      .map((l) => ({ id: l.id, ttl: l.ttlSeconds }))
      .sort((a, b) => compareLease(a.id, b.id));
  }

  /** Every record as storage ops, to persist a copy from empty (snapshot install). */
  allOps(): StorageOp[] {
    return Lessor.opsFor(this.records());
  }

  /** Storage ops that persist `records` into an empty 'l' keyspace. */
  static opsFor(records: readonly LeaseRecord[]): StorageOp[] {
    return records.map((r) => putOp({ id: canonicalLease(r.id), ttl: r.ttl }));
  }

  /**
   * Replaces the table with `records` (recovery or a snapshot from the leader). As etcd's
   * initAndRecover, TTLs under the minimum are raised; a primary starts the new leases from now.
   */
  restore(records: readonly LeaseRecord[]): void {
    for (const old of this.leases.values()) {
      for (const w of old.waiters.splice(0)) w('revoked');
    }
    this.leases.clear();
    for (const r of records) {
      const id = canonicalLease(r.id);
      const lease: Lease = { id, ttlSeconds: Math.max(r.ttl, this.minTtlSeconds), expiryMs: Infinity, retryAtMs: 0, waiters: [] };
      if (this.primary) this.refresh(lease, 0);
      this.leases.set(id, lease);
    }
  }

  /** Records as stored under 'l' (from MemberStore.appRecords). */
  static decodeRecords(records: Iterable<[Buffer, Buffer]>): LeaseRecord[] {
    const out: LeaseRecord[] = [];
    for (const [key, value] of records) {
      if (!key.toString('latin1').startsWith(RECORD_PREFIX)) continue;
      const r = JSON.parse(value.toString()) as LeaseRecord;
      if (typeof r.id !== 'string' || !Number.isSafeInteger(r.ttl)) {
        throw new Error(`corrupt lease record ${JSON.stringify(key.toString('latin1'))}`);
      }
      out.push({ id: r.id, ttl: r.ttl });
    }
    return out;
  }

  private refresh(lease: Lease, extendMs: number): void {
    lease.expiryMs = this.nowMs() + extendMs + lease.ttlSeconds * 1000;
    lease.retryAtMs = 0;
  }

  private byExpiry(): Lease[] {
    return [...this.leases.values()].sort((a, b) => {
      if (a.expiryMs !== b.expiryMs) return a.expiryMs < b.expiryMs ? -1 : 1;
      return compareLease(a.id, b.id);
    });
  }
}

function recordKey(id: string): Buffer {
  return Buffer.from(RECORD_PREFIX + id, 'latin1');
}

function putOp(r: LeaseRecord): StorageOp {
  return { type: 'put', key: recordKey(r.id), value: Buffer.from(JSON.stringify({ id: r.id, ttl: r.ttl })) };
}
