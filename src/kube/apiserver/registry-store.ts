// The narrow store interface the apiserver is built on, in the style of kine's Backend: exactly
// the etcd v3 calls kube-apiserver makes (REFERENCE.md A6). Keys are strings, values raw bytes;
// revisions are plain numbers (asserted safe integers where they enter). Everything above this
// file speaks objects; everything below speaks etcd (see etcd-registry-store.ts).

/** One key as the store returned it. */
export interface StoredKv {
  readonly key: string;
  readonly value: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
}

export interface StoreListOptions {
  /** First key to return (inclusive); defaults to the prefix itself. Used by continue tokens. */
  readonly startKey?: string;
  /** At most this many keys; 0 or absent means all. */
  readonly limit?: number;
  /** Read at this revision; 0 or absent means the current one (a linearizable read). */
  readonly revision?: number;
}

export interface StoreListResult {
  readonly kvs: readonly StoredKv[];
  /** True when keys past the last one returned exist under the prefix. */
  readonly more: boolean;
  /** The revision the list was read at (the response header revision). */
  readonly revision: number;
}

/** The outcome of a conditional write: done at `revision`, or refused with the key's current state. */
export type WriteOutcome =
  | { readonly ok: true; readonly revision: number }
  | { readonly ok: false; readonly current: StoredKv | undefined; readonly revision: number };

export type DeleteOutcome =
  | { readonly ok: true; readonly revision: number; readonly deleted: StoredKv }
  | { readonly ok: false; readonly current: StoredKv | undefined; readonly revision: number };

export interface StoreWatchEvent {
  readonly type: 'put' | 'delete';
  /** For a delete, value is empty and modRevision is the delete's revision. */
  readonly kv: StoredKv;
  /** The value before this event (watches are opened with prevKV). */
  readonly prevKv: StoredKv | undefined;
}

export interface StoreWatchHandler {
  /** Events of one revision batch, in revision order. */
  onEvents(events: readonly StoreWatchEvent[]): void;
  /** The store has sent every event up to this revision (progress notifications). */
  onProgress(revision: number): void;
  /** The watch ended: compacted (StoreCompactedError) or the store went away. No more calls follow. */
  onError(error: Error): void;
}

export interface StoreWatch {
  cancel(): void;
}

export interface CompactRevKeyOutcome {
  /** True when this caller won the round (its Put went through). */
  readonly succeeded: boolean;
  /** The version of compact_rev_key after the call. */
  readonly version: number;
  /** The store's revision at the call (header revision). */
  readonly revision: number;
}

export interface RegistryStore {
  /** Range of one key. */
  get(key: string): Promise<{ kv: StoredKv | undefined; revision: number }>;
  /** Range over a prefix, optionally paged and at an older revision (StoreCompactedError if compacted). */
  list(prefix: string, opts?: StoreListOptions): Promise<StoreListResult>;
  /** Txn(MOD(key) == 0, [Put]); a lease ID of 0 means no lease. */
  create(key: string, value: Uint8Array, leaseId?: string): Promise<WriteOutcome>;
  /** Txn(MOD(key) == expectedModRevision, [Put], [Range key]). */
  update(key: string, value: Uint8Array, expectedModRevision: number, leaseId?: string): Promise<WriteOutcome>;
  /** Txn(MOD(key) == expectedModRevision, [DeleteRange prevKV], [Range key]). */
  delete(key: string, expectedModRevision: number): Promise<DeleteOutcome>;
  /** Watch the prefix from `fromRevision` (inclusive) with prevKV and progress notifications. */
  watch(prefix: string, fromRevision: number, handler: StoreWatchHandler): StoreWatch;
  /** Ask every open watch for a progress notification (etcd's WatchProgressRequest). */
  requestProgress(): void;
  /** A lease of `ttlSeconds` for objects that expire on their own (events); returns its ID. */
  grantLease(ttlSeconds: number): Promise<string>;
  /** kube-apiserver's compaction round: Txn(VERSION(compact_rev_key) == v, [Put rev], [Range]). */
  casCompactRevKey(key: string, expectedVersion: number, value: string): Promise<CompactRevKeyOutcome>;
  compact(revision: number): Promise<void>;
  /** Store watches open right now (the watch cache's one, plus fallbacks for old revisions). */
  openWatches(): number;
  close(): Promise<void>;
}

/** The requested revision is older than the store's compaction point. */
export class StoreCompactedError extends Error {
  constructor(readonly compactRevision: number, message = 'etcdserver: mvcc: required revision has been compacted') {
    super(message);
    this.name = 'StoreCompactedError';
  }
}

/** The store did not answer in time or no endpoint is reachable. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}
