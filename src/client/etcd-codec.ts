// Serializers for the etcd v3 RPCs, built from the precompiled descriptor of proto/etcd with
// protobufjs/light. It decodes exactly as src/api/etcd-proto.ts's proto-loader options do
// (field names as written, int64 as decimal strings, enums as names, bytes as Buffer, zero values
// filled in, oneofs named), so client and server see the same shapes. The client does not use
// @grpc/proto-loader: loading it and parsing the .proto text cost ~140 ms at every CLI start.

import protobuf from "protobufjs/light.js";

import { etcdDescriptorJson } from "./generated/etcd-descriptor.js";

export type EtcdServiceName = "KV" | "Watch" | "Lease" | "Cluster" | "Maintenance" | "Auth";

/** One RPC: its gRPC path and codecs, in the form grpc-js's Client.make*Request methods take. */
export interface EtcdMethod<Req, Res> {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  serialize(request: Req): Buffer;
  deserialize(bytes: Buffer): Res;
}

const toObjectOptions: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

let root: protobuf.Root | undefined;
const methods = new Map<string, EtcdMethod<unknown, unknown>>();

function etcdRoot(): protobuf.Root {
  root ??= protobuf.Root.fromJSON(JSON.parse(etcdDescriptorJson) as protobuf.INamespace);
  return root;
}

/**
 * The codec of `etcdserverpb.<service>/<method>`, built on first use. The type parameters are the
 * caller's promise about the message shapes (messages.ts), checked against the schema by the tests.
 */
export function etcdMethod<Req, Res>(service: EtcdServiceName, name: string): EtcdMethod<Req, Res> {
  const path = `/etcdserverpb.${service}/${name}`;
  let method = methods.get(path);
  if (method === undefined) {
    const rpc = etcdRoot().lookupService(`etcdserverpb.${service}`).methods[name];
    if (rpc === undefined) throw new Error(`no RPC ${path} in the etcd protos`);
    rpc.resolve();
    const requestType = rpc.resolvedRequestType;
    const responseType = rpc.resolvedResponseType;
    if (requestType === null || responseType === null) throw new Error(`RPC ${path} has unresolved types`);
    method = {
      path,
      requestStream: rpc.requestStream === true,
      responseStream: rpc.responseStream === true,
      serialize: (request: unknown): Buffer => {
        const bytes = requestType.encode(requestType.fromObject(request as Record<string, unknown>)).finish();
        return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      },
      deserialize: (bytes: Buffer): unknown => responseType.toObject(responseType.decode(bytes), toObjectOptions),
    };
    methods.set(path, method);
  }
  return method as EtcdMethod<Req, Res>;
}

/** Encodes a message of a named type (e.g. "etcdserverpb.RangeRequest"), for tests and tools. */
export function encodeEtcdMessage(typeName: string, message: Record<string, unknown>): Buffer {
  const type = etcdRoot().lookupType(typeName);
  return Buffer.from(type.encode(type.fromObject(message)).finish());
}

/** Decodes a message of a named type with the client's conversion options. */
export function decodeEtcdMessage(typeName: string, bytes: Uint8Array): Record<string, unknown> {
  const type = etcdRoot().lookupType(typeName);
  return type.toObject(type.decode(bytes), toObjectOptions);
}
