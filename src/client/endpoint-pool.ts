// One grpc-js channel per endpoint, made on first use and shared by every service and by the
// per-endpoint views of a client (forEndpoint). Knows how to wait for a channel to connect within
// a dial timeout, failing fast when the connection was refused so the caller can try the next one.

import * as grpc from "@grpc/grpc-js";

import { silenceIpServerNameWarning } from "../tls/ip-servername-warning.js";
import { NotConnectedError } from "./client-errors.js";

export interface ChannelSettings {
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
  maxReceiveBytes: number;
  tls?: ClientTlsOptions;
}

/**
 * TLS towards the endpoints (etcdctl's --cacert, --cert, --key, --insecure-skip-tls-verify), as PEM.
 * Given at all, it makes endpoints without a scheme use TLS, as clientv3 does with a TLS config.
 */
export interface ClientTlsOptions {
  /** CAs that sign the servers' certificates; default: the system's. */
  ca?: Buffer;
  /** Client certificate and key, for servers with --client-cert-auth. */
  cert?: Buffer;
  key?: Buffer;
  /** Accept any server certificate (etcdctl's --insecure-skip-tls-verify; for tests only). */
  insecureSkipVerify?: boolean;
}

/**
 * An endpoint as etcdctl accepts it ("127.0.0.1:2379", "http://host:2379", "https://host:2379")
 * as a grpc-js target ("host:port") and whether to dial it with TLS: https:// always, http://
 * never, no scheme when TLS options are given (clientv3 3.4's rule).
 */
export function parseEndpoint(endpoint: string, tlsGiven: boolean): { target: string; secure: boolean } {
  const trimmed = endpoint.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(trimmed);
  if (scheme === null) {
    if (trimmed === "") throw new Error("empty endpoint");
    return { target: trimmed, secure: tlsGiven };
  }
  const name = (scheme[1] as string).toLowerCase();
  if (name !== "http" && name !== "https") throw new Error(`endpoint ${endpoint}: unsupported scheme ${name}://`);
  const rest = trimmed.slice(scheme[0].length).replace(/\/+$/, "");
  if (rest === "" || rest.includes("/")) throw new Error(`endpoint ${endpoint}: expected ${name}://host:port`);
  return { target: rest, secure: name === "https" };
}

/** The grpc-js target ("host:port") of an endpoint. */
export function endpointTarget(endpoint: string): string {
  return parseEndpoint(endpoint, false).target;
}

export class EndpointPool {
  private readonly clients = new Map<string, grpc.Client>();
  private closed = false;
  private secureCredentials: grpc.ChannelCredentials | undefined;

  constructor(private readonly settings: ChannelSettings) {}

  get isClosed(): boolean {
    return this.closed;
  }

  /** The channel-owning grpc-js client of an endpoint (created lazily; it connects on first use). */
  client(endpoint: string): grpc.Client {
    if (this.closed) throw new Error("client is closed");
    let client = this.clients.get(endpoint);
    if (client === undefined) {
      const { target, secure } = parseEndpoint(endpoint, this.settings.tls !== undefined);
      client = new grpc.Client(target, secure ? this.tlsCredentials() : grpc.credentials.createInsecure(), {
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

  /** One secure context for all endpoints. */
  private tlsCredentials(): grpc.ChannelCredentials {
    const tls = this.settings.tls ?? {};
    silenceIpServerNameWarning();
    this.secureCredentials ??= grpc.credentials.createSsl(
      tls.ca ?? null,
      tls.key ?? null,
      tls.cert ?? null,
      tls.insecureSkipVerify === true ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {},
    );
    return this.secureCredentials;
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
