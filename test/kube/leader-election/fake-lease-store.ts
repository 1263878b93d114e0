// An in-memory stand-in for ONE Lease object, used only by the unit tests of the election state
// machine (the integration tests run the same elector against the real apiserver). It keeps a
// resourceVersion and rejects stale updates with 409 exactly as the apiserver does, and can cut a
// candidate off (its requests fail) or hold a candidate's requests (they never answer).

import { KubeApiError } from '../../../src/kube/client/api-error.js';
import { rawRecord, type LeaderElectionRecord, type ObservedLock, type ResourceLock } from '../../../src/kube/leader-election/resource-lock.js';

export class FakeLeaseStore {
  record: LeaderElectionRecord | undefined;
  rv = 0;
  /** Every successful write, in order: [rv, record]. */
  readonly writes: { rv: number; record: LeaderElectionRecord }[] = [];
  readonly unreachable = new Set<string>();
  /** Candidates whose requests get no answer until unhung (then they fail, as after a timeout). */
  readonly hanging = new Set<string>();
  private readonly hangWaiters = new Map<string, (() => void)[]>();

  hang(identity: string): void {
    this.hanging.add(identity);
  }

  unhang(identity: string): void {
    this.hanging.delete(identity);
    for (const wake of this.hangWaiters.get(identity) ?? []) wake();
    this.hangWaiters.delete(identity);
  }

  waitHung(identity: string, signal?: AbortSignal): Promise<never> {
    return new Promise<never>((_, reject) => {
      const fail = (): void => reject(new Error('request timed out'));
      signal?.addEventListener('abort', fail, { once: true });
      const list = this.hangWaiters.get(identity) ?? [];
      list.push(fail);
      this.hangWaiters.set(identity, list);
    });
  }
  /** Candidates whose process is "stopped": their requests get no answer until resumed. */
  private readonly gates = new Map<string, { promise: Promise<void>; open: () => void }>();

  pause(identity: string): void {
    let open = (): void => undefined;
    const promise = new Promise<void>((resolve) => (open = resolve));
    this.gates.set(identity, { promise, open });
  }

  resume(identity: string): void {
    this.gates.get(identity)?.open();
    this.gates.delete(identity);
  }

  async gate(identity: string): Promise<void> {
    for (let g = this.gates.get(identity); g !== undefined; g = this.gates.get(identity)) await g.promise;
  }

  lock(identity: string): FakeLock {
    return new FakeLock(this, identity);
  }

  write(record: LeaderElectionRecord): void {
    this.rv++;
    this.record = { ...record };
    this.writes.push({ rv: this.rv, record: { ...record } });
  }
}

function conflict(): KubeApiError {
  return new KubeApiError({ kind: 'Status', code: 409, reason: 'Conflict', message: 'Operation cannot be fulfilled on leases.coordination.k8s.io "lock": the object has been modified; please apply your changes to the latest version and try again' }, 409);
}

export class FakeLock implements ResourceLock {
  private readRv = 0;

  constructor(
    private readonly store: FakeLeaseStore,
    readonly identity: string,
  ) {}

  describe(): string {
    return 'kube-system/lock';
  }

  private async reach(signal?: AbortSignal): Promise<void> {
    await this.store.gate(this.identity);
    if (this.store.hanging.has(this.identity)) await this.store.waitHung(this.identity, signal);
    if (this.store.unreachable.has(this.identity)) throw new Error('connect ECONNREFUSED');
  }

  async get(signal?: AbortSignal): Promise<ObservedLock | null> {
    await this.reach(signal);
    if (this.store.record === undefined) return null;
    this.readRv = this.store.rv;
    const answer = { record: { ...this.store.record }, raw: rawRecord(this.store.record) };
    await this.store.gate(this.identity);
    return answer;
  }

  async create(record: LeaderElectionRecord, signal?: AbortSignal): Promise<void> {
    await this.reach(signal);
    if (this.store.record !== undefined) throw new KubeApiError({ kind: 'Status', code: 409, reason: 'AlreadyExists', message: 'leases.coordination.k8s.io "lock" already exists' }, 409);
    this.store.write(record);
    this.readRv = this.store.rv;
  }

  async update(record: LeaderElectionRecord, signal?: AbortSignal): Promise<void> {
    await this.reach(signal);
    if (this.store.record === undefined || this.readRv !== this.store.rv) throw conflict();
    this.store.write(record);
    this.readRv = this.store.rv;
  }
}
