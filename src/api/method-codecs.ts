// Hand-written codecs installed on grpc-js method definitions (issue 9): Range, Put and Watch
// encode their own reply classes by hand; any other response object still goes through the
// definition's own (protobufjs) serializer, and a request the hand decoder declines through its
// deserializer.

import type { MethodDefinition } from '@grpc/grpc-js';

type Method = MethodDefinition<unknown, unknown>;

export interface MethodCodecs<R> {
  /** Responses of this class are written by `encode`. */
  readonly reply: abstract new (...args: never[]) => R;
  readonly encode: (reply: R) => Buffer;
  /** Decodes requests; undefined hands the bytes to the definition's own deserializer. */
  readonly decode?: (bytes: Buffer) => unknown;
}

const withCodecs = new WeakSet<Method>();

/** Installs `codecs` on a method definition (shared by every server in the process). Idempotent. */
export function installMethodCodecs<R>(method: Method, codecs: MethodCodecs<R>): void {
  if (withCodecs.has(method)) return;
  const { reply, encode, decode } = codecs;
  const serialize = method.responseSerialize;
  method.responseSerialize = (value: unknown): Buffer => (value instanceof reply ? encode(value) : serialize(value));
  if (decode !== undefined) {
    const deserialize = method.requestDeserialize;
    method.requestDeserialize = (bytes: Buffer): unknown => decode(bytes) ?? deserialize(bytes);
  }
  withCodecs.add(method);
}
