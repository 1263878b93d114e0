// The store's /metrics next to real etcd 3.4's: the same requests (real etcdctl) against a
// 3-member cluster of each, then the series an etcd Grafana dashboard and etcd's alerts read must
// exist in both with the same type and label names, and move the same way.

import { afterAll, describe, expect, it } from "vitest";

import { has, labelNames, labelValues, scrape, sumOf, type ParsedMetrics } from "../prometheus-text.js";
import { describeRun, destroyAllClusters, type Cluster } from "./cluster.js";
import { useCluster } from "./cluster-fixture.js";

afterAll(destroyAllClusters, 60_000);

/** What the etcd dashboards (etcd-mixin, Grafana's etcd dashboards) and etcd's alert rules query. */
const DASHBOARD_FAMILIES = [
  "etcd_server_has_leader",
  "etcd_server_is_leader",
  "etcd_server_is_learner",
  "etcd_server_leader_changes_seen_total",
  "etcd_server_proposals_committed_total",
  "etcd_server_proposals_applied_total",
  "etcd_server_proposals_pending",
  "etcd_server_proposals_failed_total",
  "etcd_server_slow_apply_total",
  "etcd_server_slow_read_indexes_total",
  "etcd_server_read_indexes_failed_total",
  "etcd_server_health_success",
  "etcd_server_health_failures",
  "etcd_server_snapshot_apply_in_progress_total",
  "etcd_server_quota_backend_bytes",
  "etcd_server_id",
  "etcd_server_version",
  "etcd_cluster_version",
  "etcd_disk_wal_fsync_duration_seconds",
  "etcd_disk_backend_commit_duration_seconds",
  "etcd_mvcc_db_total_size_in_bytes",
  "etcd_mvcc_db_total_size_in_use_in_bytes",
  "etcd_debugging_mvcc_db_total_size_in_bytes",
  "etcd_debugging_mvcc_keys_total",
  "etcd_debugging_mvcc_current_revision",
  "etcd_debugging_mvcc_compact_revision",
  "etcd_debugging_mvcc_watcher_total",
  "etcd_network_client_grpc_received_bytes_total",
  "etcd_network_client_grpc_sent_bytes_total",
  "etcd_network_peer_sent_bytes_total",
  "etcd_network_peer_received_bytes_total",
  "grpc_server_started_total",
  "grpc_server_handled_total",
  "etcd_network_peer_round_trip_time_seconds",
  "etcd_network_active_peers",
  "etcd_server_heartbeat_send_failures_total",
  "etcd_mvcc_range_total",
  "etcd_mvcc_put_total",
  "etcd_mvcc_delete_total",
  "etcd_mvcc_txn_total",
  "etcd_debugging_mvcc_range_total",
  "etcd_debugging_mvcc_put_total",
  "etcd_debugging_mvcc_delete_total",
  "etcd_debugging_mvcc_txn_total",
  "etcd_debugging_mvcc_total_put_size_in_bytes",
  "etcd_debugging_lease_granted_total",
  "etcd_debugging_lease_revoked_total",
  "etcd_debugging_lease_renewed_total",
  "etcd_debugging_server_lease_expired_total",
  "etcd_disk_wal_write_bytes_total",
  "etcd_server_client_requests_total",
  "grpc_server_msg_received_total",
  "grpc_server_msg_sent_total",
  "os_fd_used",
  "os_fd_limit",
  "process_resident_memory_bytes",
  "process_cpu_seconds_total",
  "process_open_fds",
  "process_start_time_seconds",
];

const PUTS = 5;

/** The same traffic on both: puts and a get on the leader, and one request etcd refuses (OutOfRange). */
async function drive(c: Cluster, leaderUrl: string): Promise<void> {
  for (let i = 0; i < PUTS; i++) {
    const put = await c.etcdctl(["put", `metrics/k${i}`, "v"], { endpoints: [leaderUrl] });
    expect(put.code, describeRun(["put"], put)).toBe(0);
  }
  const get = await c.etcdctl(["get", "metrics/", "--prefix"], { endpoints: [leaderUrl] });
  expect(get.code, describeRun(["get"], get)).toBe(0);
  const future = await c.etcdctl(["get", "metrics/k0", "--rev", "1000000"], { endpoints: [leaderUrl] });
  expect(future.stderr).toContain("required revision is a future revision");
  const health = await fetch(`${leaderUrl}/health`);
  expect(health.status).toBe(200);
}

describe("store /metrics: ketch next to etcd 3.4", () => {
  const etcd = useCluster("etcd", 3);
  const ketch = useCluster("ketch", 3);

  async function measured(c: Cluster): Promise<{ before: ParsedMetrics; after: ParsedMetrics }> {
    const { member } = await c.leader();
    const before = await scrape(`${member.clientUrl}/metrics`);
    await drive(c, member.clientUrl);
    // Peer round trips are probed every few seconds (etcd and ketch alike): wait for both peers'.
    const deadline = Date.now() + 20_000;
    let after = await scrape(`${member.clientUrl}/metrics`);
    while (labelValues(after, "etcd_network_peer_round_trip_time_seconds_count", "To").length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      after = await scrape(`${member.clientUrl}/metrics`);
    }
    return { before, after };
  }

  it("serves etcd's dashboard series with etcd's types and label names, moving as etcd's do", async () => {
    const [e, k] = await Promise.all([measured(etcd()), measured(ketch())]);
    const shape = (m: ParsedMetrics): Record<string, { type: string | undefined; labels: string[] }> =>
      Object.fromEntries(DASHBOARD_FAMILIES.map((f) => [f, { type: m.types.get(f), labels: labelNames(m, f) }]));
    const etcdShape = shape(e.after);
    // The reference itself must serve every family (else the list is wrong, not ketch).
    for (const f of DASHBOARD_FAMILIES) expect(etcdShape[f]?.type, `etcd 3.4 serves ${f}`).toBeDefined();
    expect(shape(k.after)).toEqual(etcdShape);

    // Traffic moves the same counters by the same amounts on both.
    const moved = (m: { before: ParsedMetrics; after: ParsedMetrics }, name: string, match: Record<string, string>): number => sumOf(m.after, name, match) - sumOf(m.before, name, match);
    for (const [impl, m] of [["etcd", e], ["ketch", k]] as const) {
      const put = { grpc_service: "etcdserverpb.KV", grpc_method: "Put", grpc_type: "unary" };
      const range = { grpc_service: "etcdserverpb.KV", grpc_method: "Range", grpc_type: "unary" };
      expect({ impl, started: moved(m, "grpc_server_started_total", put), ok: moved(m, "grpc_server_handled_total", { ...put, grpc_code: "OK" }) }).toEqual({ impl, started: PUTS, ok: PUTS });
      expect({ impl, outOfRange: moved(m, "grpc_server_handled_total", { ...range, grpc_code: "OutOfRange" }) }).toEqual({ impl, outOfRange: 1 });
      expect({ impl, keys: sumOf(m.after, "etcd_debugging_mvcc_keys_total") }).toEqual({ impl, keys: PUTS });
      expect({ impl, revision: moved(m, "etcd_debugging_mvcc_current_revision", {}) }).toEqual({ impl, revision: PUTS });
      expect(moved(m, "etcd_server_proposals_committed_total", {}), impl).toBeGreaterThanOrEqual(PUTS);
      expect(moved(m, "etcd_server_health_success", {}), impl).toBeGreaterThanOrEqual(1);
      expect(moved(m, "etcd_disk_wal_fsync_duration_seconds_count", {}), impl).toBeGreaterThan(0);
      expect(moved(m, "etcd_disk_backend_commit_duration_seconds_count", {}), impl).toBeGreaterThan(0);
      expect(moved(m, "etcd_network_client_grpc_received_bytes_total", {}), impl).toBeGreaterThan(0);
      expect(moved(m, "etcd_network_peer_sent_bytes_total", {}), impl).toBeGreaterThan(0);
      expect(sumOf(m.after, "etcd_server_is_leader"), impl).toBe(1);
      expect(sumOf(m.after, "etcd_server_has_leader"), impl).toBe(1);
      expect(has(m.after, "etcd_server_version", { server_version: "3.4.23" }), impl).toBe(true);
      expect(has(m.after, "etcd_cluster_version", { cluster_version: "3.4" }), impl).toBe(true);
      expect(sumOf(m.after, "process_resident_memory_bytes"), impl).toBeGreaterThan(1_000_000);
      // The families added for dashboards beyond the first set, moving with the same traffic.
      expect({ impl, puts: moved(m, "etcd_mvcc_put_total", {}), debugPuts: moved(m, "etcd_debugging_mvcc_put_total", {}) }).toEqual({ impl, puts: PUTS, debugPuts: PUTS });
      expect(moved(m, "etcd_mvcc_range_total", {}), impl).toBeGreaterThanOrEqual(1);
      expect(moved(m, "etcd_debugging_mvcc_total_put_size_in_bytes", {}), impl).toBe(PUTS * "metrics/k0v".length);
      expect({ impl, received: moved(m, "grpc_server_msg_received_total", put), sent: moved(m, "grpc_server_msg_sent_total", put) }).toEqual({ impl, received: PUTS, sent: PUTS });
      expect(moved(m, "etcd_server_client_requests_total", { type: "unary", client_api_version: "3.4" }), impl).toBeGreaterThanOrEqual(PUTS + 2);
      expect(moved(m, "etcd_disk_wal_write_bytes_total", {}), impl).toBeGreaterThan(0);
      expect(sumOf(m.after, "etcd_network_active_peers"), impl).toBe(2);
      expect(labelValues(m.after, "etcd_network_peer_round_trip_time_seconds_count", "To").length, impl).toBe(2);
      expect(sumOf(m.after, "etcd_network_peer_round_trip_time_seconds_count"), impl).toBeGreaterThan(0);
      const rttMean = sumOf(m.after, "etcd_network_peer_round_trip_time_seconds_sum") / sumOf(m.after, "etcd_network_peer_round_trip_time_seconds_count");
      expect(rttMean, impl).toBeGreaterThan(0);
      expect(rttMean, impl).toBeLessThan(1);
      expect(sumOf(m.after, "os_fd_used"), impl).toBeGreaterThan(5);
      expect(sumOf(m.after, "os_fd_limit"), impl).toBeGreaterThan(sumOf(m.after, "os_fd_used"));
    }
  });
});

describe("store /metrics: ketch's own", () => {
  const ketch = useCluster("ketch", 3);

  it("ketch_mvcc_cold_value_bytes counts a superseded value on every member", async () => {
    const c = ketch();
    const { member } = await c.leader();
    const value = "c".repeat(100);
    for (const v of [value, "short"]) {
      const put = await c.etcdctl(["put", "metrics/cold", v], { endpoints: [member.clientUrl] });
      expect(put.code, describeRun(["put"], put)).toBe(0);
    }
    // The first value is history now: moved off the heap on each member once it applied the second put.
    const deadline = Date.now() + 10_000;
    let cold: number[] = [];
    do {
      cold = await Promise.all(c.members.map(async (m) => sumOf(await scrape(`${m.clientUrl}/metrics`), "ketch_mvcc_cold_value_bytes")));
      if (cold.every((b) => b === value.length)) break;
      await new Promise((r) => setTimeout(r, 200));
    } while (Date.now() < deadline);
    expect(cold).toEqual([value.length, value.length, value.length]);
  });
});

/** Peer families have no series on a member without peers, in etcd as in ketch. */
const PEER_FAMILIES = new Set(["etcd_network_peer_sent_bytes_total", "etcd_network_peer_received_bytes_total", "etcd_network_peer_round_trip_time_seconds", "etcd_network_active_peers"]);

describe("store /metrics: one ketch member next to one etcd 3.4 member", () => {
  const etcd = useCluster("etcd", 1);
  const ketch = useCluster("ketch", 1);

  it("serves every non-peer dashboard family with etcd's names, types and label names", async () => {
    const families = DASHBOARD_FAMILIES.filter((f) => !PEER_FAMILIES.has(f));
    const shapes = await Promise.all(
      [etcd(), ketch()].map(async (c) => {
        const { member } = await c.leader();
        await drive(c, member.clientUrl);
        const m = await scrape(`${member.clientUrl}/metrics`);
        return Object.fromEntries(families.map((f) => [f, { type: m.types.get(f), labels: labelNames(m, f) }]));
      }),
    );
    const [etcdShape, ketchShape] = shapes as [Record<string, { type: string | undefined }>, Record<string, unknown>];
    for (const f of families) expect(etcdShape[f]?.type, `etcd 3.4 (1 member) serves ${f}`).toBeDefined();
    expect(ketchShape).toEqual(etcdShape);
  });
});
