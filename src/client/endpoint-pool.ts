// One grpc-js channel per endpoint, made on first use and shared by every service and by the
// per-endpoint views of a client (forEndpoint). Knows how to wait for a channel to connect within
// a dial timeout, failing fast when the connection was refused so the caller can try the next one.

import * as grpc from "@grpc/grpc-js";

import { NotConnectedError } from "./client-errors.js";

export interface ChannelSettings {
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
  maxReceiveBytes: number;
}

/**
 * An endpoint as etcdctl accepts it ("127.0.0.1:2379", "http://host:2379", "localhost:2379") as a
 * grpc-js target ("host:port"). TLS is not supported, so https:// is refused rather than sent in clear.
 */
export function endpointTarget(endpoint: string): string {
  const trimmed = endpoint.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(trimmed);
  if (scheme === null) {
    if (trimmed === "") throw new Error("empty endpoint");
    return trimmed;
  }
  const name = (scheme[1] as string).toLowerCase();
  if (name === "https" || name === "unixs") throw new Error(`endpoint ${endpoint}: TLS endpoints are not supported`);
  if (name !== "http") throw new Error(`endpoint ${endpoint}: unsupported scheme ${name}://`);
  const rest = trimmed.slice(scheme[0].length).replace(/\/+$/, "");
  if (rest === "" || rest.includes("/")) throw new Error(`endpoint ${endpoint}: expected http://host:port`);
  return rest;
}

export class EndpointPool {
  private readonly clients = new Map<string, grpc.Client>();
  private closed = false;

  constructor(private readonly settings: ChannelSettings) {}

  get isClosed(): boolean {
    return this.closed;
  }

  /** The channel-owning grpc-js client of an endpoint (created lazily; it connects on first use). */
  client(endpoint: string): grpc.Client {
    if (this.closed) throw new Error("client is closed");
    let client = this.clients.get(endpoint);
    if (client === undefined) {
      client = new grpc.Client(endpointTarget(endpoint), grpc.credentials.createInsecure(), {
        "grpc.max_receive_message_length": this.settings.maxReceiveBytes,
        "grpc.max_send_message_length": -1,
        "grpc.keepalive_time_ms": this.settings.keepaliveTimeMs,
        "grpc.keepalive_timeout_ms": this.settings.keepaliveTimeoutMs,
        // A member that restarts should be used again soon, not after grpc's 1 s..120 s backoff.
        "grpc.initial_reconnect_backoff_ms": 100,
        "grpc.max_reconnect_backoff_ms": 2000,
        // Own subchannels: another client in the process must not share our connection state.
        "grpc.use_local_subchannel_pool": 1,
      });
      this.clients.set(endpoint, client);
    }
    return client;
  }

  /**
   * Resolves once the endpoint's channel is READY. Rejects with NotConnectedError when the
   * connection fails (TRANSIENT_FAILURE: refused, reset) or is not up by `deadlineMs`.
   */
  waitReady(endpoint: string, deadlineMs: number): Promise<void> {
    const channel = this.client(endpoint).getChannel();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const state = channel.getConnectivityState(true);
        if (state === grpc.connectivityState.READY) {
          resolve();
          return;
        }
        if (state === grpc.connectivityState.TRANSIENT_FAILURE) {
          reject(new NotConnectedError(endpoint, "connection failed"));
          return;
        }
        if (state === grpc.connectivityState.SHUTDOWN) {
          reject(new NotConnectedError(endpoint, "client is closed"));
          return;
        }
        if (Date.now() >= deadlineMs) {
          reject(new NotConnectedError(endpoint, "dial timeout"));
          return;
        }
        channel.watchConnectivityState(state, deadlineMs, (error) => {
          if (error !== undefined) reject(new NotConnectedError(endpoint, "dial timeout"));
          else check();
        });
      };
      check();
    });
  }

  isReady(endpoint: string): boolean {
    return this.client(endpoint).getChannel().getConnectivityState(false) === grpc.connectivityState.READY;
  }

  close(): void {
    this.closed = true;
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}
