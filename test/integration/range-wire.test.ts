// KV.Range byte for byte on the wire, against real etcd 3.4 and ketch side by side: the requests are
// hand-built protobuf (so a field can be present but empty, which no generated client sends), the
// responses are compared as decoded by protobufjs (independent of ketch's own Range encoder) and
// as raw bytes once the header is cut off.
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { etcdServiceClients, etcdServiceDefinitions } from "../../src/api/etcd-proto.js";
import { type Cluster, startCluster } from "./cluster.js";

type Impl = "etcd" | "ketch";

// ---- A tiny protobuf writer for RangeRequest.

function varint(n: bigint): number[] {
  let v = BigInt.asUintN(64, n);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

type Field = [number, "bytes", Buffer | string] | [number, "varint", bigint | number];

function message(fields: Field[]): Buffer {
  const out: number[] = [];
  for (const [no, kind, value] of fields) {
    if (kind === "bytes") {
      const b = Buffer.from(value);
      out.push(...varint(BigInt((no << 3) | 2)), ...varint(BigInt(b.length)), ...b);
    } else {
      out.push(...varint(BigInt(no << 3)), ...varint(BigInt(value)));
    }
  }
  return Buffer.from(out);
}

const key = (k: string): Field => [1, "bytes", k];
const rangeEnd = (e: Buffer | string): Field => [2, "bytes", e];

/** The RangeResponse without its header (field 1, always first): kvs, more, count as bytes. */
function withoutHeader(res: Buffer): Buffer {
  expect(res[0]).toBe(0x0a);
  let at = 1;
  let len = 0;
  let shift = 0;
  for (;;) {
    const b = res[at++] as number;
    len |= (b & 0x7f) << shift;
    if (b < 0x80) break;
    shift += 7;
  }
  return res.subarray(at + len);
}

interface Side {
  cluster: Cluster;
  client: grpc.Client;
}

const sides = new Map<Impl, Side>();

function rawRange(impl: Impl, body: Buffer): Promise<Buffer> {
  const side = sides.get(impl);
  if (side === undefined) throw new Error(`${impl} is not running`);
  return new Promise((resolve, reject) => {
    side.client.makeUnaryRequest(
      "/etcdserverpb.KV/Range",
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      (err, res) => (err ? reject(Object.assign(err, { message: `${impl}: ${err.message}` })) : resolve(res as Buffer)),
    );
  });
}

const deserialize = etcdServiceDefinitions().KV.Range.responseDeserialize as (b: Buffer) => {
  kvs: Array<{ key: Buffer; value: Buffer; create_revision: string; mod_revision: string; version: string; lease: string }>;
  more: boolean;
  count: string;
};

/** The decoded response, with keys and values as text for readable diffs. */
function decoded(res: Buffer): unknown {
  const r = deserialize(res);
  return {
    kvs: r.kvs.map((kv) => ({ ...kv, key: kv.key.toString("latin1"), value: kv.value.toString("latin1") })),
    more: r.more,
    count: r.count,
  };
}

async function both(body: Buffer): Promise<{ etcd: Buffer; ketch: Buffer }> {
  const [etcd, ketch] = await Promise.all([rawRange("etcd", body), rawRange("ketch", body)]);
  return { etcd, ketch };
}

async function expectSame(body: Buffer): Promise<unknown> {
  const { etcd, ketch } = await both(body);
  expect(decoded(ketch)).toEqual(decoded(etcd));
  expect(withoutHeader(ketch).toString("hex")).toBe(withoutHeader(etcd).toString("hex"));
  return decoded(etcd);
}

describe("KV.Range on the wire, ketch vs etcd 3.4", () => {
  beforeAll(async () => {
    const clients = etcdServiceClients();
    for (const impl of ["etcd", "ketch"] as const) {
      const cluster = await startCluster(impl, 1);
      const address = new URL(cluster.endpoints[0] as string).host;
      sides.set(impl, { cluster, client: new clients.KV(address, grpc.credentials.createInsecure()) });
    }
    // The same history on both: empty values, overwrites, a delete.
    for (const impl of ["etcd", "ketch"] as const) {
      const c = sides.get(impl)?.cluster as Cluster;
      const run = async (args: string[]): Promise<void> => {
        const r = await c.etcdctl(args);
        if (r.code !== 0) throw new Error(`${impl}: etcdctl ${args.join(" ")}: ${r.stderr}`);
      };
      for (const k of ["a", "b", "b", "c", "d", "e/1", "e/2", "z"]) await run(["put", k, `value of ${k}`]);
      await run(["put", "empty", ""]);
      await run(["del", "d"]);
    }
  }, 120_000);

  afterAll(async () => {
    for (const side of sides.values()) {
      side.client.close();
      await side.cluster.destroy();
    }
  }, 60_000);

  it("a single key: range_end absent", async () => {
    const r = (await expectSame(message([key("b")]))) as { kvs: unknown[] };
    expect(r.kvs).toHaveLength(1);
  });

  it("range_end present but empty ranges over every key >= key, as etcd 3.4 does", async () => {
    const r = (await expectSame(message([key("c"), rangeEnd(Buffer.alloc(0))]))) as { kvs: Array<{ key: string }> };
    // Whatever etcd answers is the contract; today that is every key from "c" on.
    expect(r.kvs.map((kv) => kv.key)).toEqual(["c", "e/1", "e/2", "empty", "z"]);
    // The same with serializable, limit and count_only.
    await expectSame(message([key("c"), rangeEnd(Buffer.alloc(0)), [7, "varint", 1]]));
    await expectSame(message([key("a"), rangeEnd(Buffer.alloc(0)), [3, "varint", 2]]));
    await expectSame(message([key("a"), rangeEnd(Buffer.alloc(0)), [9, "varint", 1]]));
  });

  it("ranges, limits, sorting, keys_only, count_only, revisions", async () => {
    await expectSame(message([key("a"), rangeEnd("\0")]));
    await expectSame(message([key("a"), rangeEnd("e")]));
    await expectSame(message([key("e/"), rangeEnd("e0")]));
    await expectSame(message([key("a"), rangeEnd("\0"), [3, "varint", 3]]));
    await expectSame(message([key("a"), rangeEnd("\0"), [5, "varint", 2], [6, "varint", 4]]));
    await expectSame(message([key("a"), rangeEnd("\0"), [5, "varint", 1], [6, "varint", 3], [3, "varint", 2]]));
    await expectSame(message([key("a"), rangeEnd("\0"), [8, "varint", 1]]));
    await expectSame(message([key("a"), rangeEnd("\0"), [9, "varint", 1]]));
    await expectSame(message([key("a"), rangeEnd("\0"), [4, "varint", 4]]));
    await expectSame(message([key("d"), [4, "varint", 6]]));
    await expectSame(message([key("empty")]));
    await expectSame(message([key("nothing")]));
    // Unknown fields are skipped.
    await expectSame(message([key("a"), [99, "bytes", "x"], rangeEnd("\0")]));
  });

  it("refuses what etcd refuses", async () => {
    const codeOf = (p: Promise<unknown>): Promise<number> =>
      p.then(
        () => -1,
        (err: grpc.ServiceError) => err.code,
      );
    for (const body of [message([rangeEnd("z")]), message([key("a"), [4, "varint", 1000]])]) {
      const [etcd, ketch] = await Promise.all([codeOf(rawRange("etcd", body)), codeOf(rawRange("ketch", body))]);
      expect(ketch).toBe(etcd);
      expect(ketch).not.toBe(-1);
    }
    // Bytes that are not a RangeRequest: an error, and the member keeps serving.
    const garbage = Buffer.from([0x0a, 0x7f, 0x01]);
    expect(await codeOf(rawRange("ketch", garbage))).not.toBe(-1);
    expect(await codeOf(rawRange("ketch", message([key("a")])))).toBe(-1);
  });
});
