// The client's precompiled descriptor must match proto/etcd, and its codec must decode exactly
// as the server's proto-loader options do (src/api/etcd-proto.ts), so both sides see one shape.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";

import { describe, expect, it } from "vitest";

import { decodeEtcdMessage, encodeEtcdMessage } from "../../src/client/etcd-codec.js";
import { etcdMethod } from "../../src/client/etcd-codec.js";
import { loadEtcdPackageDefinition } from "../../src/api/etcd-proto.js";
import { protoRootDir } from "../../src/util/proto-dir.js";
import { etcdDescriptorModuleText } from "./etcd-descriptor-source.js";

describe("precompiled etcd descriptor", () => {
  it("is up to date with proto/etcd (regenerate with node dist/test/client/gen-etcd-descriptor.js)", () => {
    const path = join(dirname(protoRootDir()), "src", "client", "generated", "etcd-descriptor.ts");
    expect(readFileSync(path, "utf8")).toBe(etcdDescriptorModuleText());
  });

  it("every RPC's codec (built from only the types it needs) decodes like proto-loader", () => {
    const definition = loadEtcdPackageDefinition();
    let count = 0;
    for (const service of ["KV", "Watch", "Lease", "Cluster", "Maintenance", "Auth"] as const) {
      const methods = definition[`etcdserverpb.${service}`] as unknown as Record<
        string,
        { originalName?: string; responseDeserialize(bytes: Buffer): unknown; requestSerialize(value: unknown): Buffer }
      >;
      for (const [name, reference] of Object.entries(methods)) {
        const ours = etcdMethod<Record<string, unknown>, unknown>(service, name);
        expect(ours.path).toBe(`/etcdserverpb.${service}/${name}`);
        expect(ours.serialize({})).toEqual(reference.requestSerialize({}));
        expect(ours.deserialize(Buffer.alloc(0))).toEqual(reference.responseDeserialize(Buffer.alloc(0)));
        count++;
      }
    }
    expect(count).toBe(5 + 1 + 5 + 5 + 7 + 16);
  });

  it("decodes like the server's proto-loader definitions, zero values and oneofs included", () => {
    const definition = loadEtcdPackageDefinition();
    const service = definition["etcdserverpb.KV"] as unknown as Record<
      string,
      { responseDeserialize(bytes: Buffer): unknown; requestDeserialize(bytes: Buffer): unknown }
    >;
    const txn = etcdMethod<Record<string, unknown>, unknown>("KV", "Txn");
    const request = {
      compare: [{ key: Buffer.from("k"), target: "MOD", result: "LESS", mod_revision: "18446744073709551" }],
      success: [{ request_put: { key: Buffer.from([0, 255]), value: Buffer.alloc(0), lease: "9223372036854775807" } }],
      failure: [{ request_range: { key: Buffer.from("a"), range_end: Buffer.from([0]), sort_order: "DESCEND" } }],
    };
    const bytes = txn.serialize(request);
    expect(service.Txn?.requestDeserialize(bytes)).toEqual(decodeEtcdMessage("etcdserverpb.TxnRequest", bytes));

    const response = encodeEtcdMessage("etcdserverpb.TxnResponse", {
      header: { cluster_id: "18446744073709551615", member_id: "1", revision: "7", raft_term: "2" },
      succeeded: true,
      responses: [
        { response_range: { kvs: [{ key: Buffer.from("k"), value: Buffer.from("v"), version: "1" }], count: "1" } },
        { response_put: {} },
      ],
    });
    const ours = txn.deserialize(response);
    expect(ours).toEqual(service.Txn?.responseDeserialize(response));
    expect(ours).toMatchObject({
      header: { cluster_id: "18446744073709551615", revision: "7" },
      responses: [{ response: "response_range" }, { response: "response_put", response_put: { prev_kv: null } }],
    });
  });
});
