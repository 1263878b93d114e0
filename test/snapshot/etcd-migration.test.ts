// Migration from etcd: a real etcd 3.4 cluster (Debian etcd-server) gets keys with history
// (overwrites, deletes, re-creations, txns with sub revisions, binary bytes, a lease, a
// compaction); the real etcdctl saves a snapshot (a bbolt database plus its sha256); our
// snapshotStatus must print what `etcdctl snapshot status` prints, and a NEW 3-member ketch
// cluster restored from the file must hold every key exactly as etcd did.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { snapshotStatus } from "../../src/snapshot/index.js";
import { destroyAllClusters, runEtcdctl } from "../integration/cluster.js";
import { useCluster } from "../integration/cluster-fixture.js";
import { client, dump, etcdctlJson, hashKV, restoreKetchCluster, runWorkload, saveSnapshot } from "./snapshot-helpers.js";

afterAll(destroyAllClusters, 60_000);

describe("etcd 3.4 snapshot → ketch", () => {
  const etcdCluster = useCluster("etcd", 3);
  let workDir = "";
  afterAll(async () => {
    if (workDir !== "") await rm(workDir, { recursive: true, force: true });
  });

  it("reads etcdctl's snapshot: same status, and a restored ketch cluster holds every key with its revisions", async () => {
    const etcd = client(etcdCluster().endpoints);
    const workload = await runWorkload(etcd, { keys: 4_000, compact: true, valueBytes: 200 }).finally(() => etcd.close());
    const from = etcdCluster().endpoints[0] as string;
    const before = await dump(from);
    expect(before.revision).toBe(String(workload.finalRevision));

    workDir = await mkdtemp(join(tmpdir(), "ketch-snap-etcd-"));
    const snapPath = join(workDir, "etcd.db");
    await saveSnapshot(from, snapPath);
    const sourceHash = await hashKV(from);

    // Status: identical to etcdctl's numbers, hash included.
    const theirs = (await etcdctlJson([from], ["snapshot", "status", snapPath])) as Record<string, string>;
    const ours = await snapshotStatus(snapPath);
    expect(ours.format).toBe("etcd");
    expect({ hash: String(ours.hash), revision: String(ours.revision), totalKey: String(ours.totalKey), totalSize: String(ours.totalSize) }).toEqual(
      theirs,
    );

    const restored = await restoreKetchCluster(snapPath, 3);
    console.log(
      `[snapshot] etcd → ketch restore of ${before.kvs.length} keys (revision ${workload.finalRevision}): ` +
        restored.restoreMs.map((ms) => `${ms.toFixed(0)} ms`).join(", "),
    );
    for (const r of restored.results) {
      expect(r.format).toBe("etcd");
      expect(r.revision).toBe(workload.finalRevision);
      expect(r.compactRevision).toBe(workload.compactRevision);
      expect(r.leases).toBe(1);
    }

    for (const endpoint of restored.cluster.endpoints) {
      const after = await dump(endpoint);
      expect(after.revision).toBe(before.revision);
      expect(after.kvs).toEqual(before.kvs);
      // etcd's HashKV over the whole kept history: the records came across byte for byte.
      expect(await hashKV(endpoint)).toEqual(sourceHash);
    }

    const target = restored.cluster.endpoints[2] as string;
    const at = ["--rev", String(workload.compactRevision)];
    expect(await dump(target, at)).toEqual(await dump(from, at));
    const mid = ["--rev", String(Math.floor((workload.compactRevision + workload.finalRevision) / 2))];
    expect(await dump(target, mid)).toEqual(await dump(from, mid));
    const below = ["get", "", "--prefix", "--rev", String(workload.compactRevision - 1)];
    const [srcBelow, dstBelow] = await Promise.all([runEtcdctl([from], below), runEtcdctl([target], below)]);
    expect(srcBelow.code).not.toBe(0);
    expect(dstBelow.code).toBe(srcBelow.code);
    expect(dstBelow.stderr).toContain("required revision has been compacted");

    const leaseHex = BigInt(workload.leaseId).toString(16);
    const ttl = (await etcdctlJson([target], ["lease", "timetolive", leaseHex, "--keys"])) as { keys?: string[]; "granted-ttl"?: string };
    expect(ttl["granted-ttl"]).toBe("3600");
    expect((ttl.keys ?? []).length).toBe(10);

    const put = (await etcdctlJson([target], ["put", "/after/migration", "x"])) as { header: { revision: string } };
    expect(put.header.revision).toBe(String(workload.finalRevision + 1));
  }, 600_000); // real clusters on a shared 2-core machine: writes can be slow
});
