// Ketch's own abuse limits where etcd has none: watches per Watch stream, leases per cluster, and
// connections on the client URLs.
// (--max-request-bytes and --max-txn-ops, which etcd has, are compared with etcd 3.4 in
// test/integration/etcdctl.test.ts.)
import { get } from "node:http";

import { afterAll, describe, expect, it } from "vitest";

import { EtcdClient } from "../../src/client/etcd-client.js";
import { useCluster } from "../integration/cluster-fixture.js";
import { destroyAllClusters, eventually } from "../integration/cluster.js";
import { parsePrometheusText } from "../prometheus-text.js";

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

/** One GET on its own connection, closed after the answer (a pooled one would hold a slot). */
function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false, headers: { connection: "close" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    }).on("error", reject);
  });
}

describe("client connection limit", () => {
  const cluster = useCluster("ketch", 1, { namePrefix: "c", extraFlags: ["--experimental-max-client-connections", "3"] });
  const refusal = "etcdserver: too many client connections (at most 3); close some or raise --experimental-max-client-connections";

  it("refuses a 4th connection with RESOURCE_EXHAUSTED and serves the 3 it holds; a closed one frees a slot; /metrics counts", async () => {
    const endpoints = cluster().endpoints;
    const url = endpoints[0] as string;
    // Each EtcdClient has its own channel, so its own connection.
    const open = (): EtcdClient => new EtcdClient({ endpoints, requestTimeoutMs: 5000 });
    // The harness's health checks (etcdctl) may still be closing their connections.
    await eventually("the member's client connections are free", 10_000, async () => {
      const m = parsePrometheusText((await httpGet(`${url}/metrics`)).body);
      const connections = m.samples.find((s) => s.name === "ketch_network_client_connections")?.value;
      return connections === 1 ? true : undefined; // just this scrape's own connection
    }, 100);
    const held = [open(), open(), open()];
    const extra: EtcdClient[] = [];
    try {
      for (const [i, client] of held.entries()) await client.put({ key: Buffer.from(`c${i}`), value: Buffer.from("v") });

      const fourth = open();
      extra.push(fourth);
      await expect(fourth.range({ key: Buffer.from("c0") })).rejects.toMatchObject({ grpcCode: 8, message: refusal });
      // HTTP on the client port counts too: at the limit it is answered 503.
      expect(await httpGet(`${url}/health`)).toEqual({ status: 503, body: `${refusal}\n` });

      // The held connections keep working.
      for (const [i, client] of held.entries()) {
        const r = await client.range({ key: Buffer.from(`c${i}`) });
        expect(r.kvs.map((kv) => kv.value.toString())).toEqual(["v"]);
      }

      // Closing one frees its slot (once the member has seen the connection close).
      held.shift()?.close();
      const fifth = await eventually("a new client is served after one closed", 10_000, async () => {
        const client = open();
        try {
          await client.range({ key: Buffer.from("c1") });
          return client;
        } catch (error) {
          client.close();
          throw error;
        }
      }, 100);
      extra.push(fifth);
      expect((await fifth.range({ key: Buffer.from("c1") })).kvs).toHaveLength(1);

      // Below the limit again, /metrics and /health answer on the same port.
      fifth.close();
      const metrics = await eventually("/metrics answers below the limit", 10_000, async () => {
        const r = await httpGet(`${url}/metrics`);
        return r.status === 200 ? parsePrometheusText(r.body) : undefined;
      }, 100);
      expect(metrics.types.get("ketch_network_client_connections")).toBe("gauge");
      expect(metrics.types.get("ketch_network_client_connections_refused_total")).toBe("counter");
      const refused = metrics.samples.find((s) => s.name === "ketch_network_client_connections_refused_total")?.value ?? 0;
      expect(refused).toBeGreaterThanOrEqual(2); // the 4th gRPC client and the HTTP request at least
      // Two held clients and this scrape.
      expect(metrics.samples.find((s) => s.name === "ketch_network_client_connections")?.value).toBe(3);
      expect((await httpGet(`${url}/health`)).status).toBe(200);
    } finally {
      for (const client of [...held, ...extra]) client.close();
    }
  });
});
