// etcdctl 3.4's "fields" format (printer_fields.go): one `"Name" : value` line per field, strings
// Go-quoted. Results it has no method for are refused, as etcdctl's embedded unsupported printer does.

import type {
  AlarmResponse,
  DeleteRangeResponse,
  KeyValue,
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeResponse,
  LeaseTimeToLiveResponse,
  MemberListResponse,
  PutResponse,
  RangeResponse,
  ResponseHeader,
  TxnResponse,
  WatchResponse,
} from "../client/messages.js";
import { goQuote } from "./go-format.js";
import type { Output } from "./output.js";
import { unsupported, type DbStatus, type EpHashKV, type EpHealth, type EpStatus, type Printer } from "./printer.js";

export class FieldsPrinter implements Printer {
  constructor(private readonly output: Output) {}

  private line(text: string): void {
    this.output.out(`${text}\n`);
  }

  private hdr(h: ResponseHeader | null): void {
    this.line(`"ClusterID" : ${h?.cluster_id ?? "0"}`);
    this.line(`"MemberID" : ${h?.member_id ?? "0"}`);
    this.line(`"Revision" : ${h?.revision ?? "0"}`);
    this.line(`"RaftTerm" : ${h?.raft_term ?? "0"}`);
  }

  private kv(prefix: string, kv: KeyValue | null): void {
    this.line(`"${prefix}Key" : ${goQuote(kv?.key ?? Buffer.alloc(0))}`);
    this.line(`"${prefix}CreateRevision" : ${kv?.create_revision ?? "0"}`);
    this.line(`"${prefix}ModRevision" : ${kv?.mod_revision ?? "0"}`);
    this.line(`"${prefix}Version" : ${kv?.version ?? "0"}`);
    this.line(`"${prefix}Value" : ${goQuote(kv?.value ?? Buffer.alloc(0))}`);
    this.line(`"${prefix}Lease" : ${kv?.lease ?? "0"}`);
  }

  get(r: RangeResponse): void {
    this.hdr(r.header);
    for (const kv of r.kvs) this.kv("", kv);
    this.line(`"More" : ${r.more}`);
    this.line(`"Count" : ${r.count}`);
  }

  put(r: PutResponse): void {
    this.hdr(r.header);
    if (r.prev_kv !== null) this.kv("Prev", r.prev_kv);
  }

  del(r: DeleteRangeResponse): void {
    this.hdr(r.header);
    this.line(`"Deleted" : ${r.deleted}`);
    for (const kv of r.prev_kvs) this.kv("Prev", kv);
  }

  txn(r: TxnResponse): void {
    this.hdr(r.header);
    this.line(`"Succeeded" : ${r.succeeded}`);
    for (const op of r.responses) {
      if (op.response_delete_range) this.del(op.response_delete_range);
      else if (op.response_put) this.put(op.response_put);
      else if (op.response_range) this.get(op.response_range);
      else this.line(`"Unknown" : ${goQuote(String(op.response))}`);
    }
  }

  watch(r: WatchResponse): void {
    this.hdr(r.header);
    for (const event of r.events) {
      this.line(`"Type" : ${event.type}`);
      if (event.prev_kv !== null) this.kv("Prev", event.prev_kv);
      this.kv("", event.kv);
    }
  }

  grant(r: LeaseGrantResponse): void {
    this.hdr(r.header);
    this.line(`"ID" : ${r.ID}`);
    this.line(`"TTL" : ${r.TTL}`);
  }

  revoke(_id: string, r: LeaseRevokeResponse): void {
    this.hdr(r.header);
  }

  keepAlive(r: LeaseKeepAliveResponse): void {
    this.hdr(r.header);
    this.line(`"ID" : ${r.ID}`);
    this.line(`"TTL" : ${r.TTL}`);
  }

  timeToLive(r: LeaseTimeToLiveResponse, _keys: boolean): void {
    this.hdr(r.header);
    this.line(`"ID" : ${r.ID}`);
    this.line(`"TTL" : ${r.TTL}`);
    this.line(`"GrantedTTL" : ${r.grantedTTL}`);
    for (const key of r.keys) this.line(`"Key" : ${goQuote(key)}`);
  }

  leases(r: LeaseLeasesResponse): void {
    this.hdr(r.header);
    for (const lease of r.leases) this.line(`"ID" : ${lease.ID}`);
  }

  memberAdd(): void {
    unsupported("fields");
  }

  memberRemove(): void {
    unsupported("fields");
  }

  memberUpdate(): void {
    unsupported("fields");
  }

  memberPromote(): void {
    unsupported("fields");
  }

  memberList(r: MemberListResponse): void {
    this.hdr(r.header);
    for (const m of r.members) {
      this.line(`"ID" : ${m.ID}`);
      this.line(`"Name" : ${goQuote(m.name)}`);
      for (const url of m.peerURLs) this.line(`"PeerURL" : ${goQuote(url)}`);
      for (const url of m.clientURLs) this.line(`"ClientURL" : ${goQuote(url)}`);
      this.line(`"IsLearner" : ${m.isLearner}`);
      this.line("");
    }
  }

  endpointHealth(list: EpHealth[]): void {
    for (const h of list) {
      this.line(`"Endpoint" : ${goQuote(h.ep)}`);
      this.line(`"Health" : ${h.health}`);
      this.line(`"Took" : ${h.took}`);
      this.line(`"Error" : ${h.error}`);
      this.line("");
    }
  }

  endpointStatus(list: EpStatus[]): void {
    for (const { ep, resp } of list) {
      this.hdr(resp.header);
      this.line(`"Version" : ${goQuote(resp.version)}`);
      this.line(`"DBSize" : ${resp.dbSize}`);
      this.line(`"Leader" : ${resp.leader}`);
      this.line(`"IsLearner" : ${resp.isLearner}`);
      this.line(`"RaftIndex" : ${resp.raftIndex}`);
      this.line(`"RaftTerm" : ${resp.raftTerm}`);
      this.line(`"RaftAppliedIndex" : ${resp.raftAppliedIndex}`);
      this.line(`"Errors" : [${resp.errors.join(" ")}]`);
      this.line(`"Endpoint" : ${goQuote(ep)}`);
      this.line("");
    }
  }

  endpointHashKV(list: EpHashKV[]): void {
    for (const { ep, resp } of list) {
      this.hdr(resp.header);
      this.line(`"Endpoint" : ${goQuote(ep)}`);
      this.line(`"Hash" : ${resp.hash}`);
      this.line("");
    }
  }

  moveLeader(): void {
    unsupported("fields");
  }

  alarm(r: AlarmResponse): void {
    this.hdr(r.header);
    for (const a of r.alarms) {
      this.line(`"MemberID" : ${a.memberID}`);
      this.line(`"AlarmType" : ${a.alarm}`);
      this.line("");
    }
  }

  dbStatus(status: DbStatus): void {
    this.line(`"Hash" : ${status.hash}`);
    this.line(`"Revision" : ${status.revision}`);
    this.line(`"Keys" : ${status.totalKey}`);
    this.line(`"Size" : ${status.totalSize}`);
  }
}
