/**
 * etcd v3 request bodies for the benchmark's own clients and for h2load, and decoding of the
 * responses it reads back: protobuf through the same proto files the server loads. The watcher
 * processes use grpc-wire.ts instead (no proto loading, no object decoding on their hot path).
 */
import { etcdServiceDefinitions, type EtcdServiceDefinitions } from '../src/api/etcd-proto.js';

let defs: EtcdServiceDefinitions | undefined;
function definitions(): EtcdServiceDefinitions {
  defs ??= etcdServiceDefinitions();
  return defs;
}

export function putRequest(key: Buffer, value: Buffer): Buffer {
  return definitions().KV.Put.requestSerialize({ key, value });
}

export function rangeRequest(key: Buffer, opts: { rangeEnd?: Buffer; serializable?: boolean; countOnly?: boolean; limit?: number } = {}): Buffer {
  // Only the fields that are set: etcd 3.4 reads an explicitly encoded empty range_end as
  // "to the end of the keyspace" (a non-nil empty slice), not as a single-key get.
  const req: Record<string, unknown> = { key };
  if (opts.rangeEnd !== undefined) req.range_end = opts.rangeEnd;
  if (opts.serializable === true) req.serializable = true;
  if (opts.countOnly === true) req.count_only = true;
  if (opts.limit !== undefined) req.limit = opts.limit;
  return definitions().KV.Range.requestSerialize(req);
}

/** Compare-and-swap: if key's value == expected then put key=value (a real compare each time). */
export function casTxnRequest(key: Buffer, expected: Buffer, value: Buffer): Buffer {
  return definitions().KV.Txn.requestSerialize({
    compare: [{ result: 'EQUAL', target: 'VALUE', key, value: expected }],
    success: [{ request_put: { key, value } }],
    failure: [],
  });
}

/** One txn that puts every key (no compare). */
export function txnPutsRequest(keys: Buffer[], value: Buffer): Buffer {
  return definitions().KV.Txn.requestSerialize({ success: keys.map((key) => ({ request_put: { key, value } })) });
}

export function snapshotRequest(): Buffer {
  return definitions().Maintenance.Snapshot.requestSerialize({});
}

export interface RangeReply {
  header: { revision: string };
  kvs: { key: Buffer; value: Buffer; version: string; mod_revision: string }[];
  count: string;
}

export function decodeRangeResponse(message: Buffer): RangeReply {
  return definitions().KV.Range.responseDeserialize(message) as RangeReply;
}

export function decodeSnapshotResponse(message: Buffer): { remaining_bytes: string; blob: Buffer } {
  return definitions().Maintenance.Snapshot.responseDeserialize(message) as { remaining_bytes: string; blob: Buffer };
}
