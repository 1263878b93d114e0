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

interface JsonType {
  fields?: Record<string, { type: string }>;
  nested?: Record<string, JsonType>;
  methods?: Record<string, { requestType: string; responseType: string; requestStream?: boolean; responseStream?: boolean }>;
}

const scalarTypes = new Set([
  "double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64",
  "fixed32", "fixed64", "sfixed32", "sfixed64", "bool", "string", "bytes",
]);

let descriptor: { nested: Record<string, JsonType> } | undefined;
const roots = new Map<string, protobuf.Root>();
const methods = new Map<string, EtcdMethod<unknown, unknown>>();

function etcdDescriptor(): { nested: Record<string, JsonType> } {
  descriptor ??= JSON.parse(etcdDescriptorJson) as { nested: Record<string, JsonType> };
  return descriptor;
}

/** The JSON node at a dotted path below `scope`, or undefined. */
function lookup(scope: JsonType, path: string[]): JsonType | undefined {
  let node: JsonType | undefined = scope;
  for (const part of path) node = node?.nested?.[part];
  return node;
}

/**
 * The top-level types ("package.Message") that `typeNames` need, found by walking field types
 * with protobuf's scoping (a name resolves in the message, then its package, then the root).
 */
function typeClosure(typeNames: readonly string[]): Set<string> {
  const root: JsonType = etcdDescriptor();
  const needed = new Set<string>();
  const visit = (fullName: string): void => {
    const [pkg, top] = fullName.split(".") as [string, string];
    const key = `${pkg}.${top}`;
    if (needed.has(key)) return;
    needed.add(key);
    const walk = (node: JsonType, scopes: string[][]): void => {
      for (const field of Object.values(node.fields ?? {})) {
        if (scalarTypes.has(field.type)) continue;
        const path = field.type.split(".");
        const scope = scopes.find((candidate) => lookup(root, [...candidate, ...path]) !== undefined);
        if (scope === undefined) throw new Error(`etcd protos: type ${field.type} not found from ${fullName}`);
        const target = [...scope, ...path];
        visit(`${target[0]}.${target[1]}`);
      }
      for (const [name, nested] of Object.entries(node.nested ?? {})) walk(nested, [[...(scopes[0] ?? []), name], ...scopes]);
    };
    const node = lookup(root, [pkg, top]);
    if (node === undefined) throw new Error(`etcd protos: no type ${key}`);
    walk(node, [[pkg, top], [pkg], []]);
  };
  for (const name of typeNames) visit(name);
  return needed;
}

/**
 * A protobufjs Root holding only what `typeNames` need: building every etcd type up front costs
 * a CLI start ~25 ms of CPU, and a command uses one or two RPCs.
 */
function rootFor(typeNames: readonly string[]): protobuf.Root {
  const cacheKey = typeNames.join(",");
  let root = roots.get(cacheKey);
  if (root === undefined) {
    const pruned: { nested: Record<string, { nested: Record<string, JsonType> }> } = { nested: {} };
    for (const name of typeClosure(typeNames)) {
      const [pkg, top] = name.split(".") as [string, string];
      const nested = (pruned.nested[pkg] ??= { nested: {} }).nested;
      nested[top] = lookup(etcdDescriptor(), [pkg, top]) as JsonType;
    }
    root = protobuf.Root.fromJSON(pruned as protobuf.INamespace);
    roots.set(cacheKey, root);
  }
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
    const rpc = lookup(etcdDescriptor(), ["etcdserverpb", service])?.methods?.[name];
    if (rpc === undefined) throw new Error(`no RPC ${path} in the etcd protos`);
    const requestName = `etcdserverpb.${rpc.requestType}`;
    const responseName = `etcdserverpb.${rpc.responseType}`;
    const root = rootFor([requestName, responseName]);
    const requestType = root.lookupType(requestName);
    const responseType = root.lookupType(responseName);
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

/**
 * Encodes a message of a named type (e.g. "etcdserverpb.RangeResponse") canonically, as Go's
 * proto3 Marshal does: fields holding their zero value are left out (decoded objects carry every
 * zero, and protobufjs would otherwise write them).
 */
export function encodeEtcdMessage(typeName: string, message: Record<string, unknown>): Buffer {
  const type = rootFor([typeName]).lookupType(typeName);
  const instance = type.fromObject(message);
  dropZeroFields(type, instance as unknown as Record<string, unknown>);
  return Buffer.from(type.encode(instance).finish());
}

function isZero(value: unknown): boolean {
  if (value === null || value === undefined || value === 0 || value === false || value === "") return true;
  if (value instanceof Uint8Array) return value.length === 0;
  if (typeof value === "object" && "low" in value && "high" in value) {
    const long = value as { low: number; high: number };
    return long.low === 0 && long.high === 0;
  }
  return false;
}

function dropZeroFields(type: protobuf.Type, message: Record<string, unknown>): void {
  for (const field of type.fieldsArray) {
    const value = message[field.name];
    if (field.repeated) {
      if (Array.isArray(value) && value.length === 0) delete message[field.name];
      else if (Array.isArray(value) && field.resolvedType instanceof protobuf.Type) {
        for (const item of value) dropZeroFields(field.resolvedType, item as Record<string, unknown>);
      }
      continue;
    }
    if (field.resolvedType instanceof protobuf.Type) {
      if (value !== null && value !== undefined) dropZeroFields(field.resolvedType, value as Record<string, unknown>);
      continue;
    }
    // Members of a oneof stay when set, even at zero: their presence is the information.
    if (field.partOf === null && isZero(value)) delete message[field.name];
  }
}

/** Decodes a message of a named type with the client's conversion options. */
export function decodeEtcdMessage(typeName: string, bytes: Uint8Array): Record<string, unknown> {
  const type = rootFor([typeName]).lookupType(typeName);
  return type.toObject(type.decode(bytes), toObjectOptions);
}
