// etcdctl's "simple" format (printer_simple.go): plain lines, keys and values as raw bytes.

import type {
  AlarmResponse,
  DeleteRangeResponse,
  HeaderResponse,
  KeyValue,
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeResponse,
  LeaseTimeToLiveResponse,
  MemberAddResponse,
  MemberChangeResponse,
  MemberListResponse,
  PutResponse,
  RangeResponse,
  TxnResponse,
  WatchResponse,
} from "../client/messages.js";
import { hex16, humanizeBytes, leaseHex } from "./go-format.js";
import type { Output } from "./output.js";
import {
  dbStatusTable,
  endpointHashKVTable,
  endpointStatusTable,
  memberListTable,
  type DbStatus,
  type EpHashKV,
  type EpHealth,
  type EpStatus,
  type Printer,
} from "./printer.js";

/** etcdctl --hex: every byte as \xNN. */
export function hexEscaped(bytes: Buffer): string {
  let out = "";
  for (const byte of bytes) out += `\\x${byte.toString(16).padStart(2, "0")}`;
  return out;
}

export class SimplePrinter implements Printer {
  /** --print-value-only (get only). */
  valueOnly = false;

  constructor(
    private readonly output: Output,
    private readonly isHex: boolean,
  ) {}

  private line(text: string | Buffer = ""): void {
    this.output.out(typeof text === "string" ? `${text}\n` : Buffer.concat([text, Buffer.from("\n")]));
  }

  private kv(kv: KeyValue | null): void {
    const key = kv?.key ?? Buffer.alloc(0);
    const value = kv?.value ?? Buffer.alloc(0);
    if (!this.valueOnly) this.line(this.isHex ? hexEscaped(key) : key);
    this.line(this.isHex ? hexEscaped(value) : value);
  }

  get(r: RangeResponse): void {
    for (const kv of r.kvs) this.kv(kv);
  }

  put(r: PutResponse): void {
    this.line("OK");
    if (r.prev_kv !== null) this.kv(r.prev_kv);
  }

  del(r: DeleteRangeResponse): void {
    this.line(r.deleted);
    for (const kv of r.prev_kvs) this.kv(kv);
  }

  txn(r: TxnResponse): void {
    this.line(r.succeeded ? "SUCCESS" : "FAILURE");
    for (const op of r.responses) {
      this.line();
      if (op.response_put !== undefined && op.response_put !== null) this.put(op.response_put);
      else if (op.response_range !== undefined && op.response_range !== null) this.get(op.response_range);
      else if (op.response_delete_range !== undefined && op.response_delete_range !== null) this.del(op.response_delete_range);
      else this.line(`unexpected response ${op.response}`);
    }
  }

  watch(r: WatchResponse): void {
    for (const event of r.events) {
      this.line(event.type);
      if (event.prev_kv !== null) this.kv(event.prev_kv);
      this.kv(event.kv);
    }
  }

  grant(r: LeaseGrantResponse): void {
    this.line(`lease ${leaseHex(r.ID)} granted with TTL(${r.TTL}s)`);
  }

  revoke(id: string, _r: LeaseRevokeResponse): void {
    this.line(`lease ${leaseHex(id)} revoked`);
  }

  keepAlive(r: LeaseKeepAliveResponse): void {
    this.line(`lease ${leaseHex(r.ID)} keepalived with TTL(${r.TTL})`);
  }

  timeToLive(r: LeaseTimeToLiveResponse, keys: boolean): void {
    if (r.grantedTTL === "0" && r.TTL === "-1") {
      this.line(`lease ${leaseHex(r.ID)} already expired`);
      return;
    }
    let text = `lease ${leaseHex(r.ID)} granted with TTL(${r.grantedTTL}s), remaining(${r.TTL}s)`;
    if (keys) text += `, attached keys([${r.keys.map((k) => k.toString("latin1")).join(" ")}])`;
    this.output.out(Buffer.from(`${text}\n`, "latin1"));
  }

  leases(r: LeaseLeasesResponse): void {
    this.line(`found ${r.leases.length} leases`);
    for (const lease of r.leases) this.line(leaseHex(lease.ID));
  }

  memberAdd(r: MemberAddResponse): void {
    this.line(`Member ${hex16(r.member?.ID ?? "0")} added to cluster ${hex16(r.header.cluster_id)}`);
  }

  memberRemove(id: string, r: MemberChangeResponse): void {
    this.line(`Member ${hex16(id)} removed from cluster ${hex16(r.header.cluster_id)}`);
  }

  memberUpdate(id: string, r: MemberChangeResponse): void {
    this.line(`Member ${hex16(id)} updated in cluster ${hex16(r.header.cluster_id)}`);
  }

  memberPromote(id: string, r: MemberChangeResponse): void {
    this.line(`Member ${hex16(id)} promoted in cluster ${hex16(r.header.cluster_id)}`);
  }

  memberList(r: MemberListResponse): void {
    for (const row of memberListTable(r).rows) this.line(row.join(", "));
  }

  endpointHealth(list: EpHealth[]): void {
    // etcdctl writes these to stderr; the unhealthy line has no newline of its own in 3.4.
    for (const h of list) {
      if (h.error === "") this.output.err(`${h.ep} is healthy: successfully committed proposal: took = ${h.took}\n`);
      else this.output.err(`${h.ep} is unhealthy: failed to commit proposal: ${h.error}`);
    }
  }

  endpointStatus(list: EpStatus[]): void {
    for (const row of endpointStatusTable(list, humanizeBytes).rows) this.line(row.join(", "));
  }

  endpointHashKV(list: EpHashKV[]): void {
    for (const row of endpointHashKVTable(list).rows) this.line(row.join(", "));
  }

  moveLeader(leader: string, target: string, _r: HeaderResponse): void {
    this.line(`Leadership transferred from ${BigInt(leader).toString(16)} to ${BigInt(target).toString(16)}`);
  }

  alarm(r: AlarmResponse): void {
    // Go's %+v of the AlarmMember message is its compact text form.
    for (const a of r.alarms) this.line(`memberID:${a.memberID} alarm:${a.alarm} `);
  }

  dbStatus(status: DbStatus): void {
    for (const row of dbStatusTable(status, humanizeBytes).rows) this.line(row.join(", "));
  }
}
