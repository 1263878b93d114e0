// Hand-written codecs of the hottest write. The request: a PutRequest decoded straight into the
// object @grpc/proto-loader would give (src/server/request-codec.ts decodePutRequest), without
// protobufjs's message object, its default empty Buffers (a new ArrayBuffer each, ~2% of a loaded
// leader's CPU) and Long values; anything unusual goes to the definition's own deserializer. The
// response: the common one, with only a header (no prev_kv asked), written without protobufjs;
// any other response object still goes through the definition's own serializer. Both are
// installed on the Put method definition by installPutCodecs.
//
// Field numbers: proto/etcd/etcdserverpb/rpc.proto (PutResponse: header = 1, prev_kv = 2).

import type { MethodDefinition } from '@grpc/grpc-js';

import { installMethodCodecs } from './method-codecs.js';
import { type HeaderFields, prepareHeader, writeHeader } from './range-codec.js';
import { varintSize } from '../mvcc/record-codec.js';
import { decodePutRequest } from '../server/request-codec.js';

/** A PutResponse with a header and no prev_kv. It also reads as the plain response object. */
export class PutReply {
  constructor(readonly header: HeaderFields) {}
}

/** etcdserverpb.PutResponse bytes for a reply without prev_kv. */
export function encodePutReply(reply: PutReply): Buffer {
  const header = prepareHeader(reply.header);
  const buf = Buffer.allocUnsafe(1 + varintSize(header.size) + header.size);
  const at = writeHeader(buf, 0, header);
  if (at !== buf.length) throw new Error(`PutResponse encoding wrote ${at} of ${buf.length} bytes`);
  return buf;
}

/** Makes a Put method definition decode requests and encode PutReply responses by hand. Idempotent. */
export function installPutCodecs(method: MethodDefinition<unknown, unknown>): void {
  installMethodCodecs(method, { reply: PutReply, encode: encodePutReply, decode: decodePutRequest });
}
