// etcd 3.4's strict reconfiguration check, side by side: right after a cluster starts, a member add
// is refused with "unhealthy cluster" (members must have been connected for 5 s), never with
// "not enough started members" (that one is about members that never published their name).
import { afterAll, describe, expect, it } from "vitest";

import { destroyAllClusters, parseImpls, startCluster } from "./cluster.js";

const IMPLS = parseImpls(process.env.KETCH_IMPLS ?? "etcd,ketch");

afterAll(async () => {
  await destroyAllClusters();
}, 60_000);

describe.each(IMPLS)("strict reconfiguration check (%s)", (impl) => {
  it("a member add within 5 s of startup is refused as an unhealthy cluster; later it is accepted", async () => {
    const started = Date.now();
    const c = await startCluster(impl, 3);
    const early = await c.etcdctl(["member", "add", "early", "--peer-urls=http://127.0.0.1:1"]);
    const elapsed = Date.now() - started;
    // Connections can only be older than the cluster; with room for a slow etcdctl, the check must still refuse.
    if (elapsed < 4_000) {
      expect(early.code).not.toBe(0);
      expect(early.stderr).toContain("Error: etcdserver: unhealthy cluster");
    }
    expect(early.stderr).not.toContain("not enough started members");
    // The harness retries "unhealthy cluster" until the 5 s have passed.
    const { added } = await c.addMember("m4", { start: false });
    expect(added.stdout).toMatch(/^Member +[0-9a-f]+ added to cluster/);
  }, 60_000);
});
