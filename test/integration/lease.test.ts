// Leases proven with the real etcdctl 3.4 and the etcd3 npm client against a 3-member cluster of
// real etcd 3.4 (the reference) and of ketch, started with the same flags (KETCH_IMPLS, default
// "etcd,ketch"). Every assertion must hold for both. Tests run in order and share one cluster.

import { readFileSync } from "node:fs";

import * as grpc from "@grpc/grpc-js";
import { Etcd3 } from "etcd3";
import { afterAll, describe, expect, it } from "vitest";

import { etcdServiceClients } from "../../src/api/etcd-proto.js";
import {
  describeRun,
  destroyAllClusters,
  eventually,
  int,
  parseImpls,
  sleep,
  type EtcdctlOptions,
  type EtcdctlResult,
  type Member,
} from "./cluster.js";
import { useCluster } from "./cluster-fixture.js";

const IMPLS = parseImpls(process.env.KETCH_IMPLS ?? "etcd,ketch");

afterAll(destroyAllClusters, 60_000);

interface TimeToLiveJson {
  id: string;
  ttl: string;
  "granted-ttl": string;
  keys: string[] | null;
  revision: string;
}

const unb64 = (base64: string): string => Buffer.from(base64, "base64").toString("utf8");

describe.each(IMPLS)("%s leases", (impl) => {
  // A small snapshot count so a member that falls behind is caught up with a snapshot.
  const c = useCluster(impl, 3, { snapshotCount: 100 });

  async function ok(args: string[], opts: EtcdctlOptions = {}): Promise<string> {
    const result = await c().etcdctl(args, opts);
    if (result.code !== 0) throw new Error(describeRun(args, result));
    return result.stdout;
  }

  async function fails(args: string[], opts: EtcdctlOptions = {}): Promise<EtcdctlResult> {
    const result = await c().etcdctl(args, opts);
    expect(result.code, describeRun(args, result)).not.toBe(0);
    return result;
  }

  /** `lease grant TTL` → the lease ID in etcdctl's hex. */
  async function grant(ttl: number, opts: EtcdctlOptions = {}): Promise<string> {
    const out = await ok(["lease", "grant", String(ttl)], opts);
    const m = /^lease ([0-9a-f]+) granted with TTL\((\d+)s\)\n$/.exec(out);
    if (m === null) throw new Error(`unexpected lease grant output: ${JSON.stringify(out)}`);
    return m[1] as string;
  }

  async function timeToLive(id: string, opts: EtcdctlOptions = {}): Promise<TimeToLiveJson> {
    return (await c().etcdctlJson(["lease", "timetolive", "--keys", id], opts)) as TimeToLiveJson;
  }

  async function keys(prefix: string, opts: EtcdctlOptions = {}): Promise<string[]> {
    const out = await ok(["get", "--prefix", "--keys-only", prefix], opts);
    return out.split("\n").filter((line) => line !== "");
  }

  async function revision(opts: EtcdctlOptions = {}): Promise<number> {
    const parsed = (await c().etcdctlJson(["get", "no-such-key"], opts)) as { header: { revision: string } };
    return int(parsed.header.revision);
  }

  /** Each running member alone: followers must answer lease calls as well as the leader. */
  const each = (): { member: Member; endpoints: string[] }[] =>
    c().members.filter((member) => member.running).map((member) => ({ member, endpoints: [member.clientUrl] }));

  it("grants leases: server-chosen IDs, the minimum TTL, and too large TTLs refused", async () => {
    const out = await ok(["lease", "grant", "10"]);
    expect(out).toMatch(/^lease [0-9a-f]{1,16} granted with TTL\(10s\)\n$/);
    // etcd's minimum TTL with the default election timeout (1000 ms) is 2 s.
    expect(await ok(["lease", "grant", "1"])).toMatch(/granted with TTL\(2s\)/);
    expect(await ok(["lease", "grant", "0"])).toMatch(/granted with TTL\(2s\)/);
    const json = (await c().etcdctlJson(["lease", "grant", "9000000000"])) as { ID: string; TTL: string };
    expect(json.TTL).toBe("9000000000");
    expect(BigInt(json.ID) > 0n).toBe(true);
    const tooLarge = await fails(["lease", "grant", "9000000001"]);
    expect(tooLarge.stderr).toContain("Error: failed to grant lease (etcdserver: too large lease TTL)");
    // Grants through every member get distinct IDs.
    const ids = new Set<string>();
    for (const { endpoints } of each()) for (let i = 0; i < 3; i++) ids.add(await grant(30, { endpoints }));
    expect(ids.size).toBe(3 * each().length);
  });

  it("attaches keys with put --lease, refuses unknown leases, and keeps the lease with --ignore-lease", async () => {
    const id = await grant(60);
    await ok(["put", "--lease", id, "/attach/b", "1"]);
    await ok(["put", "--lease", id, "/attach/a", "2"]);
    const unknown = await fails(["put", "--lease", "1234abcd", "/attach/x", "3"]);
    expect(unknown.stderr).toContain("Error: etcdserver: requested lease not found");
    await ok(["put", "--ignore-lease", "/attach/a", "2b"]);
    const got = (await c().etcdctlJson(["get", "/attach/a"])) as { kvs: { lease: string; value: string }[] };
    expect(BigInt(got.kvs[0]?.lease ?? "0")).toBe(BigInt(`0x${id}`));
    expect(unb64(got.kvs[0]?.value ?? "")).toBe("2b");
    const noKey = await fails(["put", "--ignore-lease", "/attach/none", "x"]);
    expect(noKey.stderr).toContain("etcdserver: key not found");
  });

  it("answers timetolive --keys, lease list and keep-alive --once on every member", async () => {
    const id = await grant(20);
    await ok(["put", "--lease", id, "/ttl/b", "1"]);
    await ok(["put", "--lease", id, "/ttl/a", "1"]);
    for (const { member, endpoints } of each()) {
      const text = await ok(["lease", "timetolive", "--keys", id], { endpoints });
      const m = /^lease ([0-9a-f]+) granted with TTL\(20s\), remaining\((\d+)s\), attached keys\(\[(.*)\]\)\n$/.exec(text);
      expect(m, `${member.name}: ${text}`).not.toBeNull();
      expect(m?.[1]).toBe(id);
      expect(int(m?.[2])).toBeGreaterThanOrEqual(10);
      expect(int(m?.[2])).toBeLessThanOrEqual(20);
      expect((m?.[3] ?? "").split(" ").sort()).toEqual(["/ttl/a", "/ttl/b"]);

      const json = await timeToLive(id, { endpoints });
      expect(BigInt(json.id)).toBe(BigInt(`0x${id}`));
      expect(int(json["granted-ttl"])).toBe(20);
      expect((json.keys ?? []).map(unb64).sort()).toEqual(["/ttl/a", "/ttl/b"]);

      const kept = await ok(["lease", "keep-alive", "--once", id], { endpoints });
      expect(kept).toBe(`lease ${id} keepalived with TTL(20)\n`);
      const after = await timeToLive(id, { endpoints });
      expect(int(after.ttl)).toBeGreaterThanOrEqual(18);

      const list = await ok(["lease", "list"], { endpoints });
      const lines = list.split("\n").filter((line) => line !== "");
      expect(lines[0]).toBe(`found ${lines.length - 1} leases`);
      expect(lines.slice(1)).toContain(id);
    }
    const listJson = (await c().etcdctlJson(["lease", "list"])) as { leases: { id: string }[] };
    expect(listJson.leases.map((l) => BigInt(l.id))).toContain(BigInt(`0x${id}`));
  });

  it("answers for a lease that does not exist as etcd does", async () => {
    for (const { endpoints } of each()) {
      const keepAlive = await fails(["lease", "keep-alive", "--once", "1234"], { endpoints });
      expect(keepAlive.stderr).toContain("Error: etcdserver: requested lease not found");
      expect(await ok(["lease", "timetolive", "1234"], { endpoints })).toBe("lease 0000000000001234 already expired\n");
      const json = await timeToLive("1234", { endpoints });
      expect(json.ttl).toBe("-1");
      expect(json["granted-ttl"]).toBe("0");
      const revoke = await fails(["lease", "revoke", "1234"], { endpoints });
      expect(revoke.stderr).toContain("Error: failed to revoke lease (etcdserver: requested lease not found)");
    }
  });

  it("keeps a raw LeaseKeepAlive stream on a follower answering in order, with TTL 0 for unknown leases", async () => {
    const id = await grant(15);
    const { member: leader } = await c().leader();
    const follower = c().members.find((member) => member.running && member !== leader) as Member;
    const Lease = etcdServiceClients().Lease;
    const client = new Lease(new URL(follower.clientUrl).host, grpc.credentials.createInsecure());
    try {
      const stream = client.LeaseKeepAlive() as grpc.ClientDuplexStream<{ ID: string }, { ID: string; TTL: string; header: { revision: string } }>;
      const responses: { ID: string; TTL: string }[] = [];
      const done = new Promise<grpc.StatusObject>((resolve) => stream.on("status", resolve));
      stream.on("data", (res: { ID: string; TTL: string }) => responses.push({ ID: res.ID, TTL: res.TTL }));
      stream.on("error", () => undefined);
      const decimal = BigInt(`0x${id}`).toString();
      stream.write({ ID: decimal });
      stream.write({ ID: "4660" });
      stream.write({ ID: decimal });
      await eventually("three keepalive responses", 15_000, async () => (responses.length >= 3 ? true : undefined), 50);
      stream.end();
      const status = await done;
      expect(status.code).toBe(grpc.status.OK);
      expect(responses).toEqual([
        { ID: decimal, TTL: "15" },
        { ID: "4660", TTL: "0" },
        { ID: decimal, TTL: "15" },
      ]);
    } finally {
      client.close();
    }
  });

  it("revokes a lease: its keys are deleted in one revision, other keys stay", async () => {
    const id = await grant(60);
    await ok(["put", "--lease", id, "/revoke/a", "1"]);
    await ok(["put", "--lease", id, "/revoke/b", "1"]);
    await ok(["put", "--lease", id, "/revoke/c", "1"]);
    await ok(["put", "/revoke/keep", "1"]);
    const before = await revision();
    expect(await ok(["lease", "revoke", id])).toBe(`lease ${id} revoked\n`);
    const after = await revision();
    expect(after).toBe(before + 1);
    expect(await keys("/revoke/")).toEqual(["/revoke/keep"]);
    // All three were there one revision earlier, and none at the revoke's revision.
    expect(await ok(["get", "--prefix", "--keys-only", "--rev", String(before), "/revoke/"])).toBe(
      "/revoke/a\n\n/revoke/b\n\n/revoke/c\n\n/revoke/keep\n\n",
    );
    for (const { endpoints } of each()) {
      expect(await ok(["get", "--prefix", "--keys-only", "--consistency=s", "/revoke/"], { endpoints })).toBe("/revoke/keep\n\n");
      expect((await timeToLive(id, { endpoints })).ttl).toBe("-1");
    }
  });

  it("expires a lease that is not kept alive: its keys disappear", async () => {
    const id = await grant(3);
    await ok(["put", "--lease", id, "/expire/a", "1"]);
    await ok(["put", "--lease", id, "/expire/b", "1"]);
    const start = Date.now();
    await eventually("the lease's keys to be deleted", 15_000, async () => ((await keys("/expire/")).length === 0 ? true : undefined), 200);
    const tookMs = Date.now() - start;
    expect(tookMs).toBeLessThan(10_000);
    expect(tookMs).toBeGreaterThan(1_500);
    for (const { endpoints } of each()) {
      await eventually("every member to drop the lease", 10_000, async () => ((await timeToLive(id, { endpoints })).ttl === "-1" ? true : undefined));
      expect(await ok(["get", "--prefix", "--consistency=s", "/expire/"], { endpoints })).toBe("");
    }
  });

  it("keeps leases alive with the etcd3 client through a kill -9 of the leader", async () => {
    const client = new Etcd3({ hosts: c().runningEndpoints, dialTimeout: 2000 });
    try {
      const lease = client.lease(4);
      let lost: unknown;
      lease.on("lost", (error) => {
        lost = error;
      });
      let successes = 0;
      lease.on("keepaliveSucceeded", () => successes++);
      const id = await lease.grant();
      await lease.put("/survive/key").value("v");
      await eventually("a first keepalive", 10_000, async () => (successes > 0 ? true : undefined));

      const { member: leader, term } = await c().leader();
      await leader.kill();
      const killedAt = Date.now();
      const afterKill = successes;
      // Three TTLs without the old leader: only keepalives through the new one keep it.
      while (Date.now() - killedAt < 12_000) {
        expect(lost).toBeUndefined();
        await sleep(500);
      }
      expect(successes).toBeGreaterThan(afterKill);
      const newLeader = await c().leader();
      expect(newLeader.term).toBeGreaterThan(term);
      expect(await keys("/survive/")).toEqual(["/survive/key"]);
      const ttl = await timeToLive(BigInt(id).toString(16));
      expect(int(ttl.ttl)).toBeGreaterThan(0);
      expect(int(ttl["granted-ttl"])).toBe(4);

      await leader.start();
      await c().waitHealthy();
      await lease.revoke();
      expect(lost).toBeUndefined();
      expect(await keys("/survive/")).toEqual([]);
    } finally {
      client.close();
    }
  });

  it("keeps leases across a full restart and in the snapshot a lagging member installs", async () => {
    const id = await grant(600);
    await ok(["put", "--lease", id, "/persist/a", "1"]);
    const { member: leader } = await c().leader();
    const lagging = c().members.find((member) => member.running && member !== leader) as Member;
    await lagging.stop();
    // A lease granted while the member is down, and more writes than --snapshot-count: the member
    // catches up from a snapshot (ketch; etcd keeps 5000 entries and replays them) that must carry it.
    const late = await grant(600);
    await ok(["put", "--lease", late, "/persist/late", "1"]);
    const writer = new Etcd3({ hosts: c().runningEndpoints });
    try {
      for (let i = 0; i < 250; i++) await writer.put("/persist/filler").value(String(i));
    } finally {
      writer.close();
    }
    await lagging.start();
    await eventually("the lagging member to catch up", 30_000, async () => {
      const out = await ok(["get", "--consistency=s", "--keys-only", "/persist/late"], { endpoints: [lagging.clientUrl] });
      return out === "/persist/late\n\n" ? true : undefined;
    });
    if (impl === "ketch") {
      // ketch keeps only --snapshot-count entries behind a snapshot, so this catch-up was a snapshot
      // install; the lease granted meanwhile must have come with it (etcd replays its 5000 entries).
      expect(readFileSync(lagging.logPath, "utf8")).toContain("installed snapshot from leader");
    }
    const listed = await ok(["lease", "list"], { endpoints: [lagging.clientUrl] });
    expect(listed.split("\n")).toContain(late);
    // A put with the late lease applies on the caught-up member too (its lease check passes there).
    await ok(["put", "--lease", late, "/persist/late2", "1"]);
    await eventually("the put to reach the lagging member", 10_000, async () => {
      const out = await ok(["get", "--consistency=s", "--keys-only", "/persist/late2"], { endpoints: [lagging.clientUrl] });
      return out === "/persist/late2\n\n" ? true : undefined;
    });

    await Promise.all(c().members.map((member) => member.stop()));
    await Promise.all(c().members.map((member) => member.start()));
    await c().waitHealthy();
    for (const lease of [id, late]) {
      const ttl = await timeToLive(lease);
      expect(int(ttl["granted-ttl"])).toBe(600);
      expect(int(ttl.ttl)).toBeGreaterThan(500);
    }
    expect((await timeToLive(late)).keys?.map(unb64).sort()).toEqual(["/persist/late", "/persist/late2"]);
    await ok(["put", "--lease", id, "/persist/b", "1"]);
    await ok(["lease", "revoke", late]);
    expect(await keys("/persist/")).toEqual(["/persist/a", "/persist/b", "/persist/filler"]);
  });
});
