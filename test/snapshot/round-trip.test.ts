// Snapshot round trip on real processes: a 3-member ketch cluster gets 10,000 keys with history
// (overwrites, deletes, re-creations, txns, a lease, a compaction); the real etcdctl saves a
// snapshot from it; restoreSnapshot writes three fresh data dirs; a NEW 3-member ketch cluster
// starts on them. Every key, value, create/mod revision, version and lease, the header revision,
// the hash of the whole kept history and the compaction boundary must be the same on both.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { snapshotStatus } from "../../src/snapshot/index.js";
import { destroyAllClusters, runEtcdctl } from "../integration/cluster.js";
import { useCluster } from "../integration/cluster-fixture.js";
import { client, dump, etcdctlJson, hashKV, restoreKetchCluster, runWorkload, saveSnapshot } from "./snapshot-helpers.js";

afterAll(destroyAllClusters, 60_000);

describe("ketch snapshot save → restore → new cluster", () => {
  const source = useCluster("ketch", 3);
  let workDir = "";
  let snapshotFile = "";
  let expected: { revision: string; kvs: unknown[] } | undefined;
  afterAll(async () => {
    if (workDir !== "") await rm(workDir, { recursive: true, force: true });
  });

  it("restores every key with its revisions, leases and compaction into a new 3-member cluster", async () => {
    const etcd = client(source().endpoints);
    // The first 10,000 puts go 20 to a txn (the shared test machine is slow); the 1,600 overwrites,
    // deletes and re-creations after them are single requests.
    const workload = await runWorkload(etcd, { keys: 10_000, compact: true, firstPassTxnOps: 20 }).finally(() => etcd.close());
    const from = source().endpoints[0] as string;
    // A linearizable read through the member we save from, so its state includes every write.
    const before = await dump(from);
    expect(before.revision).toBe(String(workload.finalRevision));
    expect(before.kvs.length).toBeGreaterThan(9_500);

    workDir = await mkdtemp(join(tmpdir(), "ketch-snap-rt-"));
    const snapPath = join(workDir, "ketch.snapshot");
    await saveSnapshot(from, snapPath);
    const sourceHash = await hashKV(from);

    const status = await snapshotStatus(snapPath);
    expect(status.format).toBe("ketch");
    expect(status.revision).toBe(workload.finalRevision);
    // For a ketch snapshot the hash is the MVCC hash at its revision: what hashkv printed.
    expect(String(status.hash)).toBe(sourceHash.hash);

    const restored = await restoreKetchCluster(snapPath, 3);
    console.log(
      `[snapshot] restore of ${before.kvs.length} keys (revision ${workload.finalRevision}): ` +
        restored.restoreMs.map((ms) => `${ms.toFixed(0)} ms`).join(", "),
    );
    for (const r of restored.results) {
      expect(r.format).toBe("ketch");
      expect(r.revision).toBe(workload.finalRevision);
      expect(r.compactRevision).toBe(workload.compactRevision);
      expect(r.keys).toBe(before.kvs.length);
    }

    for (const endpoint of restored.cluster.endpoints) {
      const after = await dump(endpoint);
      expect(after.revision).toBe(before.revision);
      expect(after.kvs).toEqual(before.kvs);
      expect(await hashKV(endpoint)).toEqual(sourceHash);
    }

    // History kept at the compaction revision, and nothing below it.
    const target = restored.cluster.endpoints[1] as string;
    const at = ["--rev", String(workload.compactRevision)];
    expect(await dump(target, at)).toEqual(await dump(from, at));
    const below = ["get", "", "--prefix", "--rev", String(workload.compactRevision - 1)];
    const [srcBelow, dstBelow] = await Promise.all([runEtcdctl([from], below), runEtcdctl([target], below)]);
    expect(srcBelow.code).not.toBe(0);
    expect(dstBelow.code).toBe(srcBelow.code);
    expect(dstBelow.stderr).toContain("required revision has been compacted");

    // The lease came along with its keys.
    const leaseHex = BigInt(workload.leaseId).toString(16);
    const ttl = (await etcdctlJson([target], ["lease", "timetolive", leaseHex, "--keys"])) as { keys?: string[]; "granted-ttl"?: string };
    expect(ttl["granted-ttl"]).toBe("3600");
    expect((ttl.keys ?? []).map((k) => Buffer.from(k, "base64").toString()).sort()).toEqual(
      Array.from({ length: 10 }, (_u, j) => `/snap/leased/${j}`).sort(),
    );

    // A new membership (the restored IDs, not the source's), and the new cluster takes writes.
    const members = (await etcdctlJson([target], ["member", "list"])) as { members: Array<{ ID: string; name: string }> };
    expect(members.members.map((m) => BigInt(m.ID).toString(16)).sort()).toEqual(
      restored.results[0]?.members.map((m) => m.id).sort(),
    );
    const sourceMembers = (await etcdctlJson([from], ["member", "list"])) as { members: Array<{ ID: string }> };
    expect(members.members.some((m) => sourceMembers.members.some((s) => s.ID === m.ID))).toBe(false);
    const put = (await etcdctlJson([target], ["put", "/after/restore", "x"])) as { header: { revision: string } };
    expect(put.header.revision).toBe(String(workload.finalRevision + 1));
    snapshotFile = snapPath;
    expected = before;
    await restored.cluster.destroy();
  }, 600_000); // real clusters on a shared 2-core machine: writes can be slow

  it("a member started empty with the same flags (not restored by mistake) is sent the restored state", async () => {
    if (expected === undefined) throw new Error("the round trip above did not produce a snapshot");
    const restored = await restoreKetchCluster(snapshotFile, 3, { leaveEmpty: [2] });
    const empty = restored.cluster.endpoints[2] as string;
    const after = await dump(empty); // linearizable: served once the member caught up
    expect(after.revision).toBe(expected.revision);
    expect(after.kvs).toEqual(expected.kvs);
    expect(await hashKV(empty)).toEqual(await hashKV(restored.cluster.endpoints[0] as string));
    await restored.cluster.destroy();
  }, 600_000); // real clusters on a shared 2-core machine: writes can be slow
});
