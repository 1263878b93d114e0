// Hand-written encoding of the common Put response, one with only a header (no prev_kv asked): the
// hottest write's answer without protobufjs message objects or Long values. Installed as the Put
// method's response serializer (installPutReplyCodec); any other response object still goes
// through the definition's own serializer, so a Put with prev_kv is encoded as before.
//
// Field numbers: proto/etcd/etcdserverpb/rpc.proto (PutResponse: header = 1, prev_kv = 2).

import type { MethodDefinition } from '@grpc/grpc-js';

import { type HeaderFields, prepareHeader, writeHeader } from './range-codec.js';
import { varintSize } from '../mvcc/record-codec.js';

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

const installed = Symbol('putReplyCodecInstalled');

/** Makes a Put method definition encode PutReply responses by hand. Idempotent. */
export function installPutReplyCodec(method: MethodDefinition<unknown, unknown>): void {
  const marked = method as MethodDefinition<unknown, unknown> & { [installed]?: true };
  if (marked[installed] === true) return;
  const fallback = method.responseSerialize;
  marked.responseSerialize = (value: unknown): Buffer => (value instanceof PutReply ? encodePutReply(value) : fallback(value));
  marked[installed] = true;
}
