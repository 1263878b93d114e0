import type { KetchServer } from '../server/ketch-server.js';
import type { AuthInfo } from '../server/auth/auth-store.js';

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
