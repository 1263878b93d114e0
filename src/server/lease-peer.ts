// The PeerLease service (proto/ketch/lease.proto): how a member that is not the leader gets a lease
// renewed, or its remaining TTL read, by the leader, which alone keeps the lease clocks. Served on
// the peer URLs next to the Raft transport, as etcd serves leasehttp on its peer URLs.

import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { peerChannelOptions } from '../transport/grpc-options.js';
import { NO_PEER_TLS, type PeerCredentials } from '../transport/peer-credentials.js';
import { peerUrlToTarget } from '../transport/peer-url.js';
import { protoRootDir } from '../util/proto-dir.js';

const CLUSTER_ID_METADATA = 'ketch-cluster-id';

export type PeerRenewAnswer = { kind: 'renewed'; ttlSeconds: number } | { kind: 'not-found' } | { kind: 'not-primary' };

export interface PeerTimeToLive {
  kind: 'ok';
  ttlSeconds: number;
  grantedTtlSeconds: number;
  keys: Buffer[];
}
export type PeerTimeToLiveAnswer = PeerTimeToLive | { kind: 'not-found' } | { kind: 'not-primary' };

/** What the leader side does with a forwarded call (the LeaseCoordinator). */
export interface PeerLeaseHandler {
  renewLocal(id: string): Promise<PeerRenewAnswer>;
  timeToLiveLocal(id: string, keys: boolean): Promise<PeerTimeToLiveAnswer>;
}

type Msg = { [field: string]: unknown };

let definition: grpc.ServiceDefinition | undefined;

export function peerLeaseServiceDefinition(): grpc.ServiceDefinition {
  if (definition === undefined) {
    const root = protoRootDir();
    const pkg = protoLoader.loadSync(join(root, 'ketch', 'lease.proto'), {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
      includeDirs: [join(root, 'etcd'), join(root, 'ketch')],
    });
    const def = pkg['ketch.leasepb.PeerLease'];
    if (def === undefined || 'format' in def) throw new Error('ketch.leasepb.PeerLease is not a service in proto/ketch/lease.proto');
    definition = def as grpc.ServiceDefinition;
  }
  return definition;
}

/** The PeerLease handlers for the peer gRPC server. Refuses callers from another cluster. */
export function peerLeaseHandlers(clusterId: string, handler: PeerLeaseHandler): grpc.UntypedServiceImplementation {
  const checkCluster = (call: grpc.ServerUnaryCall<Msg, Msg>): Partial<grpc.StatusObject> | undefined => {
    const got = call.metadata.get(CLUSTER_ID_METADATA)[0];
    if (String(got ?? '') === clusterId) return undefined;
    return { code: grpc.status.FAILED_PRECONDITION, details: `lease request from cluster ${String(got ?? '')}, this is cluster ${clusterId}` };
  };
  const answer = <T extends { kind: string }>(
    call: grpc.ServerUnaryCall<Msg, Msg>,
    callback: grpc.sendUnaryData<Msg>,
    work: () => Promise<T>,
    toResponse: (a: T) => Msg,
  ): void => {
    const refusal = checkCluster(call);
    if (refusal !== undefined) {
      callback(refusal, null);
      return;
    }
    work().then(
      (a) => {
        if (a.kind === 'not-found') callback({ code: grpc.status.NOT_FOUND, details: 'lease not found' }, null);
        else if (a.kind === 'not-primary') callback({ code: grpc.status.FAILED_PRECONDITION, details: 'not a primary lessor' }, null);
        else callback(null, toResponse(a));
      },
      (err: unknown) => callback({ code: grpc.status.UNAVAILABLE, details: (err as Error)?.message ?? String(err) }, null),
    );
  };
  return {
    Renew: (call: grpc.ServerUnaryCall<Msg, Msg>, callback: grpc.sendUnaryData<Msg>) => {
      const id = String(call.request.ID);
      answer(call, callback, () => handler.renewLocal(id), (a) =>
        a.kind === 'renewed' ? { ID: id, TTL: String(a.ttlSeconds) } : {},
      );
    },
    TimeToLive: (call: grpc.ServerUnaryCall<Msg, Msg>, callback: grpc.sendUnaryData<Msg>) => {
      const id = String(call.request.ID);
      answer(call, callback, () => handler.timeToLiveLocal(id, call.request.keys === true), (a) =>
        a.kind === 'ok' ? { ID: id, TTL: String(a.ttlSeconds), grantedTTL: String(a.grantedTtlSeconds), keys: a.keys } : {},
      );
    },
  };
}

/** A call that reached no leader that could answer: try again (the caller decides how long). */
export class PeerLeaseUnavailable extends Error {}

/** Calls PeerLease on the leader's peer URLs; one channel per target, kept open. */
export class PeerLeaseClient {
  private readonly clients = new Map<string, grpc.Client>();
  private closed = false;

  constructor(
    private readonly clusterId: string,
    private readonly credentials: PeerCredentials = NO_PEER_TLS,
  ) {}

  async renew(leaderUrls: readonly string[], id: string, attemptTimeoutMs: number): Promise<PeerRenewAnswer> {
    const res = await this.call(leaderUrls, 'Renew', { ID: id }, attemptTimeoutMs);
    if (res === 'not-found' || res === 'not-primary') return { kind: res };
    return { kind: 'renewed', ttlSeconds: Number(res.TTL) };
  }

  async timeToLive(leaderUrls: readonly string[], id: string, keys: boolean, attemptTimeoutMs: number): Promise<PeerTimeToLiveAnswer> {
    const res = await this.call(leaderUrls, 'TimeToLive', { ID: id, keys }, attemptTimeoutMs);
    if (res === 'not-found' || res === 'not-primary') return { kind: res };
    return {
      kind: 'ok',
      ttlSeconds: Number(res.TTL),
      grantedTtlSeconds: Number(res.grantedTTL),
      keys: Array.isArray(res.keys) ? (res.keys as Buffer[]) : [],
    };
  }

  close(): void {
    this.closed = true;
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  /** Tries each URL in turn; NOT_FOUND and FAILED_PRECONDITION are answers, anything else moves on. */
  private async call(urls: readonly string[], method: 'Renew' | 'TimeToLive', req: Msg, attemptTimeoutMs: number): Promise<Msg | 'not-found' | 'not-primary'> {
    let last: Error = new PeerLeaseUnavailable('the leader has no usable peer URL');
    for (const url of urls) {
      if (this.closed) throw new PeerLeaseUnavailable('lease forwarding stopped');
      let client: grpc.Client;
      try {
        client = this.client(url);
      } catch (err) {
        last = err as Error;
        continue;
      }
      const m = peerLeaseServiceDefinition()[method] as grpc.MethodDefinition<Msg, Msg>;
      const metadata = new grpc.Metadata();
      metadata.set(CLUSTER_ID_METADATA, this.clusterId);
      try {
        return await new Promise<Msg>((resolve, reject) => {
          client.makeUnaryRequest<Msg, Msg>(
            m.path,
            m.requestSerialize,
            m.responseDeserialize,
            req,
            metadata,
            { deadline: Date.now() + attemptTimeoutMs },
            (err, res) => (err !== null ? reject(err) : resolve(res ?? {})),
          );
        });
      } catch (err) {
        const code = (err as grpc.ServiceError).code;
        if (code === grpc.status.NOT_FOUND) return 'not-found';
        if (code === grpc.status.FAILED_PRECONDITION) return 'not-primary';
        last = new PeerLeaseUnavailable(`lease ${method} via ${url}: ${(err as Error).message}`);
      }
    }
    throw last;
  }

  private client(url: string): grpc.Client {
    const target = peerUrlToTarget(url);
    let c = this.clients.get(target);
    if (c === undefined) {
      c = new grpc.Client(target, this.credentials.forUrl(url), peerChannelOptions);
      this.clients.set(target, c);
    }
    return c;
  }
}
