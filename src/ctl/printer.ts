// The output formats of etcdctl 3.4 (-w simple|json|fields|table|protobuf): one Printer per
// format, with a method per kind of result, as etcdctl's printer interface has.

import type {
  AlarmResponse,
  DeleteRangeResponse,
  HashKVResponse,
  HeaderResponse,
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
  StatusResponse,
  TxnResponse,
  WatchResponse,
} from "../client/messages.js";
import { CtlError, ExitCode } from "./exit-codes.js";
import type { Output } from "./output.js";

export interface EpHealth {
  ep: string;
  health: boolean;
  took: string;
  error: string;
}

export interface EpStatus {
  ep: string;
  resp: StatusResponse;
}

export interface EpHashKV {
  ep: string;
  resp: HashKVResponse;
}

/** What `snapshot status` reports about a snapshot file. */
export interface DbStatus {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
}

export interface Printer {
  get(r: RangeResponse): void;
  put(r: PutResponse): void;
  del(r: DeleteRangeResponse): void;
  txn(r: TxnResponse): void;
  watch(r: WatchResponse): void;
  grant(r: LeaseGrantResponse): void;
  revoke(id: string, r: LeaseRevokeResponse): void;
  keepAlive(r: LeaseKeepAliveResponse): void;
  timeToLive(r: LeaseTimeToLiveResponse, keys: boolean): void;
  leases(r: LeaseLeasesResponse): void;
  memberAdd(r: MemberAddResponse): void;
  memberRemove(id: string, r: MemberChangeResponse): void;
  memberUpdate(id: string, r: MemberChangeResponse): void;
  memberPromote(id: string, r: MemberChangeResponse): void;
  memberList(r: MemberListResponse): void;
  endpointHealth(list: EpHealth[]): void;
  endpointStatus(list: EpStatus[]): void;
  endpointHashKV(list: EpHashKV[]): void;
  moveLeader(leader: string, target: string, r: HeaderResponse): void;
  alarm(r: AlarmResponse): void;
  dbStatus(status: DbStatus): void;
}

export type OutputFormat = "simple" | "json" | "fields" | "table" | "protobuf";

/** etcdctl's error for a result the chosen format cannot show (exit 4, after the request ran). */
export function unsupported(format: string): never {
  throw new CtlError(ExitCode.badFeature, `${format} not supported as output format`);
}

/** The member list rows shared by the simple and table formats. */
export function memberListTable(r: MemberListResponse): { hdr: string[]; rows: string[][] } {
  const hdr = ["ID", "Status", "Name", "Peer Addrs", "Client Addrs", "Is Learner"];
  const rows = r.members.map((m) => [
    BigInt(m.ID).toString(16),
    m.name === "" ? "unstarted" : "started",
    m.name,
    m.peerURLs.join(","),
    m.clientURLs.join(","),
    String(m.isLearner),
  ]);
  return { hdr, rows };
}

export function endpointHealthTable(list: EpHealth[]): { hdr: string[]; rows: string[][] } {
  return {
    hdr: ["endpoint", "health", "took", "error"],
    rows: list.map((h) => [h.ep, String(h.health), h.took, h.error]),
  };
}

export function endpointStatusTable(list: EpStatus[], humanize: (size: string) => string): { hdr: string[]; rows: string[][] } {
  const hdr = ["endpoint", "ID", "version", "db size", "is leader", "is learner", "raft term", "raft index", "raft applied index", "errors"];
  const rows = list.map(({ ep, resp }) => [
    ep,
    BigInt(resp.header?.member_id ?? "0").toString(16),
    resp.version,
    humanize(resp.dbSize),
    String(resp.leader === (resp.header?.member_id ?? "0")),
    String(resp.isLearner),
    resp.raftTerm,
    resp.raftIndex,
    resp.raftAppliedIndex,
    resp.errors.join(", "),
  ]);
  return { hdr, rows };
}

export function endpointHashKVTable(list: EpHashKV[]): { hdr: string[]; rows: string[][] } {
  return { hdr: ["endpoint", "hash"], rows: list.map(({ ep, resp }) => [ep, String(resp.hash)]) };
}

export function dbStatusTable(status: DbStatus, humanize: (size: string) => string): { hdr: string[]; rows: string[][] } {
  return {
    hdr: ["hash", "revision", "total keys", "total size"],
    rows: [[status.hash.toString(16), String(status.revision), String(status.totalKey), humanize(String(status.totalSize))]],
  };
}

/** The printer for `-w <format>`; an unknown format is refused before any request is made. */
export async function makePrinter(format: string, isHex: boolean, out: Output): Promise<Printer> {
  switch (format) {
    case "simple": {
      const { SimplePrinter } = await import("./printer-simple.js");
      return new SimplePrinter(out, isHex);
    }
    case "json": {
      const { JsonPrinter } = await import("./printer-json.js");
      return new JsonPrinter(out);
    }
    case "fields": {
      const { FieldsPrinter } = await import("./printer-fields.js");
      return new FieldsPrinter(out);
    }
    case "table": {
      const { TablePrinter } = await import("./printer-table.js");
      return new TablePrinter(out);
    }
    case "protobuf": {
      const { ProtobufPrinter } = await import("./printer-protobuf.js");
      return new ProtobufPrinter(out);
    }
    default:
      throw new CtlError(ExitCode.badFeature, "unsupported output format");
  }
}
