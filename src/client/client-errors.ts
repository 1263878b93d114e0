// How the client turns grpc-js failures into EtcdError values and decides whether a failed call may
// be tried again on another endpoint. The rules follow clientv3 3.4 (retry_interceptor.go): a
// repeatable request (a read, or a write etcd applies idempotently) is retried on UNAVAILABLE; any
// other request only when it surely never reached a server, since a retried Put could apply twice.

import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";

import { EtcdError } from "../util/etcd-errors.js";

export { EtcdError };

export type RetryPolicy = "repeatable" | "nonRepeatable";

/** Go's context error texts: etcdctl prints these, so scripts may match them. */
export const deadlineExceededMessage = "context deadline exceeded";
export const canceledMessage = "context canceled";

/** grpc-js's texts for calls that failed before any byte reached a server. */
const notSentDetails = [
  "No connection established",
  "Stream refused by server",
  "Channel closed before call started",
];

function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && typeof (error as Partial<ServiceError>).code === "number";
}

/** True when the call never reached the server (no connection, refused stream, not yet sent). */
export function neverReachedServer(error: unknown): boolean {
  if (error instanceof NotConnectedError) return true;
  if (!isServiceError(error) || error.code !== GrpcStatus.UNAVAILABLE) return false;
  return notSentDetails.some((text) => error.details.includes(text));
}

/** Whether a failed call may be sent again, to the next endpoint. */
export function isSafeRetry(error: unknown, policy: RetryPolicy): boolean {
  if (neverReachedServer(error)) return true;
  if (policy === "nonRepeatable") return false;
  return isServiceError(error) && error.code === GrpcStatus.UNAVAILABLE;
}

/** The endpoint did not become ready within the dial timeout, or its connection failed. */
export class NotConnectedError extends Error {
  constructor(
    readonly endpoint: string,
    reason: string,
  ) {
    super(`${endpoint}: ${reason}`);
    this.name = "NotConnectedError";
  }
}

/** Any failure as an EtcdError: the gRPC code, and etcd's message text (or Go's, for timeouts). */
export function toEtcdError(error: unknown): EtcdError {
  if (error instanceof EtcdError) return error;
  if (error instanceof NotConnectedError) return new EtcdError(GrpcStatus.UNAVAILABLE, error.message);
  if (isServiceError(error)) {
    if (error.code === GrpcStatus.DEADLINE_EXCEEDED) return new EtcdError(error.code, deadlineExceededMessage);
    if (error.code === GrpcStatus.CANCELLED && error.details === "Cancelled on client") {
      return new EtcdError(error.code, canceledMessage);
    }
    return new EtcdError(error.code, error.details === "" ? error.message : error.details);
  }
  return new EtcdError(GrpcStatus.UNKNOWN, error instanceof Error ? error.message : String(error));
}

export function deadlineExceeded(): EtcdError {
  return new EtcdError(GrpcStatus.DEADLINE_EXCEEDED, deadlineExceededMessage);
}

export function clientClosed(): EtcdError {
  return new EtcdError(GrpcStatus.CANCELLED, "etcdclient: client is closed");
}
