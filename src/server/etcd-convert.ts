import type {
  Compare,
  CompareResult,
  CompareTarget,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  SortOrder,
  SortTarget,
  TxnRequest,
  TxnResponse,
} from '../mvcc/types.js';
import type { ProtoObject } from './request-codec.js';

/**
 * Between etcd's wire shapes (as grpc-js and our request codec decode them: snake_case, int64 as
 * decimal strings, bytes as Buffer) and the MVCC store's own types (numbers for revisions).
 */

const EMPTY = Buffer.alloc(0);

function buf(v: unknown): Buffer {
  return Buffer.isBuffer(v) ? v : v instanceof Uint8Array ? Buffer.from(v) : EMPTY;
}

/** An int64 wire value as a safe JS number (revisions, versions, limits). */
export function num(v: unknown): number {
  if (v === undefined || v === null || v === '') return 0;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isSafeInteger(n)) throw new RangeError(`integer ${String(v)} is out of range`);
  return n;
}

function str(v: unknown): string {
  return v === undefined || v === null ? '0' : String(v);
}

export function toRangeRequest(p: ProtoObject): RangeRequest {
  return {
    key: buf(p.key),
    rangeEnd: buf(p.range_end),
    limit: num(p.limit),
    revision: num(p.revision),
    sortOrder: (p.sort_order as SortOrder | undefined) ?? 'NONE',
    sortTarget: (p.sort_target as SortTarget | undefined) ?? 'KEY',
    keysOnly: p.keys_only === true,
    countOnly: p.count_only === true,
    minModRevision: num(p.min_mod_revision),
    maxModRevision: num(p.max_mod_revision),
    minCreateRevision: num(p.min_create_revision),
    maxCreateRevision: num(p.max_create_revision),
  };
}

export function toPutRequest(p: ProtoObject): PutRequest {
  return {
    key: buf(p.key),
    value: buf(p.value),
    lease: str(p.lease),
    prevKv: p.prev_kv === true,
    ignoreValue: p.ignore_value === true,
    ignoreLease: p.ignore_lease === true,
  };
}

export function toDeleteRangeRequest(p: ProtoObject): DeleteRangeRequest {
  return { key: buf(p.key), rangeEnd: buf(p.range_end), prevKv: p.prev_kv === true };
}

function toCompare(p: ProtoObject): Compare {
  return {
    key: buf(p.key),
    rangeEnd: buf(p.range_end),
    target: (p.target as CompareTarget | undefined) ?? 'VERSION',
    result: (p.result as CompareResult | undefined) ?? 'EQUAL',
    version: num(p.version),
    createRevision: num(p.create_revision),
    modRevision: num(p.mod_revision),
    value: buf(p.value),
    lease: str(p.lease),
  };
}

export function toRequestOp(p: ProtoObject): RequestOp {
  if (p.request_range) return { range: toRangeRequest(p.request_range as ProtoObject) };
  if (p.request_put) return { put: toPutRequest(p.request_put as ProtoObject) };
  if (p.request_delete_range) return { deleteRange: toDeleteRangeRequest(p.request_delete_range as ProtoObject) };
  if (p.request_txn) return { txn: toTxnRequest(p.request_txn as ProtoObject) };
  throw new TypeError('empty request op in txn');
}

export function toTxnRequest(p: ProtoObject): TxnRequest {
  const list = (v: unknown): ProtoObject[] => (Array.isArray(v) ? (v as ProtoObject[]) : []);
  return {
    compare: list(p.compare).map(toCompare),
    success: list(p.success).map(toRequestOp),
    failure: list(p.failure).map(toRequestOp),
  };
}

export function fromKeyValue(kv: KeyValue): ProtoObject {
  return {
    key: kv.key,
    create_revision: String(kv.createRevision),
    mod_revision: String(kv.modRevision),
    version: String(kv.version),
    value: kv.value,
    lease: kv.lease,
  };
}

/** Responses nested in a txn carry a header with only the revision, as etcd fills them. */
function nestedHeader(revision: number): ProtoObject {
  return { revision: String(revision) };
}

export function fromRangeResponse(r: RangeResponse): ProtoObject {
  return { kvs: r.kvs.map(fromKeyValue), more: r.more, count: String(r.count) };
}

export function fromPutResponse(r: PutResponse): ProtoObject {
  return r.prevKv === undefined ? {} : { prev_kv: fromKeyValue(r.prevKv) };
}

export function fromDeleteRangeResponse(r: DeleteRangeResponse): ProtoObject {
  return { deleted: String(r.deleted), prev_kvs: r.prevKvs.map(fromKeyValue) };
}

function fromResponseOp(r: ResponseOp): ProtoObject {
  if ('range' in r) return { response_range: { header: nestedHeader(r.range.revision), ...fromRangeResponse(r.range) } };
  if ('put' in r) return { response_put: { header: nestedHeader(r.put.revision), ...fromPutResponse(r.put) } };
  if ('deleteRange' in r) {
    return { response_delete_range: { header: nestedHeader(r.deleteRange.revision), ...fromDeleteRangeResponse(r.deleteRange) } };
  }
  return { response_txn: { header: nestedHeader(r.txn.revision), ...fromTxnResponse(r.txn) } };
}

export function fromTxnResponse(r: TxnResponse): ProtoObject {
  return { succeeded: r.succeeded, responses: r.responses.map(fromResponseOp) };
}

/** Whether a txn (including nested ones) writes anything. */
export function txnHasWrites(t: TxnRequest): boolean {
  const ops = (list: RequestOp[]): boolean =>
    list.some((op) => 'put' in op || 'deleteRange' in op || ('txn' in op && txnHasWrites(op.txn)));
  return ops(t.success) || ops(t.failure);
}
