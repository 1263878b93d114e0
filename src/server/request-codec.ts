import { join } from 'node:path';
import protobuf from 'protobufjs';
import { protoRootDir } from '../util/proto-dir.js';

/**
 * Encodes the requests Ketch members put in Raft entries (proto/ketch/internal.proto), using etcd's
 * own message types so a request is carried exactly as the client sent it. Decoding gives the same
 * object shapes as our gRPC handlers receive (see src/api/etcd-proto.ts): snake_case fields, int64 as
 * decimal strings, enums as names, bytes as Buffer, defaults filled.
 */

/** A decoded etcd or internal message: field names as on the wire schema. */
export type ProtoObject = { [field: string]: unknown };

export interface InternalRequest {
  id: string;
  /** Which oneof member is set, e.g. 'put', 'txn', 'publish'. */
  request: string;
  [field: string]: unknown;
}

const toObjectOptions: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
  arrays: true,
};

let types: { request: protobuf.Type; memberContext: protobuf.Type } | undefined;

function load(): NonNullable<typeof types> {
  if (types !== undefined) return types;
  const etcdDir = join(protoRootDir(), 'etcd');
  const ketchDir = join(protoRootDir(), 'ketch');
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string): string =>
    target.startsWith('/') ? target : target === 'internal.proto' ? join(ketchDir, target) : join(etcdDir, target);
  root.loadSync('internal.proto', { keepCase: true });
  root.resolveAll();
  types = {
    request: root.lookupType('ketch.internalpb.InternalRequest'),
    memberContext: root.lookupType('ketch.internalpb.MemberContext'),
  };
  return types;
}

export function encodeInternalRequest(req: InternalRequest): Uint8Array {
  const t = load().request;
  return t.encode(t.fromObject(req)).finish();
}

export function decodeInternalRequest(data: Uint8Array): InternalRequest {
  const t = load().request;
  return t.toObject(t.decode(data), toObjectOptions) as InternalRequest;
}

export interface MemberContext {
  request_id: string;
  id: string;
  name: string;
  peer_urls: string[];
  client_urls: string[];
  is_learner: boolean;
}

export function encodeMemberContext(ctx: MemberContext): Uint8Array {
  const t = load().memberContext;
  return t.encode(t.fromObject(ctx)).finish();
}

export function decodeMemberContext(data: Uint8Array): MemberContext {
  const t = load().memberContext;
  return t.toObject(t.decode(data), toObjectOptions) as MemberContext;
}
