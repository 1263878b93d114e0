// The client's endpoint failover against real 3-member clusters (etcd 3.4 and ketch): a member
// killed with SIGKILL under the client must not stop reads, writes, watches or lease keep-alives,
// and errors must come back as EtcdError with etcd's codes and messages.

import { status as GrpcStatus } from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";

import { bytes, EtcdClient, EtcdError, prefixEnd } from "../../src/client/index.js";
import { destroyAllClusters, eventually, parseImpls, type Cluster, type Member } from "../integration/cluster.js";
import { useCluster } from "../integration/cluster-fixture.js";

const IMPLS = parseImpls(process.env.KETCH_IMPLS ?? "etcd,ketch");

afterAll(destroyAllClusters, 60_000);

/** The running members with a follower first, so killing the active endpoint does not cost a leader. */
async function followerFirst(cluster: Cluster): Promise<{ victim: Member; endpoints: string[] }> {
  const { member: leader } = await cluster.leader();
  const followers = cluster.members.filter((m) => m.running && m !== leader);
  const victim = followers[0] as Member;
  const endpoints = [victim.clientUrl, ...cluster.members.filter((m) => m !== victim).map((m) => m.clientUrl)];
  return { victim, endpoints };
}

describe.each(IMPLS)("client failover on %s", (impl) => {
  const c = useCluster(impl, 3);

  it("reads and writes go on through the other members after the active one is killed -9", async () => {
    const cluster = c();
    await cluster.waitHealthy(60_000);
    const { victim, endpoints } = await followerFirst(cluster);
    const client = new EtcdClient({ endpoints, requestTimeoutMs: 10_000 });
    try {
      await client.put({ key: bytes("fo/k"), value: bytes("before") });
      expect(client.activeEndpoint).toBe(victim.clientUrl);
      await victim.kill();
      // The dead member refuses connections: the read moves on, and so does the write, which
      // surely never reached a server.
      const read = await client.range({ key: bytes("fo/k") });
      expect(read.kvs.map((kv) => kv.value.toString())).toEqual(["before"]);
      expect(client.activeEndpoint).not.toBe(victim.clientUrl);
      const put = await client.put({ key: bytes("fo/k"), value: bytes("after"), prev_kv: true });
      expect(put.prev_kv?.value.toString()).toBe("before");
      expect((await client.range({ key: bytes("fo/k") })).kvs[0]?.value.toString()).toBe("after");
    } finally {
      client.close();
      await victim.start();
      await cluster.waitHealthy(60_000);
    }
  });

  it("watchKey resumes on another member without gaps or repeats when its member is killed -9", async () => {
    const cluster = c();
    await cluster.waitHealthy(60_000);
    const { victim, endpoints } = await followerFirst(cluster);
    const watcherClient = new EtcdClient({ endpoints });
    const writer = new EtcdClient({ endpoints: endpoints.slice(1), requestTimeoutMs: 10_000 });
    const seen: number[] = [];
    const keys: string[] = [];
    try {
      const start = Number((await writer.range({ key: bytes("fw/none") })).header.revision) + 1;
      const watcher = watcherClient.watchKey(bytes("fw/"), start, (events) => {
        for (const event of events) {
          seen.push(Number(event.kv?.mod_revision));
          keys.push(event.kv?.key.toString() ?? "");
        }
      }, { rangeEnd: prefixEnd(bytes("fw/")) });
      await watcher.ready;
      let last = 0;
      for (let i = 0; i < 120; i++) {
        if (i === 40) await victim.kill();
        last = Number((await writer.put({ key: bytes(`fw/${i}`), value: bytes(String(i)) })).header.revision);
      }
      await eventually("the watcher caught up", 30_000, async () => (seen.at(-1) === last ? true : undefined), 50);
      expect(seen).toEqual(Array.from({ length: 120 }, (_unused, i) => start + i));
      expect(keys).toEqual(Array.from({ length: 120 }, (_unused, i) => `fw/${i}`));
      expect(watcher.nextRevision).toBe(String(last + 1));
      watcher.cancel();
      expect(await watcher.closed).toBeUndefined();
    } finally {
      watcherClient.close();
      writer.close();
      await victim.start();
      await cluster.waitHealthy(60_000);
    }
  }, 120_000);

  it("a lease kept alive outlives the member its keep-alive stream was on", async () => {
    const cluster = c();
    await cluster.waitHealthy(60_000);
    const { victim, endpoints } = await followerFirst(cluster);
    const client = new EtcdClient({ endpoints });
    const checker = new EtcdClient({ endpoints: endpoints.slice(1) });
    try {
      const { ID } = await client.leaseGrant({ TTL: 3 });
      let answers = 0;
      const keeper = client.leaseKeepAlive(ID, () => answers++);
      await eventually("first keep-alive answer", 10_000, async () => (answers > 0 ? true : undefined), 50);
      await victim.kill();
      // Three TTLs later the lease is still there: the keeper moved to another member.
      await new Promise((resolve) => setTimeout(resolve, 9000));
      const ttl = await checker.leaseTimeToLive(ID);
      expect(Number(ttl.TTL)).toBeGreaterThan(0);
      keeper.stop();
      expect(await keeper.closed).toBeUndefined();
      await client.leaseRevoke(ID);
    } finally {
      client.close();
      checker.close();
      await victim.start();
      await cluster.waitHealthy(60_000);
    }
  }, 120_000);

  it("errors are EtcdError values with etcd's gRPC codes and messages", async () => {
    const client = new EtcdClient({ endpoints: c().runningEndpoints });
    try {
      const notFound = await client.leaseRevoke("123456").catch((error: unknown) => error);
      expect(notFound).toBeInstanceOf(EtcdError);
      expect(notFound).toMatchObject({ grpcCode: GrpcStatus.NOT_FOUND, message: "etcdserver: requested lease not found" });
      const future = await client.range({ key: bytes("x"), revision: 1_000_000 }).catch((error: unknown) => error);
      expect(future).toMatchObject({ grpcCode: GrpcStatus.OUT_OF_RANGE, message: "etcdserver: mvcc: required revision is a future revision" });
      const once = await client.leaseKeepAliveOnce("123456").catch((error: unknown) => error);
      expect(once).toMatchObject({ grpcCode: GrpcStatus.NOT_FOUND, message: "etcdserver: requested lease not found" });
    } finally {
      client.close();
    }
    // Nothing listens: the request ends at its deadline with Go's text, as etcdctl reports it.
    const dead = new EtcdClient({ endpoints: ["127.0.0.1:1"], requestTimeoutMs: 1500 });
    const started = Date.now();
    const error = await dead.range({ key: bytes("x") }).catch((failure: unknown) => failure);
    dead.close();
    expect(error).toMatchObject({ grpcCode: GrpcStatus.DEADLINE_EXCEEDED, message: "context deadline exceeded" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
