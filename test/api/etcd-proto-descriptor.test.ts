// Compares our proto/etcd schema with the one compiled into the real etcd binary.
// Go protobuf code registers each .proto file as a gzipped FileDescriptorProto, so
// /usr/bin/etcd carries the exact 3.4 schema (kv.proto, auth.proto, rpc.proto). We
// reduce both sides to one line per field / enum value / RPC and require equality.

import { existsSync, readFileSync } from "node:fs";
import { gunzipSync, constants as zlibConstants } from "node:zlib";

import * as protoLoader from "@grpc/proto-loader";
import { describe, expect, it } from "vitest";

import { loadEtcdPackageDefinition } from "../../src/api/etcd-proto.js";
import { etcdBinary } from "./real-etcd.js";

// Just the parts of google.protobuf.FileDescriptorProto compared here
// (as decoded by proto-loader's bundled descriptor.proto, camelCase names).
interface FieldDescriptor {
  name: string;
  number: number;
  label: string;
  type: string;
  typeName?: string;
  oneofIndex?: number;
}
interface EnumDescriptor {
  name: string;
  value?: { name: string; number?: number }[];
}
interface MessageDescriptor {
  name: string;
  field?: FieldDescriptor[];
  nestedType?: MessageDescriptor[];
  enumType?: EnumDescriptor[];
  oneofDecl?: { name: string }[];
}
interface FileDescriptor {
  name?: string;
  package?: string;
  syntax?: string;
  messageType?: MessageDescriptor[];
  enumType?: EnumDescriptor[];
  service?: {
    name: string;
    method?: {
      name: string;
      inputType: string;
      outputType: string;
      clientStreaming?: boolean;
      serverStreaming?: boolean;
    }[];
  }[];
}

const descriptorPackage = protoLoader.loadSync("google/protobuf/descriptor.proto", {
  longs: String,
  enums: String,
  defaults: false,
});

function messageType(
  definition: protoLoader.AnyDefinition | undefined,
  name: string,
): protoLoader.MessageTypeDefinition<object, object> {
  if (definition === undefined || !("format" in definition) || definition.format !== "Protocol Buffer 3 DescriptorProto") {
    throw new Error(`${name} is not a loaded message type`);
  }
  return definition;
}

const fileDescriptorType = messageType(
  descriptorPackage["google.protobuf.FileDescriptorProto"],
  "google.protobuf.FileDescriptorProto",
);

function decodeFileDescriptor(bytes: Buffer): FileDescriptor {
  return fileDescriptorType.deserialize(bytes) as FileDescriptor;
}

/** Every gzipped FileDescriptorProto embedded in a Go binary, keyed by file name. */
function embeddedDescriptors(binary: Buffer): Map<string, FileDescriptor> {
  const found = new Map<string, FileDescriptor>();
  const gzipMagic = Buffer.from([0x1f, 0x8b, 0x08]);
  for (let at = binary.indexOf(gzipMagic); at >= 0; at = binary.indexOf(gzipMagic, at + 1)) {
    let file: FileDescriptor;
    try {
      // Trailing bytes after the gzip member are ignored with a sync flush.
      const raw = gunzipSync(binary.subarray(at, at + 256 * 1024), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
      file = decodeFileDescriptor(raw);
    } catch {
      continue; // not a descriptor
    }
    if (file.name?.endsWith(".proto") && file.package !== undefined) found.set(`${file.package}/${file.name}`, file);
  }
  return found;
}

/** Fully qualified names (no leading dot) of every message and enum in `files`. */
function declaredTypes(files: FileDescriptor[]): Set<string> {
  const names = new Set<string>();
  const visit = (messages: MessageDescriptor[] | undefined, scope: string): void => {
    for (const message of messages ?? []) {
      const full = `${scope}.${message.name}`;
      names.add(full);
      for (const e of message.enumType ?? []) names.add(`${full}.${e.name}`);
      visit(message.nestedType, full);
    }
  };
  for (const file of files) {
    for (const e of file.enumType ?? []) names.add(`${file.package}.${e.name}`);
    visit(file.messageType, file.package ?? "");
  }
  return names;
}

/** protoc writes ".pkg.Type"; protobufjs writes names relative to the scope. Resolve like protoc. */
function qualify(typeName: string, scope: string, known: Set<string>): string {
  if (typeName.startsWith(".")) return typeName.slice(1);
  const parts = scope.split(".");
  for (let n = parts.length; n >= 0; n--) {
    const candidate = [...parts.slice(0, n), typeName].join(".");
    if (known.has(candidate)) return candidate;
  }
  throw new Error(`cannot resolve type ${typeName} from ${scope}`);
}

/** One sorted line per field, enum value and RPC: everything that decides the wire format. */
function schemaLines(file: FileDescriptor, known: Set<string>): string[] {
  const lines = [`syntax ${file.syntax ?? "proto2"}`];
  const enumLines = (e: EnumDescriptor, scope: string): void => {
    for (const v of e.value ?? []) lines.push(`enum ${scope}.${e.name}.${v.name} = ${v.number ?? 0}`);
  };
  const messageLines = (m: MessageDescriptor, scope: string): void => {
    const full = `${scope}.${m.name}`;
    lines.push(`message ${full}`);
    for (const f of m.field ?? []) {
      const type = f.typeName === undefined ? "" : ` ${qualify(f.typeName, full, known)}`;
      const oneof = f.oneofIndex === undefined ? "" : ` oneof ${m.oneofDecl?.[f.oneofIndex]?.name}`;
      lines.push(`field ${full}.${f.name} = ${f.number} ${f.label} ${f.type}${type}${oneof}`);
    }
    for (const e of m.enumType ?? []) enumLines(e, full);
    for (const nested of m.nestedType ?? []) messageLines(nested, full);
  };
  const pkg = file.package ?? "";
  for (const e of file.enumType ?? []) enumLines(e, pkg);
  for (const m of file.messageType ?? []) messageLines(m, pkg);
  for (const s of file.service ?? []) {
    for (const r of s.method ?? []) {
      const input = qualify(r.inputType, pkg, known);
      const output = qualify(r.outputType, pkg, known);
      lines.push(
        `rpc ${pkg}.${s.name}.${r.name}(${r.clientStreaming ? "stream " : ""}${input}) returns (${r.serverStreaming ? "stream " : ""}${output})`,
      );
    }
  }
  return lines.sort();
}

describe("proto/etcd matches the schema compiled into etcd 3.4", () => {
  it("has the same messages, field numbers, types, oneofs, enums and RPCs", () => {
    if (!existsSync(etcdBinary)) {
      throw new Error(
        `${etcdBinary} is missing; install it with: apt-get update && apt-get install -y etcd-server etcd-client`,
      );
    }
    const embedded = embeddedDescriptors(readFileSync(etcdBinary));
    const theirs = ["mvccpb/kv.proto", "authpb/auth.proto", "etcdserverpb/rpc.proto"].map((key) => {
      const file = embedded.get(key);
      if (file === undefined) throw new Error(`${key} not found in ${etcdBinary}; found ${[...embedded.keys()].join(", ")}`);
      return file;
    });

    // proto-loader keeps serialized descriptors of the file and its imports on every type.
    const someType = messageType(loadEtcdPackageDefinition()["etcdserverpb.RangeRequest"], "etcdserverpb.RangeRequest");
    const ours = someType.fileDescriptorProtos.map(decodeFileDescriptor);

    const theirKnown = declaredTypes(theirs);
    const ourKnown = declaredTypes(ours);
    for (const pkg of ["mvccpb", "authpb", "etcdserverpb"]) {
      const theirFile = theirs.find((f) => f.package === pkg);
      const ourFile = ours.find((f) => f.package === pkg);
      expect(ourFile, `our ${pkg}`).toBeDefined();
      expect(schemaLines(ourFile!, ourKnown), pkg).toEqual(schemaLines(theirFile!, theirKnown));
    }

    // Sanity: the comparison covered what the brief promises.
    const rpcs = schemaLines(theirs[2]!, theirKnown).filter((l) => l.startsWith("rpc "));
    expect(rpcs).toHaveLength(39);
    expect(rpcs.some((l) => l.includes("Downgrade"))).toBe(false);
  });
});
