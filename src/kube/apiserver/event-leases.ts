// Events expire: kube-apiserver stores them with a lease of --event-ttl (1 h) and shares one lease
// among all events written within a minute, so a burst of events costs one LeaseGrant.

import type { RegistryStore } from './registry-store.js';

const reuseWindowMs = 60_000;

export class EventLeases {
  private current: { id: string; grantedAtMs: number } | undefined;
  private pending: Promise<string> | undefined;

  constructor(
    private readonly store: RegistryStore,
    private readonly ttlSeconds: number,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** A lease that outlives its newest event by at least ttlSeconds. */
  async lease(): Promise<string> {
    const now = this.nowMs();
    if (this.current !== undefined && now - this.current.grantedAtMs < reuseWindowMs) return this.current.id;
    this.pending ??= this.store
      .grantLease(this.ttlSeconds + reuseWindowMs / 1000)
      .then((id) => {
        this.current = { id, grantedAtMs: now };
        return id;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }
}
