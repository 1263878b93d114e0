// The etcd v3 messages as plain objects, shaped as the codec (etcd-codec.ts) decodes them:
// field names as in the proto (snake_case, and etcd's own `ID`, `TTL`, `peerURLs`), int64/uint64
// as decimal strings, enums as their names, bytes as Buffer, absent scalars as their zero value.
// Requests are partial (absent means zero) and take int64 fields as a string or a safe number.
// Bytes fields take Buffer only: protobufjs would read a string there as base64, silently.

/** An int64/uint64 on the way in: a decimal string, or a number that is a safe integer. */
export type Int64In = string | number;

export interface ResponseHeader {
  cluster_id: string;
  member_id: string;
  revision: string;
  raft_term: string;
}

export interface KeyValue {
  key: Buffer;
  create_revision: string;
  mod_revision: string;
  version: string;
  value: Buffer;
  lease: string;
}

export type EventType = "PUT" | "DELETE";

export interface Event {
  type: EventType;
  kv: KeyValue | null;
  prev_kv: KeyValue | null;
}

// ---- KV

export type SortOrder = "NONE" | "ASCEND" | "DESCEND";
export type SortTarget = "KEY" | "VERSION" | "CREATE" | "MOD" | "VALUE";

export interface RangeRequest {
  key: Buffer;
  range_end?: Buffer;
  limit?: Int64In;
  revision?: Int64In;
  sort_order?: SortOrder;
  sort_target?: SortTarget;
  serializable?: boolean;
  keys_only?: boolean;
  count_only?: boolean;
  min_mod_revision?: Int64In;
  max_mod_revision?: Int64In;
  min_create_revision?: Int64In;
  max_create_revision?: Int64In;
}

export interface RangeResponse {
  header: ResponseHeader;
  kvs: KeyValue[];
  more: boolean;
  count: string;
}

export interface PutRequest {
  key: Buffer;
  value?: Buffer;
  lease?: Int64In;
  prev_kv?: boolean;
  ignore_value?: boolean;
  ignore_lease?: boolean;
}

export interface PutResponse {
  header: ResponseHeader;
  prev_kv: KeyValue | null;
}

export interface DeleteRangeRequest {
  key: Buffer;
  range_end?: Buffer;
  prev_kv?: boolean;
}

export interface DeleteRangeResponse {
  header: ResponseHeader;
  deleted: string;
  prev_kvs: KeyValue[];
}

export type RequestOp =
  | { request_range: RangeRequest }
  | { request_put: PutRequest }
  | { request_delete_range: DeleteRangeRequest }
  | { request_txn: TxnRequest };

/** A decoded ResponseOp: `response` names the member that is set; the others are undefined. */
export interface ResponseOp {
  response: "response_range" | "response_put" | "response_delete_range" | "response_txn";
  response_range?: RangeResponse;
  response_put?: PutResponse;
  response_delete_range?: DeleteRangeResponse;
  response_txn?: TxnResponse;
}

export type CompareResult = "EQUAL" | "GREATER" | "LESS" | "NOT_EQUAL";
export type CompareTarget = "VERSION" | "CREATE" | "MOD" | "VALUE" | "LEASE";

/** Set the operand member that agrees with `target` (version, create_revision, ..., value, lease). */
export interface Compare {
  result?: CompareResult;
  target?: CompareTarget;
  key: Buffer;
  range_end?: Buffer;
  version?: Int64In;
  create_revision?: Int64In;
  mod_revision?: Int64In;
  value?: Buffer;
  lease?: Int64In;
}

export interface TxnRequest {
  compare?: Compare[];
  success?: RequestOp[];
  failure?: RequestOp[];
}

export interface TxnResponse {
  header: ResponseHeader;
  succeeded: boolean;
  responses: ResponseOp[];
}

export interface CompactionRequest {
  revision: Int64In;
  physical?: boolean;
}

export interface CompactionResponse {
  header: ResponseHeader;
}

// ---- Watch

export type WatchFilterType = "NOPUT" | "NODELETE";

export interface WatchCreateRequest {
  key: Buffer;
  range_end?: Buffer;
  start_revision?: Int64In;
  progress_notify?: boolean;
  filters?: WatchFilterType[];
  prev_kv?: boolean;
  watch_id?: Int64In;
  fragment?: boolean;
}

export type WatchRequest =
  | { create_request: WatchCreateRequest }
  | { cancel_request: { watch_id: Int64In } }
  | { progress_request: Record<string, never> };

export interface WatchResponse {
  header: ResponseHeader;
  watch_id: string;
  created: boolean;
  canceled: boolean;
  compact_revision: string;
  cancel_reason: string;
  fragment: boolean;
  events: Event[];
}

// ---- Lease

export interface LeaseGrantRequest {
  TTL: Int64In;
  ID?: Int64In;
}

export interface LeaseGrantResponse {
  header: ResponseHeader;
  ID: string;
  TTL: string;
  error: string;
}

export interface LeaseRevokeResponse {
  header: ResponseHeader;
}

export interface LeaseKeepAliveResponse {
  header: ResponseHeader;
  ID: string;
  TTL: string;
}

export interface LeaseTimeToLiveResponse {
  header: ResponseHeader;
  ID: string;
  TTL: string;
  grantedTTL: string;
  keys: Buffer[];
}

export interface LeaseLeasesResponse {
  header: ResponseHeader;
  leases: { ID: string }[];
}

// ---- Cluster

export interface Member {
  ID: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export interface MemberAddResponse {
  header: ResponseHeader;
  member: Member | null;
  members: Member[];
}

export interface MemberListResponse {
  header: ResponseHeader;
  members: Member[];
}

/** MemberRemove, MemberUpdate and MemberPromote all answer with the new member list. */
export type MemberChangeResponse = MemberListResponse;

// ---- Maintenance

export type AlarmType = "NONE" | "NOSPACE" | "CORRUPT";
export type AlarmAction = "GET" | "ACTIVATE" | "DEACTIVATE";

export interface AlarmRequest {
  action: AlarmAction;
  memberID?: Int64In;
  alarm?: AlarmType;
}

export interface AlarmMember {
  memberID: string;
  alarm: AlarmType;
}

export interface AlarmResponse {
  /** etcd 3.4 leaves the header out of Alarm responses. */
  header: ResponseHeader | null;
  alarms: AlarmMember[];
}

export interface StatusResponse {
  header: ResponseHeader;
  version: string;
  dbSize: string;
  leader: string;
  raftIndex: string;
  raftTerm: string;
  raftAppliedIndex: string;
  errors: string[];
  dbSizeInUse: string;
  isLearner: boolean;
}

export interface HashKVResponse {
  header: ResponseHeader;
  hash: number;
  compact_revision: string;
}

export interface HashResponse {
  header: ResponseHeader;
  hash: number;
}

export interface SnapshotResponse {
  header: ResponseHeader;
  remaining_bytes: string;
  blob: Buffer;
}

/** Defragment and MoveLeader answer with a header only. */
export interface HeaderResponse {
  header: ResponseHeader;
}
