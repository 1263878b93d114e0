import { type sendUnaryData, type ServerUnaryCall, status as GrpcStatus } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { EtcdError } from '../util/etcd-errors.js';
import { toEtcdError } from '../server/errors.js';

/** A decoded request or response message (field names as in proto/etcd). */
export type Msg = { [field: string]: unknown };

/**
 * Wraps an async handler as a grpc-js unary handler: EtcdErrors become their exact status and
 * message; anything unexpected is logged and answered as INTERNAL, never a crash.
 */
export function unary(
  log: Logger,
  method: string,
  fn: (req: Msg, call: ServerUnaryCall<Msg, Msg>) => Promise<Msg>,
): (call: ServerUnaryCall<Msg, Msg>, callback: sendUnaryData<Msg>) => void {
  return (call, callback) => {
    fn(call.request, call).then(
      (res) => callback(null, res),
      (err: unknown) => callback(grpcError(log, method, err)),
    );
  };
}

export function grpcError(log: Logger, method: string, err: unknown): { code: GrpcStatus; details: string; message: string } {
  let e: EtcdError;
  try {
    e = toEtcdError(err);
  } catch {
    log.error({ err, method }, 'unexpected error in request handler');
    e = new EtcdError(GrpcStatus.INTERNAL, `etcdserver: internal error: ${(err as Error)?.message ?? String(err)}`);
  }
  return { code: e.grpcCode, details: e.message, message: e.message };
}
