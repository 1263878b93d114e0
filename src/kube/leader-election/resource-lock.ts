// The lock a leader elector competes for, as client-go's resourcelock.Interface: read the current
// election record, create it, or replace it with optimistic concurrency on the version last read.

export interface LeaderElectionRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  /** MicroTime strings (RFC3339 with microseconds), as the Lease object carries them. */
  acquireTime: string;
  renewTime: string;
  leaderTransitions: number;
}

export interface ObservedLock {
  record: LeaderElectionRecord;
  /** The record's canonical serialisation: a change of these bytes is what restarts the expiry clock. */
  raw: string;
}

export interface ResourceLock {
  readonly identity: string;
  /** The current record, or null when the lock object does not exist. Throws on other failures. */
  get(signal?: AbortSignal): Promise<ObservedLock | null>;
  /** Creates the lock object; fails if it already exists. */
  create(record: LeaderElectionRecord, signal?: AbortSignal): Promise<void>;
  /** Replaces the record, conditional on the version read by the last get/create/update. */
  update(record: LeaderElectionRecord, signal?: AbortSignal): Promise<void>;
  /** "kube-system/kube-scheduler", for logs and events. */
  describe(): string;
}

/** Field order as client-go's LeaderElectionRecord marshals, so equal records give equal bytes. */
export function rawRecord(r: LeaderElectionRecord): string {
  return JSON.stringify({
    holderIdentity: r.holderIdentity,
    leaseDurationSeconds: r.leaseDurationSeconds,
    acquireTime: r.acquireTime,
    renewTime: r.renewTime,
    leaderTransitions: r.leaderTransitions,
  });
}
