import { status as GrpcStatus } from '@grpc/grpc-js';
import type { KetchServer } from '../server/ketch-server.js';
import type { AuthInfo } from '../server/auth/auth-store.js';
import { EtcdError, EtcdErrors } from '../util/etcd-errors.js';

/** What the handlers need of a call: its request metadata (grpc-js's and our own calls both have it). */
export interface CallWithMetadata {
  readonly metadata: { get(key: string): unknown[] };
}

/**
 * The token a client sent: gRPC metadata "token" (clientv3's credential), or "authorization" as the
 * grpc-gateway passes it, as etcd's AuthInfoFromCtx reads them.
 */
export function requestToken(call: CallWithMetadata): string | undefined {
  const t = call.metadata.get('token')[0] ?? call.metadata.get('authorization')[0];
  return typeof t === 'string' ? t : Buffer.isBuffer(t) ? t.toString() : undefined;
}

/** The requester (undefined without a token); throws "invalid auth token" for an unknown one. */
export function requestAuth(server: KetchServer, call: CallWithMetadata): Promise<AuthInfo | undefined> {
  return server.authInfo(requestToken(call));
}

/** etcd's auth package errors by their gRPC form, for the places etcd passes them on unconverted. */
const RAW_AUTH_ERRORS = new Map<EtcdError, string>([
  [EtcdErrors.userEmpty, 'auth: user name is empty'],
  [EtcdErrors.userNotFound, 'auth: user not found'],
  [EtcdErrors.permissionDenied, 'auth: permission denied'],
  [EtcdErrors.invalidAuthToken, 'auth: invalid auth token'],
]);

/**
 * Root only, for Maintenance calls. etcd 3.4's authMaintenanceServer returns the auth package's
 * own errors there, which reach the client as code Unknown ("auth: permission denied").
 */
export async function requireRootForMaintenance(server: KetchServer, call: CallWithMetadata): Promise<void> {
  try {
    server.auth.checkAdmin(await requestAuth(server, call));
  } catch (err) {
    const raw = err instanceof EtcdError ? RAW_AUTH_ERRORS.get(err) : undefined;
    throw raw === undefined ? err : new EtcdError(GrpcStatus.UNKNOWN, raw);
  }
}
