// Loads Ketch's own etcd v3.4-compatible .proto files (proto/etcd) for grpc-js.
//
// Decoding options, chosen once here so every handler and client sees the same shapes:
// - keepCase: field names stay as on the wire schema (`mod_revision`, `prev_kv`,
//   and etcd's own `ID`, `TTL`, `peerURLs`), so code reads like etcd's docs.
// - longs: String — int64/uint64 decode to decimal strings (STYLE: int64 wire fields
//   are strings at the edge; uint64 member/lease IDs must never become lossy numbers).
//   On encode, protobufjs accepts string, number or Long for these fields.
// - enums: String — enum fields decode to their names ("DESCEND", "PUT").
// - bytes: Buffer — proto-loader's default when `bytes` is not set; keys and values
//   are arbitrary bytes, so they are never turned into strings here.
// - defaults: true — absent scalars decode to their zero value ("0", false, empty
//   Buffer) so proto3's "zero is omitted" never surfaces as undefined.
// - oneofs: true — each oneof gets a virtual field naming the member that is set
//   (`request: 'request_put'`), which is how handlers dispatch RequestOp/WatchRequest.

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/** The options every etcd proto load uses; see the header comment for why. */
export const etcdProtoLoaderOptions: Readonly<protoLoader.Options> = Object.freeze({
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});

/** Entry files, relative to the proto directory; imports between them resolve there too. */
export const etcdProtoFiles: readonly string[] = Object.freeze([
  "etcdserverpb/rpc.proto",
  "mvccpb/kv.proto",
  "authpb/auth.proto",
]);

/** The six etcd v3 services, all in proto package `etcdserverpb`. */
export const etcdServiceNames = ["KV", "Watch", "Lease", "Cluster", "Maintenance", "Auth"] as const;
export type EtcdServiceName = (typeof etcdServiceNames)[number];

export type EtcdServiceDefinitions = Record<EtcdServiceName, grpc.ServiceDefinition>;
export type EtcdServiceClients = Record<EtcdServiceName, grpc.ServiceClientConstructor>;

const rpcProtoRelative = join("etcdserverpb", "rpc.proto");

/**
 * The directory holding proto/etcd, found relative to this module file.
 * From src/api/ (vitest, tsx) it is two levels up; from the compiled
 * dist/src/api/ it is three. Only those two layouts are tried, in that order,
 * so a stray proto/ elsewhere on disk is never picked up.
 */
export function etcdProtoDir(moduleUrl: string = import.meta.url): string {
  const moduleDir = dirname(fileURLToPath(moduleUrl));
  const candidates = [
    join(moduleDir, "..", "..", "proto", "etcd"),
    join(moduleDir, "..", "..", "..", "proto", "etcd"),
  ];
  for (const candidate of candidates) {
    if (existsSync(join(candidate, rpcProtoRelative))) return candidate;
  }
  throw new Error(
    `etcd proto files not found: looked for ${rpcProtoRelative} in ${candidates.join(" and ")}`,
  );
}

let cachedPackageDefinition: protoLoader.PackageDefinition | undefined;

/** The proto-loader package definition for all etcd files (loaded once, then cached). */
export function loadEtcdPackageDefinition(): protoLoader.PackageDefinition {
  if (cachedPackageDefinition === undefined) {
    const protoDir = etcdProtoDir();
    cachedPackageDefinition = protoLoader.loadSync(
      etcdProtoFiles.map((file) => join(protoDir, file)),
      { ...etcdProtoLoaderOptions, includeDirs: [protoDir] },
    );
  }
  return cachedPackageDefinition;
}

/** The grpc-js object tree (`etcdserverpb.KV`, `mvccpb.KeyValue`, ...). */
export function loadEtcdGrpcObject(): grpc.GrpcObject {
  return grpc.loadPackageDefinition(loadEtcdPackageDefinition());
}

function isServiceDefinition(
  definition: protoLoader.AnyDefinition | undefined,
): definition is protoLoader.ServiceDefinition {
  // Message and enum definitions carry a `format` tag; service definitions are method maps.
  return definition !== undefined && !("format" in definition);
}

/** Service definitions for `server.addService(defs.KV, handlers)`. */
export function etcdServiceDefinitions(): EtcdServiceDefinitions {
  const packageDefinition = loadEtcdPackageDefinition();
  const definitions: Partial<EtcdServiceDefinitions> = {};
  for (const name of etcdServiceNames) {
    const definition = packageDefinition[`etcdserverpb.${name}`];
    if (!isServiceDefinition(definition)) {
      throw new Error(`etcdserverpb.${name} is not a service in the loaded etcd protos`);
    }
    definitions[name] = definition;
  }
  return definitions as EtcdServiceDefinitions;
}

/** Client constructors, e.g. `new clients.KV("127.0.0.1:2379", credentials)`. */
export function etcdServiceClients(): EtcdServiceClients {
  const definitions = etcdServiceDefinitions();
  const clients: Partial<EtcdServiceClients> = {};
  for (const name of etcdServiceNames) {
    clients[name] = grpc.makeClientConstructor(definitions[name], `etcdserverpb.${name}`);
  }
  return clients as EtcdServiceClients;
}
