// One etcd Watch stream (a bidirectional gRPC call) on one endpoint: send create / cancel /
// progress requests, receive every WatchResponse. It does not reconnect; watch-key.ts builds the
// resuming watcher on top of it.

import { EventEmitter } from "node:events";

import type * as grpc from "@grpc/grpc-js";

import { type EtcdError, toEtcdError } from "./client-errors.js";
import type { Int64In, WatchCreateRequest, WatchRequest, WatchResponse } from "./messages.js";

export interface OpenedWatchCall {
  call: grpc.ClientDuplexStream<WatchRequest, WatchResponse>;
  endpoint: string;
}

interface WatchStreamEvents {
  /** Every response of the stream, in order: created, events, progress, canceled. */
  response: [WatchResponse];
  /** Once: the stream ended; `error` is undefined when it was closed by us or ended cleanly. */
  close: [EtcdError | undefined];
}

interface PendingCreate {
  resolve(response: WatchResponse): void;
  reject(error: EtcdError): void;
}

/**
 * Requests sent before the stream is open are queued. `create` resolves with the response that
 * has `created: true` for it: etcd answers create requests in the order it received them, so a
 * FIFO of waiters matches them (a create that etcd refuses still gets one, with `canceled: true`).
 * Listen to "close" to learn that the stream died (there is no "error" event, so an unwatched
 * failure can never crash the process); `closed` resolves with the same value.
 */
export class WatchStream extends EventEmitter<WatchStreamEvents> {
  /** The endpoint the stream runs on, once open. */
  endpoint: string | undefined;
  readonly closed: Promise<EtcdError | undefined>;
  private call: grpc.ClientDuplexStream<WatchRequest, WatchResponse> | undefined;
  private queued: WatchRequest[] = [];
  private readonly pendingCreates: PendingCreate[] = [];
  private ended = false;
  private resolveClosed!: (error: EtcdError | undefined) => void;

  constructor(open: Promise<OpenedWatchCall>) {
    super();
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    open.then(
      (opened) => this.attach(opened),
      (error: unknown) => this.finish(toEtcdError(error)),
    );
  }

  /** Starts a watcher; resolves with its `created` response (check `canceled` on it). */
  create(request: WatchCreateRequest): Promise<WatchResponse> {
    return new Promise((resolve, reject) => {
      if (this.ended) {
        this.closed.then((error) => reject(error ?? toEtcdError(new Error("watch stream is closed"))), reject);
        return;
      }
      this.pendingCreates.push({ resolve, reject });
      this.send({ create_request: request });
    });
  }

  /** Asks etcd to cancel one watcher; its response has `canceled: true`. */
  cancel(watchId: Int64In): void {
    this.send({ cancel_request: { watch_id: watchId } });
  }

  /** Asks for a progress notification (a response with no events and watch_id -1 in etcd 3.4). */
  progress(): void {
    this.send({ progress_request: {} });
  }

  /** Ends the stream from our side; "close" follows with no error. */
  close(): void {
    if (this.ended) return;
    const call = this.call;
    this.finish(undefined);
    call?.cancel();
  }

  private send(request: WatchRequest): void {
    if (this.ended) return;
    if (this.call === undefined) this.queued.push(request);
    else this.call.write(request);
  }

  private attach(opened: OpenedWatchCall): void {
    if (this.ended) {
      opened.call.cancel();
      return;
    }
    this.call = opened.call;
    this.endpoint = opened.endpoint;
    const call = opened.call;
    call.on("data", (response: WatchResponse) => {
      if (response.created) this.pendingCreates.shift()?.resolve(response);
      this.emit("response", response);
    });
    call.on("error", (error: Error) => this.finish(toEtcdError(error)));
    call.on("end", () => this.finish(undefined));
    for (const request of this.queued) call.write(request);
    this.queued = [];
  }

  private finish(error: EtcdError | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.queued = [];
    const reason = error ?? toEtcdError(new Error("watch stream is closed"));
    for (const pending of this.pendingCreates.splice(0)) pending.reject(reason);
    this.resolveClosed(error);
    this.emit("close", error);
  }
}
