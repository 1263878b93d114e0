// Ketch's etcd v3 client (used by ketchctl, the Kubernetes parts and the tests; it works against
// real etcd 3.4 too).
//
//   const client = new EtcdClient({ endpoints: ["127.0.0.1:2379", "127.0.0.1:22379"] });
//   await client.put({ key: bytes("k"), value: bytes("v") });
//   const { kvs } = await client.range({ key: bytes("k"), range_end: prefixEnd(bytes("k")) });
//   client.close();
//
// Messages are plain objects shaped like etcd's protos (messages.ts): snake_case fields, int64 as
// decimal strings (numbers accepted on input), bytes as Buffer, enums as names. Every failure is
// an EtcdError with the gRPC code (`grpcCode`) and etcd's message text ("etcdserver: ...", or
// "context deadline exceeded" when the request timed out).
//
// EtcdClient methods (each unary one takes optional { timeoutMs, signal }):
//   KV          range, put, deleteRange, txn, compact
//   Lease       leaseGrant, leaseRevoke, leaseTimeToLive(id, keys), leaseLeases,
//               leaseKeepAlive(id, onResponse) → LeaseKeeper { closed, stop() },
//               leaseKeepAliveOnce(id)
//   Cluster     memberList, memberAdd(peerURLs, isLearner), memberRemove(id), memberUpdate(id, peerURLs),
//               memberPromote(id)
//   Maintenance status, hash, hashKV(rev), alarm, defragment, moveLeader(targetID),
//               snapshot() → async iterable of { remaining_bytes, blob }
//   Watch       watch() → WatchStream (create/cancel/progress, "response" and "close" events),
//               watchKey(key, fromRevision, onEvents, { rangeEnd, prevKv, ... }) → KeyWatcher
//               (resumes on another endpoint without gaps)
//   forEndpoint(ep) → a client for that endpoint only, sharing connections; close().
//
// TLS: `tls: { ca, cert, key }` (PEM buffers; src/tls/tls-files.ts loads and checks files) dials
// https:// endpoints, and endpoints without a scheme, with TLS; http:// ones stay in clear.
//
// Failover (etcd-client.ts): calls stick to one endpoint and move to the next when it fails;
// a failed request is retried elsewhere only when that cannot apply it twice.

export { EtcdClient, type CallOptions, type EtcdClientOptions } from "./etcd-client.js";
export { EtcdError, deadlineExceededMessage, canceledMessage } from "./client-errors.js";
export { endpointTarget, parseEndpoint, type ClientTlsOptions } from "./endpoint-pool.js";
export { WatchStream } from "./watch-stream.js";
export type { KeyWatcher, WatchKeyOptions } from "./watch-key.js";
export type { LeaseKeeper } from "./lease-keeper.js";
export { bytes, prefixEnd, fromKeyEnd } from "./key-range.js";
export type * from "./messages.js";
