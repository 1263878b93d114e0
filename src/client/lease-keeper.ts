// Keeps one lease alive over a LeaseKeepAlive stream, as clientv3's KeepAlive does: a request
// every TTL/3 seconds after each answer, the stream reopened on the next endpoint when it breaks,
// and the end reported when etcd answers TTL <= 0 (the lease is gone) or no answer came for a
// whole TTL (the lease must be presumed expired).

import { status as GrpcStatus } from "@grpc/grpc-js";
import type * as grpc from "@grpc/grpc-js";

import { EtcdError, toEtcdError } from "./client-errors.js";
import type { Int64In, LeaseKeepAliveResponse } from "./messages.js";

export type KeepAliveCall = grpc.ClientDuplexStream<{ ID: Int64In }, LeaseKeepAliveResponse>;

/** What the keeper needs from the client. */
export interface KeepAliveSource {
  openKeepAlive(): Promise<{ call: KeepAliveCall; endpoint: string }>;
  rotateFrom(endpoint: string | undefined): void;
}

export interface LeaseKeeper {
  /** Resolves when keeping stops: undefined after stop(), else why (lease not found / expired). */
  readonly closed: Promise<EtcdError | undefined>;
  stop(): void;
}

export const leaseNotFoundMessage = "etcdserver: requested lease not found";
const retryDelayMs = 500;
const minIntervalMs = 500;
/**
 * How long an unanswered keep-alive waits before the stream is given up for the next endpoint.
 * Generous on purpose: on a loaded machine a follower's forwarded renewal can take seconds, and
 * giving up too early would cycle through the endpoints without ever renewing (HTTP/2 keepalive
 * pings catch dead connections anyway).
 */
const answerTimeoutMs = 5000;

export function keepLeaseAlive(
  source: KeepAliveSource,
  leaseId: Int64In,
  onResponse?: (response: LeaseKeepAliveResponse) => void,
): LeaseKeeper {
  let stopped = false;
  let currentCall: KeepAliveCall | undefined;
  let wake: (() => void) | undefined;
  /** When the lease must be presumed expired if no answer arrives (ms since epoch). */
  let expiresAtMs = Number.POSITIVE_INFINITY;

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });

  const run = async (): Promise<EtcdError | undefined> => {
    while (!stopped) {
      if (Date.now() > expiresAtMs) return new EtcdError(GrpcStatus.NOT_FOUND, leaseNotFoundMessage);
      let opened: { call: KeepAliveCall; endpoint: string };
      try {
        opened = await source.openKeepAlive();
      } catch (error) {
        const etcdError = toEtcdError(error);
        if (etcdError.grpcCode !== GrpcStatus.UNAVAILABLE) return etcdError;
        await sleep(retryDelayMs);
        continue;
      }
      if (stopped) {
        opened.call.cancel();
        return undefined;
      }
      currentCall = opened.call;
      const outcome = await keepOnStream(opened.call);
      currentCall = undefined;
      if (stopped) return undefined;
      if (outcome !== "retry") return outcome;
      source.rotateFrom(opened.endpoint);
      await sleep(retryDelayMs);
    }
    return undefined;
  };

  /** Drives one stream; "retry" when it broke (or went silent) in a way another endpoint may fix. */
  const keepOnStream = (call: KeepAliveCall): Promise<EtcdError | "retry"> =>
    new Promise((resolve) => {
      let nextRequest: NodeJS.Timeout | undefined;
      let answerDeadline: NodeJS.Timeout | undefined;
      const finish = (outcome: EtcdError | "retry"): void => {
        clearTimeout(nextRequest);
        clearTimeout(answerDeadline);
        call.removeAllListeners("data");
        call.cancel();
        resolve(outcome);
      };
      const request = (): void => {
        if (Date.now() > expiresAtMs) {
          finish(new EtcdError(GrpcStatus.NOT_FOUND, leaseNotFoundMessage));
          return;
        }
        call.write({ ID: leaseId });
        // A server that stops answering (SIGSTOP, partition) is left for the next endpoint.
        answerDeadline = setTimeout(() => finish("retry"), answerTimeoutMs);
      };
      call.on("data", (response: LeaseKeepAliveResponse) => {
        clearTimeout(answerDeadline);
        onResponse?.(response);
        const ttlSeconds = Number(response.TTL);
        if (ttlSeconds <= 0) {
          finish(new EtcdError(GrpcStatus.NOT_FOUND, leaseNotFoundMessage));
          return;
        }
        expiresAtMs = Date.now() + ttlSeconds * 1000;
        const intervalMs = Math.max(minIntervalMs, (ttlSeconds * 1000) / 3);
        nextRequest = setTimeout(request, intervalMs);
      });
      call.on("error", (error: Error) => {
        const etcdError = toEtcdError(error);
        finish(etcdError.grpcCode === GrpcStatus.UNAVAILABLE ? "retry" : etcdError);
      });
      call.on("end", () => finish("retry"));
      request();
    });

  const closed = run();
  return {
    closed,
    stop() {
      stopped = true;
      wake?.();
      currentCall?.cancel();
    },
  };
}
