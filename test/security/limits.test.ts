// Ketch's own abuse limits where etcd has none: watches per Watch stream and leases per cluster.
// (--max-request-bytes and --max-txn-ops, which etcd has, are compared with etcd 3.4 in
// test/integration/etcdctl.test.ts.)
import { afterAll, describe, expect, it } from "vitest";

import { EtcdClient } from "../../src/client/etcd-client.js";
import { useCluster } from "../integration/cluster-fixture.js";
import { destroyAllClusters } from "../integration/cluster.js";

afterAll(async () => {
  await destroyAllClusters();
}, 60_000);

describe("watch and lease limits", () => {
  const cluster = useCluster("ketch", 1, {
    namePrefix: "l",
    extraFlags: ["--experimental-max-watches-per-stream", "3", "--experimental-max-leases", "2"],
  });

  it("a stream's watch beyond the limit is canceled at creation; others keep working", async () => {
    const client = new EtcdClient({ endpoints: cluster().endpoints });
    try {
      const stream = client.watch();
      for (let i = 0; i < 3; i++) {
        const r = await stream.create({ key: Buffer.from(`k${i}`) });
        expect(r.canceled).toBe(false);
      }
      const refused = await stream.create({ key: Buffer.from("k3") });
      expect(refused.canceled).toBe(true);
      expect(refused.cancel_reason).toBe("etcdserver: too many watches on one stream (at most 3); open another stream");
      // A second stream has its own allowance.
      const other = client.watch();
      expect((await other.create({ key: Buffer.from("k4") })).canceled).toBe(false);
      stream.close();
      other.close();
    } finally {
      client.close();
    }
  });

  it("LeaseGrant beyond the limit is refused with RESOURCE_EXHAUSTED; after a revoke it works again", async () => {
    const client = new EtcdClient({ endpoints: cluster().endpoints });
    try {
      const a = await client.leaseGrant({ TTL: 60 });
      await client.leaseGrant({ TTL: 60 });
      await expect(client.leaseGrant({ TTL: 60 })).rejects.toMatchObject({
        grpcCode: 8,
        message: "etcdserver: too many leases (at most 2); revoke some or raise --experimental-max-leases",
      });
      await client.leaseRevoke(a.ID);
      await expect(client.leaseGrant({ TTL: 60 })).resolves.toBeDefined();
    } finally {
      client.close();
    }
  });
});
