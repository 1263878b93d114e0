import { status as GrpcStatus } from '@grpc/grpc-js';
import { EtcdError, EtcdErrors } from '../util/etcd-errors.js';
import { MvccError } from '../mvcc/types.js';

/** Maps an error from the state machine to the etcd error a client expects. */
export function toEtcdError(err: unknown): EtcdError {
  if (err instanceof EtcdError) return err;
  if (err instanceof MvccError) {
    switch (err.code) {
      case 'Compacted':
        return EtcdErrors.compacted;
      case 'FutureRevision':
        return EtcdErrors.futureRev;
      case 'LeaseNotFound':
        return EtcdErrors.leaseNotFound;
      case 'KeyNotFound':
        return EtcdErrors.keyNotFound;
      case 'KeyNotProvided':
        return EtcdErrors.emptyKey;
      default:
        return new EtcdError(GrpcStatus.UNKNOWN, `etcdserver: ${err.message}`);
    }
  }
  if (err instanceof RangeError || err instanceof TypeError) {
    return new EtcdError(GrpcStatus.INVALID_ARGUMENT, `etcdserver: ${err.message}`);
  }
  throw err;
}
