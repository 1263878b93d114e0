// etcdctl 3.4's "json" format: Go's json.Marshal of the response structs. gogoproto messages use
// their proto field names with omitempty; clientv3's own lease structs flatten the header and
// print ID/TTL/Error without omitempty; list results of endpoint commands are arrays.

import type {
  AlarmResponse,
  DeleteRangeResponse,
  Event,
  HeaderResponse,
  KeyValue,
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeResponse,
  LeaseTimeToLiveResponse,
  Member,
  MemberAddResponse,
  MemberChangeResponse,
  MemberListResponse,
  PutResponse,
  RangeResponse,
  ResponseHeader,
  ResponseOp,
  StatusResponse,
  TxnResponse,
  WatchResponse,
} from "../client/messages.js";
import { type GoJson, int, marshalGoJson, optArray, optBool, optBytes, optInt, optString } from "./go-json.js";
import type { Output } from "./output.js";
import { type DbStatus, type EpHashKV, type EpHealth, type EpStatus, type Printer } from "./printer.js";

type JsonObject = { [key: string]: GoJson | undefined };

const alarmTypeNumbers: Record<string, number> = { NONE: 0, NOSPACE: 1, CORRUPT: 2 };

export function headerJson(h: ResponseHeader | null): JsonObject | undefined {
  if (h === null) return undefined;
  return { cluster_id: optInt(h.cluster_id), member_id: optInt(h.member_id), revision: optInt(h.revision), raft_term: optInt(h.raft_term) };
}

/** The header's fields at top level: clientv3's lease responses embed *pb.ResponseHeader. */
function flatHeader(h: ResponseHeader | null): JsonObject {
  return headerJson(h) ?? {};
}

export function kvJson(kv: KeyValue): JsonObject {
  return {
    key: optBytes(kv.key),
    create_revision: optInt(kv.create_revision),
    mod_revision: optInt(kv.mod_revision),
    version: optInt(kv.version),
    value: optBytes(kv.value),
    lease: optInt(kv.lease),
  };
}

function rangeJson(r: RangeResponse): JsonObject {
  return { header: headerJson(r.header), kvs: optArray(r.kvs, kvJson), more: optBool(r.more), count: optInt(r.count) };
}

function putJson(r: PutResponse): JsonObject {
  return { header: headerJson(r.header), prev_kv: r.prev_kv === null ? undefined : kvJson(r.prev_kv) };
}

function delJson(r: DeleteRangeResponse): JsonObject {
  return { header: headerJson(r.header), deleted: optInt(r.deleted), prev_kvs: optArray(r.prev_kvs, kvJson) };
}

function txnJson(r: TxnResponse): JsonObject {
  return { header: headerJson(r.header), succeeded: optBool(r.succeeded), responses: optArray(r.responses, responseOpJson) };
}

function responseOpJson(op: ResponseOp): GoJson {
  // gogoproto oneofs marshal as {"Response": {"ResponsePut": {...}}}.
  if (op.response_put) return { Response: { ResponsePut: putJson(op.response_put) } };
  if (op.response_range) return { Response: { ResponseRange: rangeJson(op.response_range) } };
  if (op.response_delete_range) return { Response: { ResponseDeleteRange: delJson(op.response_delete_range) } };
  if (op.response_txn) return { Response: { ResponseTxn: txnJson(op.response_txn) } };
  return {};
}

function eventJson(e: Event): GoJson {
  return {
    type: e.type === "DELETE" ? int(1) : undefined,
    kv: e.kv === null ? undefined : kvJson(e.kv),
    prev_kv: e.prev_kv === null ? undefined : kvJson(e.prev_kv),
  };
}

function memberJson(m: Member): GoJson {
  return {
    ID: optInt(m.ID),
    name: optString(m.name),
    peerURLs: optArray(m.peerURLs, (u) => u),
    clientURLs: optArray(m.clientURLs, (u) => u),
    isLearner: optBool(m.isLearner),
  };
}

export function statusJson(s: StatusResponse): JsonObject {
  return {
    header: headerJson(s.header),
    version: optString(s.version),
    dbSize: optInt(s.dbSize),
    leader: optInt(s.leader),
    raftIndex: optInt(s.raftIndex),
    raftTerm: optInt(s.raftTerm),
    raftAppliedIndex: optInt(s.raftAppliedIndex),
    errors: optArray(s.errors, (e) => e),
    dbSizeInUse: optInt(s.dbSizeInUse),
    isLearner: optBool(s.isLearner),
  };
}

export class JsonPrinter implements Printer {
  constructor(private readonly output: Output) {}

  private print(value: GoJson): void {
    this.output.out(`${marshalGoJson(value)}\n`);
  }

  get(r: RangeResponse): void {
    this.print(rangeJson(r));
  }

  put(r: PutResponse): void {
    this.print(putJson(r));
  }

  del(r: DeleteRangeResponse): void {
    this.print(delJson(r));
  }

  txn(r: TxnResponse): void {
    this.print(txnJson(r));
  }

  watch(r: WatchResponse): void {
    // clientv3.WatchResponse: exported Go fields without json tags.
    this.print({
      Header: headerJson(r.header) ?? {},
      Events: r.events.length === 0 ? null : r.events.map(eventJson),
      CompactRevision: int(r.compact_revision),
      Canceled: r.canceled,
      Created: r.created,
    });
  }

  grant(r: LeaseGrantResponse): void {
    this.print({ ...flatHeader(r.header), ID: int(r.ID), TTL: int(r.TTL), Error: r.error });
  }

  revoke(_id: string, r: LeaseRevokeResponse): void {
    this.print({ header: headerJson(r.header) });
  }

  keepAlive(r: LeaseKeepAliveResponse): void {
    this.print({ ...flatHeader(r.header), ID: int(r.ID), TTL: int(r.TTL) });
  }

  timeToLive(r: LeaseTimeToLiveResponse, _keys: boolean): void {
    this.print({
      ...flatHeader(r.header),
      id: int(r.ID),
      ttl: int(r.TTL),
      "granted-ttl": int(r.grantedTTL),
      keys: r.keys.length === 0 ? null : r.keys,
    });
  }

  leases(r: LeaseLeasesResponse): void {
    this.print({ ...flatHeader(r.header), leases: r.leases.map((l) => ({ id: int(l.ID) })) });
  }

  memberAdd(r: MemberAddResponse): void {
    this.print({
      header: headerJson(r.header),
      member: r.member === null ? undefined : memberJson(r.member),
      members: optArray(r.members, memberJson),
    });
  }

  private memberChange(r: MemberChangeResponse): void {
    this.print({ header: headerJson(r.header), members: optArray(r.members, memberJson) });
  }

  memberRemove(_id: string, r: MemberChangeResponse): void {
    this.memberChange(r);
  }

  memberUpdate(_id: string, r: MemberChangeResponse): void {
    this.memberChange(r);
  }

  memberPromote(_id: string, r: MemberChangeResponse): void {
    this.memberChange(r);
  }

  memberList(r: MemberListResponse): void {
    this.memberChange(r);
  }

  endpointHealth(list: EpHealth[]): void {
    this.print(list.map((h) => ({ endpoint: h.ep, health: h.health, took: h.took, error: optString(h.error) })));
  }

  endpointStatus(list: EpStatus[]): void {
    this.print(list.map(({ ep, resp }) => ({ Endpoint: ep, Status: statusJson(resp) })));
  }

  endpointHashKV(list: EpHashKV[]): void {
    this.print(
      list.map(({ ep, resp }) => ({
        Endpoint: ep,
        HashKV: { header: headerJson(resp.header), hash: resp.hash === 0 ? undefined : resp.hash, compact_revision: optInt(resp.compact_revision) },
      })),
    );
  }

  moveLeader(_leader: string, _target: string, r: HeaderResponse): void {
    this.print({ header: headerJson(r.header) });
  }

  alarm(r: AlarmResponse): void {
    this.print({
      header: headerJson(r.header),
      alarms: optArray(r.alarms, (a) => ({ memberID: optInt(a.memberID), alarm: alarmTypeNumbers[a.alarm] || undefined })),
    });
  }

  dbStatus(status: DbStatus): void {
    // snapshot.Status has json tags: hash, revision, totalKey, totalSize.
    this.print({ hash: status.hash, revision: status.revision, totalKey: status.totalKey, totalSize: status.totalSize });
  }
}
