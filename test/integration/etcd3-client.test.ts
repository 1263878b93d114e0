// The `etcd3` npm client (microsoft/etcd3), unmodified, against a 3-member cluster of real etcd 3.4
// (the reference) and of ketch, started with the same etcd flags. Every assertion must hold for
// both: it is what a Node application using etcd3 observes. KV and Txn only; watch and leases are
// not part of this file (ketch does not implement them yet, issue 4).

import { Etcd3, type IOptions, type IKeyValue } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { destroyAllClusters, eventually, parseImpls, type Member } from "./cluster.js";
import { useCluster } from "./cluster-fixture.js";

const IMPLS = parseImpls(process.env.KETCH_IMPLS ?? "etcd,ketch");

afterAll(destroyAllClusters, 60_000);

/** What a rejected promise threw: class name and message, for assertions equal on both servers. */
async function failure(promise: Promise<unknown>): Promise<{ name: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return { name: error.constructor.name, message: error.message };
    return { name: typeof error, message: String(error) };
  }
  throw new Error("expected the call to fail, but it succeeded");
}

/** Which branch of a ResponseOp oneof is set (etcd3 loads protos with `oneofs: true`). */
const opKind = (op: unknown): string => String((op as { response?: unknown }).response);

/**
 * A per-host fault policy that lets every call through. etcd3's default host policy is a circuit
 * breaker that opens for 5 s after 3 consecutive recoverable errors on a host; during a leader
 * election the live members also answer with such errors (and short deadlines expire), so the
 * default client refuses every call for 5 s, which would measure the client, not the servers.
 * The type comes from etcd3's own options, so cockatiel need not be imported.
 */
type HostPolicy = ReturnType<NonNullable<NonNullable<IOptions["faultHandling"]>["host"]>>;
const passThrough = (): HostPolicy =>
  ({
    execute: async (fn: (context: { signal: AbortSignal }) => unknown, signal?: AbortSignal) =>
      fn({ signal: signal ?? new AbortController().signal }),
  }) as unknown as HostPolicy;

const str = (value: Buffer | Uint8Array | string | undefined | null): string =>
  value === undefined || value === null ? "" : Buffer.from(value).toString("utf8");

describe.each(IMPLS)("%s with the etcd3 npm client", (impl) => {
  const c = useCluster(impl, 3);
  const clients: Etcd3[] = [];
  // Registered after the fixture, so it runs before the cluster is destroyed (hooks unwind as a stack).
  afterAll(() => {
    for (const client of clients) client.close();
  });

  /** An etcd3 client on the given hosts (default: every member), closed in afterAll. */
  function client(hosts: readonly string[] = c().endpoints, extra: Partial<IOptions> = {}): Etcd3 {
    const etcd = new Etcd3({
      hosts: [...hosts],
      dialTimeout: 5_000,
      // Own connections per client, as separate processes would have: grpc-js otherwise shares
      // subchannels process-wide, and a new client on a restarted member would inherit the
      // reconnect backoff that an older client built up while the member was down.
      grpcOptions: { "grpc.use_local_subchannel_pool": 1 },
      // Unary calls get a deadline so a server that never answers fails the test instead of hanging it.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + 10_000 }),
      ...extra,
    });
    clients.push(etcd);
    return etcd;
  }

  let etcd: Etcd3;
  beforeAll(() => {
    try {
      etcd = client();
    } catch {
      // The cluster did not start: the fixture fails every test with the reason.
    }
  });

  // ---- KV

  it("put/get: strings, buffers, numbers and JSON round-trip; a missing key is null", async () => {
    const put = await etcd.put("kv/a").value("alpha");
    expect(Number(put.header.revision)).toBeGreaterThan(1);
    expect(put.header.cluster_id).toMatch(/^\d+$/);
    expect(put.header.member_id).toMatch(/^\d+$/);
    expect(Number(put.header.raft_term)).toBeGreaterThanOrEqual(1);

    expect(await etcd.get("kv/a").string()).toBe("alpha");
    expect(await etcd.get("kv/a").exists()).toBe(true);
    expect(await etcd.get("kv/missing").string()).toBeNull();
    expect(await etcd.get("kv/missing").exists()).toBe(false);

    const binary = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x80, 0x7f]);
    await etcd.put("kv/bin").value(binary);
    expect(await etcd.get("kv/bin").buffer()).toEqual(binary);

    await etcd.put("kv/num").value(42);
    expect(await etcd.get("kv/num").number()).toBe(42);

    await etcd.put("kv/json").value(JSON.stringify({ a: [1, 2], b: "c" }));
    expect(await etcd.get("kv/json").json()).toEqual({ a: [1, 2], b: "c" });

    // Empty value is allowed and is different from a missing key.
    await etcd.put("kv/empty").value("");
    expect(await etcd.get("kv/empty").string()).toBe("");
    expect(await etcd.get("kv/empty").exists()).toBe(true);

    // The raw response: version counts the writes of this generation.
    await etcd.put("kv/a").value("alpha2");
    const raw = await etcd.get("kv/a").exec();
    expect(raw.kvs).toHaveLength(1);
    const kv = raw.kvs[0] as IKeyValue;
    expect(str(kv.key)).toBe("kv/a");
    expect(str(kv.value)).toBe("alpha2");
    expect(kv.version).toBe("2");
    expect(Number(kv.mod_revision)).toBeGreaterThan(Number(kv.create_revision));
    expect(raw.count).toBe("1");
    expect(raw.more).toBe(false);
  });

  it("put: getPrevious returns the replaced pair; an empty key is rejected with etcd's error", async () => {
    await etcd.put("prev/k").value("one");
    const previous = await etcd.put("prev/k").value("two").getPrevious();
    expect(str(previous.key)).toBe("prev/k");
    expect(str(previous.value)).toBe("one");
    expect(previous.version).toBe("1");
    expect(await etcd.get("prev/k").string()).toBe("two");

    const empty = await failure(etcd.put("").value("x").exec());
    expect(empty).toEqual({ name: "GRPCInvalidArgumentError", message: "3 INVALID_ARGUMENT: etcdserver: key is not provided" });
  });

  it("getAll: prefix, keys, strings, count, limit, sort", async () => {
    for (const name of ["b", "a", "d", "c"]) await etcd.put(`list/${name}`).value(`v-${name}`);
    await etcd.put("list0").value("outside"); // shares the text "list" but not the prefix "list/"
    await etcd.put("lisu").value("outside");

    expect(await etcd.getAll().prefix("list/").strings()).toEqual({
      "list/a": "v-a",
      "list/b": "v-b",
      "list/c": "v-c",
      "list/d": "v-d",
    });
    expect(await etcd.getAll().prefix("list/").keys()).toEqual(["list/a", "list/b", "list/c", "list/d"]);
    expect(await etcd.getAll().prefix("list/").count()).toBe(4);
    expect(await etcd.getAll().prefix("list/").sort("Key", "Descend").keys()).toEqual(["list/d", "list/c", "list/b", "list/a"]);
    // Creation order is b, a, d, c.
    expect(await etcd.getAll().prefix("list/").sort("Create", "Ascend").keys()).toEqual(["list/b", "list/a", "list/d", "list/c"]);

    const limited = await etcd.getAll().prefix("list/").limit(2).exec();
    expect(limited.kvs.map((kv) => str(kv.key))).toEqual(["list/a", "list/b"]);
    expect(limited.more).toBe(true);
    expect(limited.count).toBe("4");

    // inRange is [start, end).
    expect(await etcd.getAll().inRange({ start: "list/b", end: "list/d" }).keys()).toEqual(["list/b", "list/c"]);
    expect(await etcd.getAll().prefix("nothing-here/").strings()).toEqual({});
  });

  it("namespace: keys are prefixed on the wire and stripped in answers", async () => {
    const ns = etcd.namespace("ns1/");
    await ns.put("x").value("1");
    await ns.put("y").value("2");
    expect(await ns.get("x").string()).toBe("1");
    expect(await ns.getAll().strings()).toEqual({ x: "1", y: "2" });
    expect(await etcd.getAll().prefix("ns1/").keys()).toEqual(["ns1/x", "ns1/y"]);
    expect(await ns.delete().all().then((response) => response.deleted)).toBe("2");
    expect(await etcd.getAll().prefix("ns1/").count()).toBe(0);
  });

  it("delete: one key, a prefix, a range, previous values, a missing key", async () => {
    for (const name of ["a", "b", "c", "d", "e"]) await etcd.put(`del/${name}`).value(name);
    await etcd.put("del0").value("keep");

    expect((await etcd.delete().key("del/a").exec()).deleted).toBe("1");
    expect(await etcd.get("del/a").string()).toBeNull();
    expect((await etcd.delete().key("del/a").exec()).deleted).toBe("0");

    const previous = await etcd.delete().key("del/b").getPrevious();
    expect(previous.map((kv) => [str(kv.key), str(kv.value)])).toEqual([["del/b", "b"]]);

    expect((await etcd.delete().inRange({ start: "del/c", end: "del/e" }).exec()).deleted).toBe("2");
    expect(await etcd.getAll().prefix("del/").keys()).toEqual(["del/e"]);

    expect((await etcd.delete().prefix("del/").exec()).deleted).toBe("1");
    expect(await etcd.getAll().prefix("del/").count()).toBe(0);
    expect(await etcd.get("del0").string()).toBe("keep");
  });

  // ---- transactions

  it("if(...).then(...).else(...): success branch on a value compare", async () => {
    await etcd.put("txn/k").value("v1");
    const result = await etcd
      .if("txn/k", "Value", "==", "v1")
      .then(etcd.put("txn/k").value("v2"), etcd.put("txn/other").value("o"))
      .else(etcd.get("txn/k"))
      .commit();
    expect(result.succeeded).toBe(true);
    expect(result.responses).toHaveLength(2);
    expect(result.responses.map(opKind)).toEqual(["response_put", "response_put"]);
    expect(await etcd.get("txn/k").string()).toBe("v2");
    expect(await etcd.get("txn/other").string()).toBe("o");
    // One revision for the whole transaction.
    const k = (await etcd.get("txn/k").exec()).kvs[0] as IKeyValue;
    const other = (await etcd.get("txn/other").exec()).kvs[0] as IKeyValue;
    expect(k.mod_revision).toBe(other.mod_revision);
    expect(result.header.revision).toBe(k.mod_revision);
  });

  it("if(...).then(...).else(...): failure branch returns the else responses", async () => {
    await etcd.put("txn/f").value("actual");
    const before = await etcd.get("txn/f").exec();
    const result = await etcd
      .if("txn/f", "Value", "==", "expected")
      .then(etcd.put("txn/f").value("never"))
      .else(etcd.get("txn/f"), etcd.put("txn/f-else").value("ran"))
      .commit();
    expect(result.succeeded).toBe(false);
    expect(result.responses.map(opKind)).toEqual(["response_range", "response_put"]);
    const range = result.responses[0]?.response_range;
    expect(range?.kvs.map((kv) => [str(kv.key), str(kv.value)])).toEqual([["txn/f", "actual"]]);
    expect(await etcd.get("txn/f").string()).toBe("actual");
    expect(await etcd.get("txn/f-else").string()).toBe("ran");
    // The header revision moved by exactly the one put of the else branch.
    expect(Number(result.header.revision)).toBe(Number(before.header.revision) + 1);
  });

  it("txn compares: version, create, mod, value ordering, several compares with and(), create-if-absent", async () => {
    await etcd.put("cmp/a").value("5");
    await etcd.put("cmp/a").value("7");
    const a = (await etcd.get("cmp/a").exec()).kvs[0] as IKeyValue;

    const check = async (build: () => Promise<{ succeeded: boolean }>): Promise<boolean> => (await build()).succeeded;
    expect(await check(() => etcd.if("cmp/a", "Version", "==", 2).commit())).toBe(true);
    expect(await check(() => etcd.if("cmp/a", "Version", ">", 2).commit())).toBe(false);
    expect(await check(() => etcd.if("cmp/a", "Version", "<", 3).commit())).toBe(true);
    expect(await check(() => etcd.if("cmp/a", "Version", "!=", 2).commit())).toBe(false);
    expect(await check(() => etcd.if("cmp/a", "Create", "==", Number(a.create_revision)).commit())).toBe(true);
    expect(await check(() => etcd.if("cmp/a", "Mod", "==", Number(a.mod_revision)).commit())).toBe(true);
    expect(await check(() => etcd.if("cmp/a", "Mod", "<", Number(a.mod_revision)).commit())).toBe(false);
    expect(await check(() => etcd.if("cmp/a", "Value", ">", "6").commit())).toBe(true);
    expect(await check(() => etcd.if("cmp/a", "Value", "<", "6").commit())).toBe(false);
    expect(await check(() => etcd.if("cmp/a", "Value", "==", "7").and("cmp/a", "Version", "==", 2).commit())).toBe(true);
    expect(await check(() => etcd.if("cmp/a", "Value", "==", "7").and("cmp/a", "Version", "==", 1).commit())).toBe(false);
    // A value compare on a missing key is false whatever the operator.
    expect(await check(() => etcd.if("cmp/none", "Value", "!=", "x").commit())).toBe(false);

    // kube-apiserver's create: Mod(key) == 0 → put. The first wins, the second sees the key.
    const create = () =>
      etcd.if("cmp/new", "Mod", "==", 0).then(etcd.put("cmp/new").value("first")).else(etcd.get("cmp/new")).commit();
    const first = await create();
    const second = await create();
    expect(first.succeeded).toBe(true);
    expect(second.succeeded).toBe(false);
    expect(second.responses[0]?.response_range?.kvs.map((kv) => str(kv.value))).toEqual(["first"]);

    // kube-apiserver's update: Mod(key) == rev → put, else get.
    const current = (await etcd.get("cmp/new").exec()).kvs[0] as IKeyValue;
    const update = await etcd
      .if("cmp/new", "Mod", "==", Number(current.mod_revision))
      .then(etcd.put("cmp/new").value("second"))
      .else(etcd.get("cmp/new"))
      .commit();
    expect(update.succeeded).toBe(true);
    const stale = await etcd
      .if("cmp/new", "Mod", "==", Number(current.mod_revision))
      .then(etcd.put("cmp/new").value("lost"))
      .else(etcd.get("cmp/new"))
      .commit();
    expect(stale.succeeded).toBe(false);
    expect(await etcd.get("cmp/new").string()).toBe("second");

    // A delete inside a txn, with its response.
    const deleted = await etcd.if("cmp/new", "Version", ">", 0).then(etcd.delete().key("cmp/new")).commit();
    expect(deleted.succeeded).toBe(true);
    expect(deleted.responses[0]?.response_delete_range?.deleted).toBe("1");
    expect(await etcd.get("cmp/new").exists()).toBe(false);
  });

  it("txn errors: duplicate keys are rejected with etcd's error", async () => {
    const duplicate = await failure(etcd.if("dup/k", "Version", "==", 0).then(etcd.put("dup/k").value("1"), etcd.put("dup/k").value("2")).commit());
    expect(duplicate).toEqual({ name: "GRPCInvalidArgumentError", message: "3 INVALID_ARGUMENT: etcdserver: duplicate key given in txn request" });
    expect(await etcd.get("dup/k").exists()).toBe(false);
  });

  // ---- latency of a Node client (not a benchmark: a bound 5-10x above what either server needs)

  it("sequential calls are not held back by Nagle + delayed ACK: median get under 30 ms", async () => {
    // etcd answers a sequential put in ~4 ms and a get in ~2.5 ms on loopback. A server whose
    // client sockets lack TCP_NODELAY makes every unary call of a Node gRPC client wait for the
    // peer's delayed ACK (~40 ms on Linux): gets of ~50 ms and puts of ~55-70 ms were measured,
    // a 10x slowdown of every etcd3 / grpc-js user. Gets (no fsync) show that signature plainly; puts
    // wait for fsyncs on a loaded machine too, so they only get a wide bound against stalls (speed
    // is measured in bench/, not asserted here).
    const median = (samples: number[]): number => [...samples].sort((a, b) => a - b)[samples.length >> 1] as number;
    const puts: number[] = [];
    const gets: number[] = [];
    for (let i = 0; i < 30; i++) {
      let start = performance.now();
      await etcd.put(`lat/${i}`).value("x");
      puts.push(performance.now() - start);
      start = performance.now();
      await etcd.get(`lat/${i}`).string();
      gets.push(performance.now() - start);
    }
    const measured = { putMedianMs: Math.round(median(puts)), getMedianMs: Math.round(median(gets)) };
    console.log(`[etcd3-client] ${impl}: sequential latency ${JSON.stringify(measured)}`);
    expect(measured.putMedianMs, JSON.stringify(measured)).toBeLessThan(250);
    expect(measured.getMedianMs, JSON.stringify(measured)).toBeLessThan(30);
  });

  // ---- historic reads

  it("range with revision: each revision reads the value of its time, also after a delete", async () => {
    const r1 = Number((await etcd.put("hist/k").value("v1")).header.revision);
    const r2 = Number((await etcd.put("hist/k").value("v2")).header.revision);
    await etcd.put("hist/j").value("j1");
    const r3 = Number((await etcd.delete().key("hist/k").exec()).header.revision);
    const r4 = Number((await etcd.put("hist/k").value("v3")).header.revision);
    expect([r2 > r1, r3 > r2, r4 > r3]).toEqual([true, true, true]);

    expect(await etcd.get("hist/k").revision(r1).string()).toBe("v1");
    expect(await etcd.get("hist/k").revision(r2).string()).toBe("v2");
    expect(await etcd.get("hist/k").revision(r3).string()).toBeNull();
    expect(await etcd.get("hist/k").revision(r4).string()).toBe("v3");
    expect(await etcd.getAll().prefix("hist/").revision(r2).strings()).toEqual({ "hist/k": "v2" });
    expect(await etcd.getAll().prefix("hist/").revision(r3).strings()).toEqual({ "hist/j": "j1" });
    // A new generation after the delete: version restarts at 1.
    const current = (await etcd.get("hist/k").exec()).kvs[0] as IKeyValue;
    expect(current.version).toBe("1");
    expect(Number(current.create_revision)).toBe(r4);
    const old = (await etcd.get("hist/k").revision(r2).exec()).kvs[0] as IKeyValue;
    expect(old.version).toBe("2");
    expect(Number(old.create_revision)).toBe(r1);

    const future = await failure(etcd.get("hist/k").revision(r4 + 1000).string());
    expect(future).toEqual({ name: "GRPCOutOfRangeError", message: "11 OUT_OF_RANGE: etcdserver: mvcc: required revision is a future revision" });

    // Compaction through the raw KV client: older revisions are gone, the compacted one still reads.
    await etcd.kv.compact({ revision: String(r2), physical: true });
    const compacted = await failure(etcd.get("hist/k").revision(r1).string());
    expect(compacted).toEqual({ name: "GRPCOutOfRangeError", message: "11 OUT_OF_RANGE: etcdserver: mvcc: required revision has been compacted" });
    expect(await etcd.get("hist/k").revision(r2).string()).toBe("v2");
  });

  it("serializable reads from each member see a committed write", async () => {
    await etcd.put("ser/k").value("seen");
    for (const member of c().members) {
      const single = client([member.clientUrl]);
      const value = await eventually(`serializable read on ${member.name}`, 10_000, async () => {
        const got = await single.get("ser/k").serializable(true).string();
        return got === "seen" ? got : undefined;
      });
      expect(value).toBe("seen");
      // A linearizable read through any single member sees it at once.
      expect(await single.get("ser/k").string()).toBe("seen");
    }
  });

  it("maintenance status and member list through the client's raw services", async () => {
    const members = await etcd.cluster.memberList({});
    expect(members.members.map((member) => member.name).sort()).toEqual(["m1", "m2", "m3"]);
    const leaders = new Set<string>();
    for (const member of c().members) {
      const status = await client([member.clientUrl]).maintenance.status({});
      expect(status.version).toBe("3.4.23");
      leaders.add(status.leader);
      expect(members.members.map((m) => m.ID)).toContain(status.header.member_id);
    }
    expect(leaders.size).toBe(1);
  });

  // ---- failover

  /** Puts and reads back `count` keys through `etcd`; every call must succeed. */
  async function workload(client3: Etcd3, prefix: string, count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      await client3.put(`${prefix}/${i}`).value(`v${i}`);
      expect(await client3.get(`${prefix}/${i}`).string()).toBe(`v${i}`);
    }
    expect(await client3.getAll().prefix(`${prefix}/`).count()).toBe(count);
  }

  /**
   * The first moment a put through `client3` succeeds, in ms since `since`. Each attempt has a
   * 1 s deadline: a proposal forwarded to the dead leader is lost and would otherwise wait for
   * the server's request timeout (7 s in etcd), which measures that timeout, not the failover.
   */
  async function firstWrite(client3: Etcd3, key: string, since: number, timeoutMs: number): Promise<number> {
    let lastError = "";
    while (Date.now() - since < timeoutMs) {
      try {
        await client3.put(key).value("after-failover").options({ deadline: Date.now() + 1_000 });
        return Date.now() - since;
      } catch (error) {
        lastError = String(error);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    throw new Error(`no write succeeded within ${timeoutMs} ms; last error: ${lastError}`);
  }

  it("one follower killed: a client on all three endpoints keeps working without errors", async () => {
    const leader = await c().leader();
    const follower = c().members.find((member) => member !== leader.member) as Member;
    const failoverClient = client();
    await workload(failoverClient, "fo1-before", 5);
    await follower.kill();
    // The client picks hosts at random; the dead one fails with UNAVAILABLE and the call is
    // retried on another host, so no call may fail.
    await workload(failoverClient, "fo1", 40);
    await follower.start();
    await c().waitHealthy();
  });

  it("the leader killed: writes resume through the same client, and it keeps working", async () => {
    const leader = await c().leader();
    const failoverClient = client(c().endpoints, { faultHandling: { host: passThrough } });
    await workload(failoverClient, "fo2-before", 5);
    const killedAt = Date.now();
    await leader.member.kill();
    const elapsed = await firstWrite(failoverClient, "fo2-first", killedAt, 15_000);
    console.log(`[etcd3-client] ${impl}: first successful put ${elapsed} ms after SIGKILL of the leader ${leader.member.name}`);
    await workload(failoverClient, "fo2", 40);
    expect(await failoverClient.get("fo2-first").string()).toBe("after-failover");

    // The killed member comes back, catches up, and serves what was written without it.
    await leader.member.start();
    await c().waitHealthy();
    const back = client([leader.member.clientUrl]);
    expect(await back.getAll().prefix("fo2/").count()).toBe(40);
    expect(await back.get("fo2-first").string()).toBe("after-failover");
    expect(await back.get("fo1/39").string()).toBe("v39");
  });
});
