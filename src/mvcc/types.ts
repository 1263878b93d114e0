// The MVCC store's request, response and persistence shapes. They mirror etcd 3.4's
// etcdserverpb/mvccpb messages with camelCase names; revisions and versions are safe integers,
// lease IDs stay decimal int64 strings ('0' = no lease) so they are never rounded.

import type { KeyRevision } from './key-index.js';

export interface KeyValue {
  key: Buffer;
  /** Revision of the put that created the key's current generation; 0 in a DELETE event. */
  createRevision: number;
  modRevision: number;
  /** Puts since the generation was created (1 on create); 0 in a DELETE event. */
  version: number;
  value: Buffer;
  /** int64 in decimal; '0' = none. */
  lease: string;
}

export type SortOrder = 'NONE' | 'ASCEND' | 'DESCEND';
export type SortTarget = 'KEY' | 'VERSION' | 'CREATE' | 'MOD' | 'VALUE';

export interface RangeRequest {
  key: Buffer;
  /** Empty: the single key. One zero byte: every key >= key. Otherwise [key, rangeEnd). */
  rangeEnd: Buffer;
  /** <= 0: no limit. */
  limit: number;
  /** <= 0: the current revision. */
  revision: number;
  sortOrder: SortOrder;
  sortTarget: SortTarget;
  keysOnly: boolean;
  countOnly: boolean;
  /** 0: no filter. Filters apply after the fetch and never change `count` (as etcd does). */
  minModRevision: number;
  maxModRevision: number;
  minCreateRevision: number;
  maxCreateRevision: number;
}

export interface PutRequest {
  key: Buffer;
  value: Buffer;
  lease: string;
  prevKv: boolean;
  ignoreValue: boolean;
  ignoreLease: boolean;
}

export interface DeleteRangeRequest {
  key: Buffer;
  rangeEnd: Buffer;
  prevKv: boolean;
}

export type CompareTarget = 'VERSION' | 'CREATE' | 'MOD' | 'VALUE' | 'LEASE';
export type CompareResult = 'EQUAL' | 'GREATER' | 'LESS' | 'NOT_EQUAL';

export interface Compare {
  key: Buffer;
  /** As RangeRequest.rangeEnd: with a range, every key in it must satisfy the compare. */
  rangeEnd: Buffer;
  target: CompareTarget;
  result: CompareResult;
  version: number;
  createRevision: number;
  modRevision: number;
  value: Buffer;
  lease: string;
}

export type RequestOp =
  | { range: RangeRequest }
  | { put: PutRequest }
  | { deleteRange: DeleteRangeRequest }
  | { txn: TxnRequest };

export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

// Each response carries `revision`: what etcd puts in that response's header. Inside a txn these
// differ (a range sees the txn's own writes, a nested txn's header stays 0), so the API layer can
// reproduce etcd's nested headers exactly.

export interface RangeResponse {
  kvs: KeyValue[];
  more: boolean;
  /** Keys in the range at the revision, before limit and filters. */
  count: number;
  revision: number;
}

/** A RangeResponse whose kvs are the store's kept revisions themselves (see MvccStore.rangeRevisions). */
export interface RangeRevisions {
  /** Immutable: a later write or compaction never changes these objects. */
  revs: readonly KeyRevision[];
  /** The kvs are sent without their values. */
  keysOnly: boolean;
  more: boolean;
  count: number;
  revision: number;
}

export interface PutResponse {
  prevKv?: KeyValue;
  revision: number;
}

export interface DeleteRangeResponse {
  deleted: number;
  prevKvs: KeyValue[];
  revision: number;
}

export type ResponseOp =
  | { range: RangeResponse }
  | { put: PutResponse }
  | { deleteRange: DeleteRangeResponse }
  | { txn: TxnResponse };

export interface TxnResponse {
  succeeded: boolean;
  responses: ResponseOp[];
  /** The store revision after the txn at top level; 0 for a nested txn (etcd leaves its header empty). */
  revision: number;
}

export interface Event {
  type: 'PUT' | 'DELETE';
  /** PUT: the new kv. DELETE: { key, modRevision = the delete's revision }, everything else zero. */
  kv: KeyValue;
  /** The kv the op replaced or deleted, if the key existed just before it. */
  prevKv?: KeyValue;
}

/** A LevelDB write, keys already namespaced: every MVCC key starts with the byte 'm' (0x6d). */
export type StorageOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

export interface WriteResult<R> {
  response: R;
  /** The store revision after the write (unchanged when nothing was written). */
  revision: number;
  /** One per changed key, in revision order, for watchers. */
  events: Event[];
  /** What must be written, as one batch, to make the change durable. Empty when nothing changed. */
  ops: StorageOp[];
}

export interface HashKVResult {
  /** CRC-32C over the kept revisions <= hashRevision, computed as etcd 3.4's HashByRev does. */
  hash: number;
  /** As etcd's HashKV reports it: -1 before the first compaction. */
  compactRevision: number;
  /** The revision the hash covers (the current one when 0 was asked for). */
  hashRevision: number;
}

export interface MvccStats {
  /** Keys that exist at the current revision. */
  keys: number;
  /** Revisions kept in memory (every put and tombstone not yet compacted away). */
  revisions: number;
  /** Rough in-memory footprint of the kept keys and values, with a fixed per-revision overhead. */
  approximateBytes: number;
}

export interface MvccStoreOptions {
  /** Whether a lease exists; a put with a non-zero lease fails with LeaseNotFound otherwise. */
  leaseExists?: (id: string) => boolean;
  /**
   * Where values go off the heap (src/mvcc/cold-values.ts): `dir` is a folder of this store's
   * own, emptied first and deleted by close(). A value goes when a write supersedes it if at least
   * `minBytes` long (48 by default), or when written if at least `currentMinBytes` long (1,024 by
   * default). Without it every value stays on the heap.
   */
  coldValues?: { dir: string; minBytes?: number; currentMinBytes?: number; segmentBytes?: number };
}

export type MvccErrorCode =
  | 'Compacted'
  | 'FutureRevision'
  | 'LeaseNotFound'
  | 'KeyNotProvided'
  | 'KeyNotFound'
  | 'InvalidLease'
  | 'Corrupt';

const defaultMessages: Record<MvccErrorCode, string> = {
  Compacted: 'mvcc: required revision has been compacted',
  FutureRevision: 'mvcc: required revision is a future revision',
  LeaseNotFound: 'lease not found',
  KeyNotProvided: 'key is not provided',
  KeyNotFound: 'key not found',
  InvalidLease: 'lease ID is not a decimal int64',
  Corrupt: 'mvcc: corrupt data',
};

/** A store error with a stable code; the API edge maps codes to etcd's gRPC errors. */
export class MvccError extends Error {
  constructor(
    readonly code: MvccErrorCode,
    message: string = defaultMessages[code],
  ) {
    super(message);
    this.name = 'MvccError';
  }
}
