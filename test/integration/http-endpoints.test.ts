// HTTP /health, /version and /metrics on the client URLs (the same port as gRPC, as etcd serves
// them), against a 3-member cluster of real etcd 3.4 (the reference) and of ketch with the same
// flags. Monitoring (Prometheus scrapes, load-balancer health checks, kubeadm) reads exactly these.

import { afterAll, describe, expect, it } from "vitest";

import { describeRun, destroyAllClusters, eventually, parseImpls, type Member } from "./cluster.js";
import { useCluster } from "./cluster-fixture.js";

const IMPLS = parseImpls(process.env.KETCH_IMPLS ?? "etcd,ketch");

afterAll(destroyAllClusters, 60_000);

interface HttpAnswer {
  status: number;
  headers: Headers;
  body: string;
}

/** One HTTP/1.1 request with a hard limit, so a server that never answers fails instead of hanging. */
async function http(url: string, init: RequestInit = {}, timeoutMs = 10_000): Promise<HttpAnswer> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  return { status: response.status, headers: response.headers, body: await response.text() };
}

/** The Prometheus text format: sample lines by metric name (with labels), and `# TYPE` lines. */
interface Metrics {
  samples: Map<string, number>;
  types: Map<string, string>;
  text: string;
}

const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)( \d+)?$/;

function parseMetrics(text: string): Metrics {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("# TYPE ")) {
      const [name, type] = line.slice("# TYPE ".length).split(" ");
      types.set(name as string, type as string);
      continue;
    }
    if (line.startsWith("#")) continue;
    const match = sampleLine.exec(line);
    if (match === null) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const value = match[3] === "+Inf" ? Infinity : match[3] === "-Inf" ? -Infinity : Number(match[3]);
    if (Number.isNaN(value) && match[3] !== "NaN") throw new Error(`bad sample value in ${JSON.stringify(line)}`);
    samples.set(`${match[1]}${match[2] ?? ""}`, value);
  }
  return { samples, types, text };
}

function sample(metrics: Metrics, name: string): number {
  const value = metrics.samples.get(name);
  if (value === undefined) throw new Error(`metric ${name} missing; metrics start:\n${metrics.text.slice(0, 1500)}`);
  return value;
}

describe.each(IMPLS)("%s HTTP endpoints on the client URL", (impl) => {
  const c = useCluster(impl, 3);

  async function metricsOf(member: Member): Promise<Metrics> {
    const answer = await http(`${member.clientUrl}/metrics`);
    expect(answer.status, answer.body.slice(0, 500)).toBe(200);
    return parseMetrics(answer.body);
  }

  it("GET /health: 200 and {\"health\":\"true\"} on every member of a cluster with a leader", async () => {
    for (const member of c().members) {
      const answer = await http(`${member.clientUrl}/health`);
      expect({ member: member.name, status: answer.status, body: JSON.parse(answer.body) as unknown }).toEqual({
        member: member.name,
        status: 200,
        body: { health: "true" },
      });
    }
    // The same port still speaks gRPC: etcdctl works on exactly these URLs.
    const health = await c().etcdctl(["endpoint", "health"]);
    expect(health.code, describeRun(["endpoint", "health"], health)).toBe(0);
  });

  it("GET /version: JSON with etcdserver and etcdcluster", async () => {
    for (const member of c().members) {
      const answer = await http(`${member.clientUrl}/version`);
      expect(answer.status).toBe(200);
      expect(answer.headers.get("content-type")).toBe("application/json");
      const version = JSON.parse(answer.body) as Record<string, unknown>;
      expect(Object.keys(version).sort()).toEqual(["etcdcluster", "etcdserver"]);
      expect(version["etcdserver"]).toMatch(/^3\.4\.\d+$/);
      expect(version["etcdcluster"]).toBe("3.4.0");
      // What /version says is what the gRPC Status RPC says.
      const [status] = await c().status([member.clientUrl]);
      expect(status?.version).toBe(version["etcdserver"]);
    }
  });

  it("/health and /version refuse other methods with 405 and Allow: GET, as etcd does", async () => {
    const member = c().members[0] as Member;
    for (const path of ["/health", "/version"]) {
      const answer = await http(`${member.clientUrl}${path}`, { method: "POST", body: "" });
      expect({ path, status: answer.status, allow: answer.headers.get("allow") }).toEqual({ path, status: 405, allow: "GET" });
    }
  });

  it("an unknown path is 404", async () => {
    const answer = await http(`${c().endpoints[0]}/no-such-endpoint`);
    expect(answer.status).toBe(404);
    expect(answer.body).toBe("404 page not found\n");
  });

  it("GET /metrics: Prometheus text with etcd's server, disk and mvcc metrics and their types", async () => {
    for (const member of c().members) {
      const answer = await http(`${member.clientUrl}/metrics`);
      expect(answer.status).toBe(200);
      expect(answer.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
      const metrics = parseMetrics(answer.body);
      expect(answer.body).toMatch(/^etcd_server_has_leader 1$/m);
      expect(sample(metrics, "etcd_server_has_leader")).toBe(1);
      expect(sample(metrics, "etcd_server_leader_changes_seen_total")).toBeGreaterThanOrEqual(1);
      expect(sample(metrics, "etcd_server_proposals_committed_total")).toBeGreaterThan(0);
      expect(sample(metrics, "etcd_mvcc_db_total_size_in_bytes")).toBeGreaterThan(0);
      // The fsync histogram: cumulative buckets ending in +Inf == _count, and a _sum.
      const buckets = [...metrics.samples.entries()]
        .filter(([name]) => name.startsWith("etcd_disk_wal_fsync_duration_seconds_bucket{"))
        .map(([name, value]) => ({ le: /le="([^"]+)"/.exec(name)?.[1] ?? "", value }));
      expect(buckets.length).toBeGreaterThan(5);
      expect(buckets.at(-1)?.le).toBe("+Inf");
      for (let i = 1; i < buckets.length; i++) {
        expect((buckets[i] as { value: number }).value).toBeGreaterThanOrEqual((buckets[i - 1] as { value: number }).value);
      }
      const count = sample(metrics, "etcd_disk_wal_fsync_duration_seconds_count");
      expect(count).toBeGreaterThan(0);
      expect(sample(metrics, 'etcd_disk_wal_fsync_duration_seconds_bucket{le="+Inf"}')).toBe(count);
      expect(sample(metrics, "etcd_disk_wal_fsync_duration_seconds_sum")).toBeGreaterThan(0);
      // Metric types as etcd 3.4 declares them (Prometheus keeps them as metadata).
      expect({
        has_leader: metrics.types.get("etcd_server_has_leader"),
        leader_changes: metrics.types.get("etcd_server_leader_changes_seen_total"),
        proposals_committed: metrics.types.get("etcd_server_proposals_committed_total"),
        wal_fsync: metrics.types.get("etcd_disk_wal_fsync_duration_seconds"),
        db_size: metrics.types.get("etcd_mvcc_db_total_size_in_bytes"),
      }).toEqual({
        has_leader: "gauge",
        leader_changes: "counter",
        proposals_committed: "gauge",
        wal_fsync: "histogram",
        db_size: "gauge",
      });
    }
  });

  it("/metrics follows the cluster: commits and fsyncs grow with writes on every member", async () => {
    const before = await Promise.all(c().members.map((member) => metricsOf(member)));
    for (let i = 0; i < 10; i++) {
      const result = await c().etcdctl(["put", `metrics/k${i}`, "v"]);
      expect(result.code, describeRun(["put"], result)).toBe(0);
    }
    for (const [i, member] of c().members.entries()) {
      const old = before[i] as Metrics;
      await eventually(`${member.name}: committed proposals and fsyncs grew by the 10 writes`, 10_000, async () => {
        const now = await metricsOf(member);
        const committed = sample(now, "etcd_server_proposals_committed_total") - sample(old, "etcd_server_proposals_committed_total");
        const fsyncs = sample(now, "etcd_disk_wal_fsync_duration_seconds_count") - sample(old, "etcd_disk_wal_fsync_duration_seconds_count");
        if (committed >= 10 && fsyncs >= 1) return true;
        throw new Error(`committed +${committed}, fsyncs +${fsyncs}`);
      });
    }
  });

  it("after 2 of 3 members are killed, the survivor's /health is 503 {\"health\":\"false\"} and has_leader 0; back to 200 after restart", async () => {
    const [survivor, ...others] = c().members as [Member, Member, Member];
    await Promise.all(others.map((member) => member.kill()));
    const answer = await eventually("the survivor's /health turns unhealthy", 15_000, async () => {
      const got = await http(`${survivor.clientUrl}/health`);
      return got.status === 200 ? undefined : got;
    });
    expect({ status: answer.status, body: JSON.parse(answer.body) as unknown }).toEqual({ status: 503, body: { health: "false" } });
    // It stays unhealthy (never flips back to 200 without a quorum).
    for (let i = 0; i < 3; i++) {
      const again = await http(`${survivor.clientUrl}/health`);
      expect({ status: again.status, body: JSON.parse(again.body) as unknown }).toEqual({ status: 503, body: { health: "false" } });
    }
    await eventually("the survivor reports etcd_server_has_leader 0", 15_000, async () =>
      sample(await metricsOf(survivor), "etcd_server_has_leader") === 0 ? true : undefined,
    );
    // /version does not depend on a quorum.
    expect((await http(`${survivor.clientUrl}/version`)).status).toBe(200);

    await Promise.all(others.map((member) => member.start()));
    await c().waitHealthy();
    for (const member of c().members) {
      await eventually(`${member.name} /health back to 200`, 15_000, async () => {
        const got = await http(`${member.clientUrl}/health`);
        return got.status === 200 && got.body === '{"health":"true"}' ? true : undefined;
      });
    }
  });
});
