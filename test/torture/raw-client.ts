// A thin etcd v3 client for the torture suite, built on grpc-js and the repository's protos.
//
// Unlike a production client it never retries and never fails over: each call goes to one
// endpoint with its own deadline, and every failure is reported with whether the request may have
// taken effect. A retry inside the client would turn "unknown" outcomes into silent duplicates and
// hide exactly what the checker must see.

import * as grpc from '@grpc/grpc-js';

import { etcdServiceClients, type EtcdServiceClients } from '../../src/api/etcd-proto.js';

export interface KeyValue {
  key: Buffer;
  value: Buffer;
  create_revision: string;
  mod_revision: string;
  version: string;
  lease: string;
}

export interface ResponseHeader {
  cluster_id: string;
  member_id: string;
  revision: string;
  raft_term: string;
}

export interface RangeResponse {
  header: ResponseHeader;
  kvs: KeyValue[];
  count: string;
}

export interface PutResponse {
  header: ResponseHeader;
}

export interface TxnResponse {
  header: ResponseHeader;
  succeeded: boolean;
  responses: Array<{ response_range?: RangeResponse; response_put?: PutResponse; response?: string }>;
}

export interface StatusResponse {
  header: ResponseHeader;
  leader: string;
  raftIndex: string;
  raftTerm: string;
  raftAppliedIndex?: string;
}

export interface Member {
  ID: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export interface WatchEvent {
  type: 'PUT' | 'DELETE';
  kv: KeyValue;
}

export interface WatchResponse {
  header: ResponseHeader;
  watch_id: string;
  created: boolean;
  canceled: boolean;
  compact_revision: string;
  cancel_reason: string;
  events: WatchEvent[];
}

export type Compare =
  | { target: 'VALUE'; key: string; value: string; result?: 'EQUAL' | 'NOT_EQUAL' }
  | { target: 'MOD'; key: string; mod_revision: number; result?: 'EQUAL' }
  | { target: 'CREATE'; key: string; create_revision: number; result?: 'EQUAL' };

export type RequestOp =
  | { put: { key: string; value: string; lease?: string } }
  | { range: { key: string; range_end?: string } }
  | { delete: { key: string } };

/**
 * A failed call. `definite` is true only when the request certainly never reached a server (no
 * connection was established), so it cannot have taken effect; everything else may have.
 */
export class CallError extends Error {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
    readonly definite: boolean,
  ) {
    super(`${grpc.status[code] ?? code}: ${details}`);
    this.name = 'CallError';
  }
}

let cachedClients: EtcdServiceClients | undefined;
function clients(): EtcdServiceClients {
  cachedClients ??= etcdServiceClients();
  return cachedClients;
}

/** Each RawClient owns its connection, so one worker's broken connection is not another's. */
const channelOptions: grpc.ChannelOptions = {
  'grpc.use_local_subchannel_pool': 1,
  'grpc.enable_retries': 0,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  'grpc.keepalive_time_ms': 2000,
  'grpc.keepalive_timeout_ms': 2000,
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
};

type UnaryMethod = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => grpc.ClientUnaryCall;

function toError(err: grpc.ServiceError): CallError {
  // grpc-js fails a call at once, before sending anything, when the channel has no connection.
  const definite = err.code === grpc.status.UNAVAILABLE && /^No connection established/.test(err.details);
  return new CallError(err.code, err.details, definite);
}

function buf(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

function compareToWire(c: Compare): Record<string, unknown> {
  const base = { result: c.result ?? 'EQUAL', target: c.target, key: buf(c.key) };
  switch (c.target) {
    case 'VALUE':
      return { ...base, value: buf(c.value) };
    case 'MOD':
      return { ...base, mod_revision: String(c.mod_revision) };
    case 'CREATE':
      return { ...base, create_revision: String(c.create_revision) };
  }
}

function opToWire(op: RequestOp): Record<string, unknown> {
  if ('put' in op) return { request_put: { key: buf(op.put.key), value: buf(op.put.value), lease: op.put.lease ?? '0' } };
  if ('range' in op) {
    return { request_range: { key: buf(op.range.key), ...(op.range.range_end !== undefined ? { range_end: buf(op.range.range_end) } : {}) } };
  }
  return { request_delete_range: { key: buf(op.delete.key) } };
}

export class RawClient {
  private readonly kv: grpc.Client;
  private readonly lease: grpc.Client;
  private readonly maintenance: grpc.Client;
  private readonly cluster: grpc.Client;
  private readonly watchClient: grpc.Client;
  private closed = false;

  /** `endpoint` is a client URL (http://host:port) or host:port. */
  constructor(readonly endpoint: string) {
    const target = endpoint.replace(/^https?:\/\//, '');
    const c = clients();
    const creds = grpc.credentials.createInsecure();
    this.kv = new c.KV(target, creds, channelOptions);
    // One channel for the rest: lease, maintenance, cluster and watch share it.
    const channel = this.kv.getChannel();
    this.lease = new c.Lease(target, creds, { channelOverride: channel });
    this.maintenance = new c.Maintenance(target, creds, { channelOverride: channel });
    this.cluster = new c.Cluster(target, creds, { channelOverride: channel });
    this.watchClient = new c.Watch(target, creds, { channelOverride: channel });
  }

  private unary<T>(client: grpc.Client, method: string, req: unknown, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.closed) {
        reject(new CallError(grpc.status.CANCELLED, 'client closed', true));
        return;
      }
      const fn = (client as unknown as Record<string, UnaryMethod>)[method];
      if (fn === undefined) throw new Error(`no method ${method}`);
      fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err !== null) reject(toError(err));
        else resolve(res as T);
      });
    });
  }

  range(key: string, opts: { rangeEnd?: string; serializable?: boolean; revision?: number; timeoutMs: number }): Promise<RangeResponse> {
    const req: Record<string, unknown> = { key: buf(key), serializable: opts.serializable ?? false };
    if (opts.rangeEnd !== undefined) req.range_end = buf(opts.rangeEnd);
    if (opts.revision !== undefined) req.revision = String(opts.revision);
    return this.unary(this.kv, 'Range', req, opts.timeoutMs);
  }

  put(key: string, value: string, opts: { lease?: string; timeoutMs: number }): Promise<PutResponse> {
    return this.unary(this.kv, 'Put', { key: buf(key), value: buf(value), lease: opts.lease ?? '0' }, opts.timeoutMs);
  }

  txn(compare: Compare[], success: RequestOp[], failure: RequestOp[], timeoutMs: number): Promise<TxnResponse> {
    return this.unary(
      this.kv,
      'Txn',
      { compare: compare.map(compareToWire), success: success.map(opToWire), failure: failure.map(opToWire) },
      timeoutMs,
    );
  }

  deleteKey(key: string, timeoutMs: number): Promise<{ header: ResponseHeader; deleted: string }> {
    return this.unary(this.kv, 'DeleteRange', { key: buf(key) }, timeoutMs);
  }

  leaseGrant(ttlSeconds: number, timeoutMs: number): Promise<{ header: ResponseHeader; ID: string; TTL: string; error: string }> {
    return this.unary(this.lease, 'LeaseGrant', { TTL: String(ttlSeconds), ID: '0' }, timeoutMs);
  }

  leaseRevoke(id: string, timeoutMs: number): Promise<{ header: ResponseHeader }> {
    return this.unary(this.lease, 'LeaseRevoke', { ID: id }, timeoutMs);
  }

  /** One keep-alive round trip on its own short stream; resolves with the TTL left (<= 0: gone). */
  leaseKeepAliveOnce(id: string, timeoutMs: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const fn = (this.lease as unknown as Record<string, (md: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientDuplexStream<unknown, { TTL: string }>>).LeaseKeepAlive;
      if (fn === undefined) throw new Error('no LeaseKeepAlive');
      const call = fn.call(this.lease, new grpc.Metadata(), { deadline: Date.now() + timeoutMs });
      let done = false;
      call.on('data', (res: { TTL: string }) => {
        if (done) return;
        done = true;
        resolve(Number(res.TTL));
        call.cancel();
      });
      call.on('error', (err: grpc.ServiceError) => {
        if (done) return;
        done = true;
        reject(toError(err));
      });
      call.on('end', () => {
        if (!done) {
          done = true;
          reject(new CallError(grpc.status.UNAVAILABLE, 'keep-alive stream ended without an answer', false));
        }
      });
      call.write({ ID: id });
    });
  }

  status(timeoutMs: number): Promise<StatusResponse> {
    return this.unary(this.maintenance, 'Status', {}, timeoutMs);
  }

  moveLeader(targetIdDecimal: string, timeoutMs: number): Promise<unknown> {
    return this.unary(this.maintenance, 'MoveLeader', { targetID: targetIdDecimal }, timeoutMs);
  }

  memberList(timeoutMs: number): Promise<{ header: ResponseHeader; members: Member[] }> {
    return this.unary(this.cluster, 'MemberList', {}, timeoutMs);
  }

  memberAdd(peerURLs: string[], timeoutMs: number, isLearner = false): Promise<{ header: ResponseHeader; member: Member; members: Member[] }> {
    return this.unary(this.cluster, 'MemberAdd', { peerURLs, isLearner }, timeoutMs);
  }

  memberRemove(idDecimal: string, timeoutMs: number): Promise<{ header: ResponseHeader; members: Member[] }> {
    return this.unary(this.cluster, 'MemberRemove', { ID: idDecimal }, timeoutMs);
  }

  /** Opens a Watch stream (the caller sends create requests and reads responses). */
  watchStream(): grpc.ClientDuplexStream<Record<string, unknown>, WatchResponse> {
    const fn = (this.watchClient as unknown as Record<string, (md: grpc.Metadata) => grpc.ClientDuplexStream<Record<string, unknown>, WatchResponse>>).Watch;
    if (fn === undefined) throw new Error('no Watch');
    return fn.call(this.watchClient, new grpc.Metadata());
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.kv.close();
  }
}

/** Decimal uint64 (as the API returns IDs) to etcd's hex form. */
export function hexId(decimal: string): string {
  return BigInt(decimal).toString(16);
}

export function watchCreate(key: string, rangeEnd: string, startRevision: number): Record<string, unknown> {
  return { create_request: { key: buf(key), range_end: buf(rangeEnd), start_revision: String(startRevision), prev_kv: false } };
}
