// The etcd v3 client: every RPC of KV, Lease, Cluster and Maintenance as a promise, Watch and
// LeaseKeepAlive as streams, over grpc-js with endpoint failover.
//
// Failover: the client sticks to one endpoint (the first at start) and moves to the next when a
// call fails in a way that says the endpoint is unusable. The failed call is sent again, to the
// next endpoint, only when that is safe (client-errors.ts: reads and idempotent requests on
// UNAVAILABLE; writes only when they surely never left the client), until the request deadline.

import * as grpc from "@grpc/grpc-js";

import {
  clientClosed,
  deadlineExceeded,
  EtcdError,
  isSafeRetry,
  neverReachedServer,
  NotConnectedError,
  type RetryPolicy,
  toEtcdError,
} from "./client-errors.js";
import { etcdMethod, type EtcdServiceName } from "./etcd-codec.js";
import { type ClientTlsOptions, EndpointPool } from "./endpoint-pool.js";
import { type KeepAliveCall, keepLeaseAlive, type LeaseKeeper, leaseNotFoundMessage } from "./lease-keeper.js";
import type {
  AlarmRequest,
  AlarmResponse,
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  Event,
  HashKVResponse,
  HashResponse,
  HeaderResponse,
  Int64In,
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeResponse,
  LeaseTimeToLiveResponse,
  MemberAddResponse,
  MemberChangeResponse,
  MemberListResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  SnapshotResponse,
  StatusResponse,
  TxnRequest,
  TxnResponse,
  WatchRequest,
  WatchResponse,
} from "./messages.js";
import { type KeyWatcher, watchKey, type WatchKeyOptions } from "./watch-key.js";
import { type OpenedWatchCall, WatchStream } from "./watch-stream.js";

export interface EtcdClientOptions {
  /** "host:port" or "http://host:port"; at least one. */
  endpoints: readonly string[];
  /** How long to wait for one endpoint's connection before trying the next (etcdctl: 2 s). */
  dialTimeoutMs?: number;
  /** Deadline of each unary request, retries included (etcdctl's --command-timeout: 5 s). */
  requestTimeoutMs?: number;
  /** HTTP/2 keepalive pings on idle connections with open streams (default 10 s; etcd allows >= 5 s). */
  keepaliveTimeMs?: number;
  /** A connection whose ping is unanswered this long is dropped (default 6 s, as etcdctl). */
  keepaliveTimeoutMs?: number;
  /** Largest response accepted (default 2 GiB - 1, as clientv3). */
  maxReceiveBytes?: number;
  /** Authenticate as this user (etcd's Auth); the token then goes with every call. */
  user?: { name: string; password: string };
  /** TLS (CA, client certificate and key as PEM); endpoints without a scheme then use TLS too. */
  tls?: ClientTlsOptions;
}

export interface CallOptions {
  /** Overrides requestTimeoutMs for this call. */
  timeoutMs?: number;
  /** Aborting cancels the call (the error says "context canceled"). */
  signal?: AbortSignal;
}

const defaults = {
  dialTimeoutMs: 2000,
  requestTimeoutMs: 5000,
  keepaliveTimeMs: 10_000,
  keepaliveTimeoutMs: 6000,
  maxReceiveBytes: 2 ** 31 - 1,
};

/** Linear backoff between retries, as clientv3 (25 ms steps), capped. */
const retryStepMs = 25;
const retryMaxMs = 500;

interface Shared {
  pool: EndpointPool;
  dialTimeoutMs: number;
  requestTimeoutMs: number;
  auth?: TokenState;
}

/** clientv3's token credential: fetched by Authenticate, sent as metadata "token". */
interface TokenState {
  readonly name: string;
  readonly password: string;
  token?: string;
  /** The server said auth is not enabled: calls go without a token, as clientv3's do. */
  notEnabled?: boolean;
  fetching?: Promise<void>;
}

const invalidAuthTokenMessage = "etcdserver: invalid auth token";
const authNotEnabledMessage = "etcdserver: authentication is not enabled";

export class EtcdClient {
  readonly endpoints: readonly string[];
  private readonly shared: Shared;
  /** Index into endpoints of the endpoint calls go to first. */
  private active = 0;
  /** Only the client made by the constructor closes the shared pool. */
  private readonly ownsPool: boolean;

  constructor(options: EtcdClientOptions);
  constructor(options: EtcdClientOptions, shared: Shared);
  constructor(options: EtcdClientOptions, shared?: Shared) {
    if (options.endpoints.length === 0) throw new Error("no endpoints given");
    this.endpoints = [...options.endpoints];
    this.ownsPool = shared === undefined;
    this.shared = shared ?? {
      pool: new EndpointPool({
        keepaliveTimeMs: options.keepaliveTimeMs ?? defaults.keepaliveTimeMs,
        keepaliveTimeoutMs: options.keepaliveTimeoutMs ?? defaults.keepaliveTimeoutMs,
        maxReceiveBytes: options.maxReceiveBytes ?? defaults.maxReceiveBytes,
        ...(options.tls !== undefined ? { tls: options.tls } : {}),
      }),
      dialTimeoutMs: options.dialTimeoutMs ?? defaults.dialTimeoutMs,
      requestTimeoutMs: options.requestTimeoutMs ?? defaults.requestTimeoutMs,
      ...(options.user === undefined ? {} : { auth: { name: options.user.name, password: options.user.password } }),
    };
  }

  /** A client for one endpoint only (no failover), sharing this client's connections. */
  forEndpoint(endpoint: string): EtcdClient {
    return new EtcdClient({ endpoints: [endpoint] }, this.shared);
  }

  /** The endpoint the next call goes to first. */
  get activeEndpoint(): string {
    return this.endpoints[this.active] as string;
  }

  /** Closes every connection (of this client and of its forEndpoint views). */
  close(): void {
    if (this.ownsPool) this.shared.pool.close();
  }

  // ---- KV

  range(request: RangeRequest, options?: CallOptions): Promise<RangeResponse> {
    return this.unary("KV", "Range", request, "repeatable", options);
  }

  put(request: PutRequest, options?: CallOptions): Promise<PutResponse> {
    return this.unary("KV", "Put", request, "nonRepeatable", options);
  }

  deleteRange(request: DeleteRangeRequest, options?: CallOptions): Promise<DeleteRangeResponse> {
    return this.unary("KV", "DeleteRange", request, "nonRepeatable", options);
  }

  txn(request: TxnRequest, options?: CallOptions): Promise<TxnResponse> {
    return this.unary("KV", "Txn", request, isReadOnlyTxn(request) ? "repeatable" : "nonRepeatable", options);
  }

  compact(request: CompactionRequest, options?: CallOptions): Promise<CompactionResponse> {
    return this.unary("KV", "Compact", request, "repeatable", options);
  }

  // ---- Lease

  leaseGrant(request: LeaseGrantRequest, options?: CallOptions): Promise<LeaseGrantResponse> {
    return this.unary("Lease", "LeaseGrant", request, "repeatable", options);
  }

  leaseRevoke(id: Int64In, options?: CallOptions): Promise<LeaseRevokeResponse> {
    return this.unary("Lease", "LeaseRevoke", { ID: id }, "repeatable", options);
  }

  leaseTimeToLive(id: Int64In, keys = false, options?: CallOptions): Promise<LeaseTimeToLiveResponse> {
    return this.unary("Lease", "LeaseTimeToLive", { ID: id, keys }, "repeatable", options);
  }

  leaseLeases(options?: CallOptions): Promise<LeaseLeasesResponse> {
    return this.unary("Lease", "LeaseLeases", {}, "repeatable", options);
  }

  /** Keeps a lease alive until stop() or until it is gone; see lease-keeper.ts. */
  leaseKeepAlive(id: Int64In, onResponse?: (response: LeaseKeepAliveResponse) => void): LeaseKeeper {
    return keepLeaseAlive(
      { openKeepAlive: () => this.openKeepAlive(), rotateFrom: (endpoint) => this.rotateFrom(endpoint) },
      id,
      onResponse,
    );
  }

  /**
   * One keep-alive round trip. Throws EtcdError NOT_FOUND "etcdserver: requested lease not found"
   * when etcd answers TTL <= 0, as clientv3's KeepAliveOnce does.
   */
  async leaseKeepAliveOnce(id: Int64In, options?: CallOptions): Promise<LeaseKeepAliveResponse> {
    await this.authenticate();
    const deadlineMs = Date.now() + (options?.timeoutMs ?? this.shared.requestTimeoutMs);
    const response = await this.withRetries("repeatable", deadlineMs, options?.signal, async (endpoint) => {
      const call = this.client(endpoint).makeBidiStreamRequest(
        keepAliveMethod().path,
        keepAliveMethod().serialize,
        keepAliveMethod().deserialize,
        this.callMetadata(),
        { deadline: deadlineMs },
      ) as KeepAliveCall;
      return await new Promise<LeaseKeepAliveResponse>((resolve, reject) => {
        const abort = (): void => call.cancel();
        options?.signal?.addEventListener("abort", abort, { once: true });
        call.once("data", (message: LeaseKeepAliveResponse) => {
          options?.signal?.removeEventListener("abort", abort);
          resolve(message);
          call.cancel();
        });
        call.on("error", (error: Error) => {
          options?.signal?.removeEventListener("abort", abort);
          reject(error);
        });
        call.write({ ID: id });
      });
    });
    if (Number(response.TTL) <= 0) throw new EtcdError(grpc.status.NOT_FOUND, leaseNotFoundMessage);
    return response;
  }

  // ---- Cluster

  memberList(options?: CallOptions): Promise<MemberListResponse> {
    return this.unary("Cluster", "MemberList", {}, "repeatable", options);
  }

  memberAdd(peerURLs: readonly string[], isLearner = false, options?: CallOptions): Promise<MemberAddResponse> {
    return this.unary("Cluster", "MemberAdd", { peerURLs, isLearner }, "nonRepeatable", options);
  }

  memberRemove(id: Int64In, options?: CallOptions): Promise<MemberChangeResponse> {
    return this.unary("Cluster", "MemberRemove", { ID: id }, "nonRepeatable", options);
  }

  memberUpdate(id: Int64In, peerURLs: readonly string[], options?: CallOptions): Promise<MemberChangeResponse> {
    return this.unary("Cluster", "MemberUpdate", { ID: id, peerURLs }, "nonRepeatable", options);
  }

  memberPromote(id: Int64In, options?: CallOptions): Promise<MemberChangeResponse> {
    return this.unary("Cluster", "MemberPromote", { ID: id }, "nonRepeatable", options);
  }

  // ---- Maintenance (Status, HashKV, Defragment and MoveLeader are about the endpoint that answers:
  // use forEndpoint() to pick it)

  status(options?: CallOptions): Promise<StatusResponse> {
    return this.unary("Maintenance", "Status", {}, "repeatable", options);
  }

  hash(options?: CallOptions): Promise<HashResponse> {
    return this.unary("Maintenance", "Hash", {}, "repeatable", options);
  }

  hashKV(revision: Int64In = 0, options?: CallOptions): Promise<HashKVResponse> {
    return this.unary("Maintenance", "HashKV", { revision }, "repeatable", options);
  }

  alarm(request: AlarmRequest, options?: CallOptions): Promise<AlarmResponse> {
    return this.unary("Maintenance", "Alarm", request, "repeatable", options);
  }

  defragment(options?: CallOptions): Promise<HeaderResponse> {
    return this.unary("Maintenance", "Defragment", {}, "nonRepeatable", options);
  }

  /** Must be sent to the leader's endpoint; targetID is the new leader's member ID. */
  moveLeader(targetID: Int64In, options?: CallOptions): Promise<HeaderResponse> {
    return this.unary("Maintenance", "MoveLeader", { targetID }, "repeatable", options);
  }

  /**
   * The backend snapshot as a stream of chunks; the last chunk holds the 32-byte SHA-256 of all
   * the others. No deadline unless options.timeoutMs is given (a large database takes a while).
   */
  async *snapshot(options?: CallOptions): AsyncGenerator<SnapshotResponse> {
    await this.authenticate();
    const endpoint = await this.readyEndpoint(Date.now() + (options?.timeoutMs ?? this.shared.requestTimeoutMs));
    const method = etcdMethod<Record<string, never>, SnapshotResponse>("Maintenance", "Snapshot");
    const callOptions: grpc.CallOptions = options?.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs };
    const call = this.client(endpoint).makeServerStreamRequest(
      method.path,
      method.serialize,
      method.deserialize,
      {},
      this.callMetadata(),
      callOptions,
    );
    const abort = (): void => call.cancel();
    options?.signal?.addEventListener("abort", abort, { once: true });
    try {
      for await (const chunk of call as AsyncIterable<SnapshotResponse>) yield chunk;
    } catch (error) {
      throw toEtcdError(error);
    } finally {
      options?.signal?.removeEventListener("abort", abort);
      call.cancel();
    }
  }

  // ---- Watch

  /**
   * A raw Watch stream on the active endpoint. With requireLeader (default true, as etcdctl) the
   * server ends the stream with "etcdserver: no leader" when its member loses the leader.
   */
  watch(options: { requireLeader?: boolean } = {}): WatchStream {
    return new WatchStream(this.openWatch(options.requireLeader ?? true));
  }

  /**
   * Watches key (or [key, rangeEnd)) from `fromRevision` (0: from now), resuming on another
   * endpoint after failures without gaps or repeats; see watch-key.ts.
   */
  watchKey(
    key: Buffer,
    fromRevision: Int64In,
    onEvents: (events: Event[], response: WatchResponse) => void,
    options?: WatchKeyOptions,
  ): KeyWatcher {
    return watchKey(
      { watch: () => this.watch(), rotateFrom: (endpoint) => this.rotateFrom(endpoint) },
      key,
      fromRevision,
      onEvents,
      options,
    );
  }

  // ---- internals

  /** Moves calls off `endpoint` (if it is still the active one) to the next endpoint. */
  rotateFrom(endpoint: string | undefined): void {
    if (endpoint !== undefined && this.activeEndpoint === endpoint) {
      this.active = (this.active + 1) % this.endpoints.length;
    }
  }

  private client(endpoint: string): grpc.Client {
    if (this.shared.pool.isClosed) throw clientClosed();
    return this.shared.pool.client(endpoint);
  }

  private async unary<Req, Res>(
    service: EtcdServiceName,
    name: string,
    request: Req,
    policy: RetryPolicy,
    options?: CallOptions,
  ): Promise<Res> {
    const auth = this.shared.auth;
    if (auth === undefined || name === "Authenticate") return this.unaryOnce(service, name, request, policy, options);
    await this.authenticate();
    try {
      return await this.unaryOnce(service, name, request, policy, options);
    } catch (error) {
      // The member forgot the token (restart, expiry, snapshot): authenticate again, once (clientv3's retryAuth).
      if (!(error instanceof EtcdError) || error.message !== invalidAuthTokenMessage) throw error;
      auth.token = undefined;
      await this.authenticate();
      return this.unaryOnce(service, name, request, policy, options);
    }
  }

  /** The call's metadata: the auth token when there is one. */
  private callMetadata(): grpc.Metadata {
    const metadata = new grpc.Metadata();
    const token = this.shared.auth?.token;
    if (token !== undefined) metadata.set("token", token);
    return metadata;
  }

  /**
   * Fetches a token for the configured user unless one is held (etcd's Authenticate). A server
   * without auth enabled answers "authentication is not enabled"; calls then go without a token.
   */
  async authenticate(): Promise<void> {
    const auth = this.shared.auth;
    if (auth === undefined || auth.token !== undefined || auth.notEnabled === true) return;
    auth.fetching ??= (async () => {
      try {
        const r = await this.unaryOnce<{ name: string; password: string }, { token: string }>(
          "Auth",
          "Authenticate",
          { name: auth.name, password: auth.password },
          "repeatable",
        );
        auth.token = r.token;
      } catch (error) {
        if (error instanceof EtcdError && error.message === authNotEnabledMessage) auth.notEnabled = true;
        else throw error;
      } finally {
        auth.fetching = undefined;
      }
    })();
    await auth.fetching;
  }

  /** An Auth service call (user, role and auth commands). */
  authCall<Res>(name: string, request: object, options?: CallOptions): Promise<Res> {
    return this.unary("Auth", name, request, "nonRepeatable", options);
  }

  private unaryOnce<Req, Res>(
    service: EtcdServiceName,
    name: string,
    request: Req,
    policy: RetryPolicy,
    options?: CallOptions,
  ): Promise<Res> {
    const method = etcdMethod<Req, Res>(service, name);
    const deadlineMs = Date.now() + (options?.timeoutMs ?? this.shared.requestTimeoutMs);
    return this.withRetries(policy, deadlineMs, options?.signal, (endpoint) =>
      new Promise<Res>((resolve, reject) => {
        const call = this.client(endpoint).makeUnaryRequest(
          method.path,
          method.serialize,
          method.deserialize,
          request,
          this.callMetadata(),
          { deadline: deadlineMs },
          (error, response) => {
            options?.signal?.removeEventListener("abort", abort);
            if (error !== null) reject(error);
            else if (response === undefined) reject(new Error(`${method.path}: empty response`));
            else resolve(response);
          },
        );
        const abort = (): void => call.cancel();
        options?.signal?.addEventListener("abort", abort, { once: true });
      }),
    );
  }

  /**
   * Runs `attempt` on the active endpoint (once it is connected), moving to the next endpoint and
   * trying again while the failure allows it and the deadline has not passed.
   */
  private async withRetries<T>(
    policy: RetryPolicy,
    deadlineMs: number,
    signal: AbortSignal | undefined,
    attempt: (endpoint: string) => Promise<T>,
  ): Promise<T> {
    for (let tries = 1; ; tries++) {
      if (signal?.aborted === true) throw new EtcdError(grpc.status.CANCELLED, "context canceled");
      const endpoint = this.activeEndpoint;
      try {
        if (!this.shared.pool.isReady(endpoint)) {
          await this.shared.pool.waitReady(endpoint, Math.min(deadlineMs, Date.now() + this.shared.dialTimeoutMs));
        }
        return await attempt(endpoint);
      } catch (error) {
        if (error instanceof EtcdError) throw error;
        if (this.shared.pool.isClosed) throw clientClosed();
        if (neverReachedServer(error) || isSafeRetry(error, policy)) this.rotateFrom(endpoint);
        if (!isSafeRetry(error, policy)) throw toEtcdError(error);
        // Every endpoint was tried once: wait before the next round, as clientv3's backoff does.
        const remainingMs = deadlineMs - Date.now();
        if (remainingMs > 0 && tries % this.endpoints.length === 0) {
          await sleep(Math.min(remainingMs, retryStepMs * tries, retryMaxMs));
        }
        if (Date.now() >= deadlineMs) {
          // Out of time: clientv3 reports the context's error, not the last attempt's.
          throw error instanceof NotConnectedError || neverReachedServer(error) ? deadlineExceeded() : toEtcdError(error);
        }
      }
    }
  }

  /** The active endpoint once connected, trying the others in turn until the deadline. */
  private async readyEndpoint(deadlineMs: number): Promise<string> {
    return this.withRetries("repeatable", deadlineMs, undefined, (endpoint) => Promise.resolve(endpoint));
  }

  private async openWatch(requireLeader: boolean): Promise<OpenedWatchCall> {
    await this.authenticate();
    const endpoint = await this.readyEndpoint(Date.now() + this.shared.dialTimeoutMs * this.endpoints.length);
    const method = etcdMethod<WatchRequest, WatchResponse>("Watch", "Watch");
    const metadata = this.callMetadata();
    // clientv3.WithRequireLeader: the server cancels the stream when it has no leader.
    if (requireLeader) metadata.set("hasleader", "true");
    const call = this.client(endpoint).makeBidiStreamRequest(method.path, method.serialize, method.deserialize, metadata, {});
    return { call, endpoint };
  }

  private async openKeepAlive(): Promise<{ call: KeepAliveCall; endpoint: string }> {
    await this.authenticate();
    const endpoint = await this.readyEndpoint(Date.now() + this.shared.dialTimeoutMs * this.endpoints.length);
    const method = keepAliveMethod();
    const call = this.client(endpoint).makeBidiStreamRequest(method.path, method.serialize, method.deserialize, this.callMetadata(), {});
    return { call: call as KeepAliveCall, endpoint };
  }
}

function keepAliveMethod(): ReturnType<typeof etcdMethod<{ ID: Int64In }, LeaseKeepAliveResponse>> {
  return etcdMethod<{ ID: Int64In }, LeaseKeepAliveResponse>("Lease", "LeaseKeepAlive");
}

/** A txn whose every branch only reads may be retried like a Range. */
function isReadOnlyTxn(request: TxnRequest): boolean {
  const ops = [...(request.success ?? []), ...(request.failure ?? [])];
  return ops.every((op) => "request_range" in op || ("request_txn" in op && isReadOnlyTxn(op.request_txn)));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
