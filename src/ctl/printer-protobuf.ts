// etcdctl's "protobuf" format: the raw protobuf encoding of results that are etcd messages;
// clientv3's own lease structs and the endpoint lists cannot be encoded and are refused.

import { encodeEtcdMessage } from "../client/etcd-codec.js";
import type {
  AlarmResponse,
  DeleteRangeResponse,
  HeaderResponse,
  LeaseRevokeResponse,
  MemberAddResponse,
  MemberChangeResponse,
  MemberListResponse,
  PutResponse,
  RangeResponse,
  TxnResponse,
  WatchResponse,
} from "../client/messages.js";
import { CtlError, ExitCode } from "./exit-codes.js";
import type { Output } from "./output.js";
import { unsupported, type Printer } from "./printer.js";

function notMarshalable(typeName: string): never {
  throw new CtlError(ExitCode.badFeature, `marshal unsupported for type ${typeName}`);
}

export class ProtobufPrinter implements Printer {
  constructor(private readonly output: Output) {}

  private print(typeName: string, message: object): void {
    this.output.out(encodeEtcdMessage(`etcdserverpb.${typeName}`, message as Record<string, unknown>));
  }

  get(r: RangeResponse): void {
    this.print("RangeResponse", r);
  }
  put(r: PutResponse): void {
    this.print("PutResponse", r);
  }
  del(r: DeleteRangeResponse): void {
    this.print("DeleteRangeResponse", r);
  }
  txn(r: TxnResponse): void {
    this.print("TxnResponse", r);
  }
  watch(r: WatchResponse): void {
    this.print("WatchResponse", r);
  }
  grant(): void {
    notMarshalable("clientv3.LeaseGrantResponse");
  }
  revoke(_id: string, r: LeaseRevokeResponse): void {
    this.print("LeaseRevokeResponse", r);
  }
  keepAlive(): void {
    notMarshalable("clientv3.LeaseKeepAliveResponse");
  }
  timeToLive(): void {
    notMarshalable("*clientv3.LeaseTimeToLiveResponse");
  }
  leases(): void {
    notMarshalable("*clientv3.LeaseLeasesResponse");
  }
  memberAdd(r: MemberAddResponse): void {
    this.print("MemberAddResponse", r);
  }
  memberRemove(_id: string, r: MemberChangeResponse): void {
    this.print("MemberRemoveResponse", r);
  }
  memberUpdate(_id: string, r: MemberChangeResponse): void {
    this.print("MemberUpdateResponse", r);
  }
  memberPromote(): void {
    unsupported("protobuf");
  }
  memberList(r: MemberListResponse): void {
    this.print("MemberListResponse", r);
  }
  endpointHealth(): void {
    unsupported("protobuf");
  }
  endpointStatus(): void {
    unsupported("protobuf");
  }
  endpointHashKV(): void {
    unsupported("protobuf");
  }
  moveLeader(_leader: string, _target: string, r: HeaderResponse): void {
    this.print("MoveLeaderResponse", r);
  }
  alarm(r: AlarmResponse): void {
    this.print("AlarmResponse", r);
  }
  dbStatus(): void {
    unsupported("protobuf");
  }
}
