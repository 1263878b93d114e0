// The Lease lock (client-go resourcelock/leaselock.go): the election record lives in a
// coordination.k8s.io/v1 Lease's spec; updates are PUTs carrying the resourceVersion of the
// Lease last read, so two candidates can never both win the same round.

import { isNotFound } from '../client/api-error.js';
import type { Lease, LeaseSpec } from '../client/coordination-types.js';
import type { KubeClient } from '../client/kube-client.js';
import { LEASES } from '../client/resource-ref.js';
import { rawRecord, type LeaderElectionRecord, type ObservedLock, type ResourceLock } from './resource-lock.js';

export function leaseSpecToRecord(spec: LeaseSpec | undefined): LeaderElectionRecord {
  return {
    holderIdentity: spec?.holderIdentity ?? '',
    leaseDurationSeconds: spec?.leaseDurationSeconds ?? 0,
    acquireTime: spec?.acquireTime ?? '',
    renewTime: spec?.renewTime ?? '',
    leaderTransitions: spec?.leaseTransitions ?? 0,
  };
}

export function recordToLeaseSpec(r: LeaderElectionRecord): LeaseSpec {
  const spec: LeaseSpec = {
    holderIdentity: r.holderIdentity,
    leaseDurationSeconds: r.leaseDurationSeconds,
    leaseTransitions: r.leaderTransitions,
  };
  if (r.acquireTime !== '') spec.acquireTime = r.acquireTime;
  if (r.renewTime !== '') spec.renewTime = r.renewTime;
  return spec;
}

export class LeaseLock implements ResourceLock {
  /** The Lease as last read or written; its resourceVersion conditions the next update. */
  private lease: Lease | undefined;

  constructor(
    private readonly client: KubeClient,
    readonly namespace: string,
    readonly name: string,
    readonly identity: string,
  ) {}

  /** The Lease as last read or written (the object LeaderElection events are about). */
  get current(): Lease | undefined {
    return this.lease;
  }

  describe(): string {
    return `${this.namespace}/${this.name}`;
  }

  async get(signal?: AbortSignal): Promise<ObservedLock | null> {
    try {
      this.lease = await this.client.get<Lease>(LEASES, this.namespace, this.name, { signal });
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    const record = leaseSpecToRecord(this.lease.spec);
    return { record, raw: rawRecord(record) };
  }

  async create(record: LeaderElectionRecord, signal?: AbortSignal): Promise<void> {
    const lease: Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.name, namespace: this.namespace },
      spec: recordToLeaseSpec(record),
    };
    this.lease = await this.client.create<Lease>(LEASES, this.namespace, lease, { signal });
  }

  async update(record: LeaderElectionRecord, signal?: AbortSignal): Promise<void> {
    if (this.lease === undefined) throw new Error(`lease ${this.describe()} not initialized, call get or create first`);
    const next: Lease = { ...this.lease, spec: recordToLeaseSpec(record) };
    this.lease = await this.client.update<Lease>(LEASES, next, { signal });
  }
}
