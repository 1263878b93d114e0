// Shared by the snapshot tests: a workload with history (overwrites, deletes, re-creations, txns
// with sub revisions, a lease, a compaction), snapshot save with the real etcdctl, restoring a
// new ketch cluster from a file, and comparing two clusters through etcdctl's JSON output.

import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { Etcd3 } from "etcd3";

import { restoreSnapshot, type RestoreResult } from "../../src/snapshot/index.js";
import { freePorts } from "../api/free-port.js";
import { Cluster, describeRun, parseJsonExact, requirePrerequisites, runEtcdctl } from "../integration/cluster.js";

const host = "127.0.0.1";

export function client(endpoints: readonly string[]): Etcd3 {
  return new Etcd3({
    hosts: [...endpoints],
    dialTimeout: 5_000,
    grpcOptions: { "grpc.use_local_subchannel_pool": 1 },
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + 20_000 }),
  });
}

/** Runs `fn` over `items` with at most `width` calls in flight. */
async function parallel<T>(items: readonly T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
}

export interface Workload {
  /** Keys written by the first pass (before overwrites). */
  readonly keys: number;
  /** int64 lease ID (decimal) the lease keys carry. */
  readonly leaseId: string;
  /** A revision between the overwrites and the deletes, kept by the compaction (0 without one). */
  readonly compactRevision: number;
  /** The store's revision when the workload ended. */
  readonly finalRevision: number;
}

const key = (i: number): string => `/snap/key-${String(i).padStart(5, "0")}`;

/**
 * The same history against etcd or ketch: `keys` puts (one by one, or `firstPassTxnOps` per txn), overwrites of the first 10% (and 1% a third
 * time), deletes of [90%, 95%) one by one and of a prefix by range, re-creation of some deleted keys
 * (a new generation), five txns of ten puts (sub revisions), binary keys and values, ten keys on a
 * lease that outlives the test, and (with `compact`) a compaction after the overwrites.
 */
export async function runWorkload(
  etcd: Etcd3,
  opts: { keys: number; compact: boolean; valueBytes?: number; firstPassTxnOps?: number },
): Promise<Workload> {
  const n = opts.keys;
  const pad = (s: string): string => (opts.valueBytes === undefined ? s : s.padEnd(opts.valueBytes, "."));
  const all = Array.from({ length: n }, (_unused, i) => i);
  const perTxn = opts.firstPassTxnOps ?? 1;
  if (perTxn === 1) {
    await parallel(all, 48, (i) => etcd.put(key(i)).value(pad(`v1-${i}`)).exec());
  } else {
    // Txns of several puts: one main revision each, the puts at sub revisions 0, 1, ...
    const batches = Array.from({ length: Math.ceil(n / perTxn) }, (_u, b) => all.slice(b * perTxn, (b + 1) * perTxn));
    await parallel(batches, 8, (batch) =>
      etcd.kv.txn({
        compare: [],
        success: batch.map((i) => ({ request_put: { key: Buffer.from(key(i)), value: Buffer.from(pad(`v1-${i}`)) } })),
        failure: [],
      }),
    );
  }
  await parallel(all.slice(0, Math.ceil(n / 10)), 48, (i) => etcd.put(key(i)).value(pad(`v2-${i}`)).exec());
  await parallel(all.slice(0, Math.ceil(n / 100)), 48, (i) => etcd.put(key(i)).value(pad(`v3-${i}`)).exec());
  let compactRevision = 0;
  if (opts.compact) {
    compactRevision = Number((await etcd.kv.range({ key: Buffer.from(key(0)) })).header.revision);
  }
  await parallel(all.slice(Math.floor(n * 0.9), Math.floor(n * 0.95)), 48, (i) => etcd.delete().key(key(i)).exec());
  await parallel(Array.from({ length: 50 }, (_u, i) => i), 16, (i) => etcd.put(`/snap/range/${i}`).value(`r${i}`).exec());
  await etcd.delete().prefix("/snap/range/").exec();
  // Deleted keys written again: version 1 and a new create revision.
  await parallel(all.slice(Math.floor(n * 0.9), Math.floor(n * 0.9) + 20), 8, (i) => etcd.put(key(i)).value(pad(`v4-${i}`)).exec());
  for (let t = 0; t < 5; t++) {
    const success = Array.from({ length: 10 }, (_u, j) => ({
      request_put: { key: Buffer.from(`/snap/txn/${t}/${j}`), value: Buffer.from(`t${t}-${j}`) },
    }));
    await etcd.kv.txn({ compare: [], success, failure: [] });
  }
  await etcd.put(Buffer.from([0x2f, 0x62, 0x69, 0x6e, 0x00, 0xff, 0x80])).value(Buffer.from([0, 1, 2, 0xfe, 0xff])).exec();
  const lease = etcd.lease(3600, { autoKeepAlive: false });
  const leaseId = await lease.grant();
  for (let j = 0; j < 10; j++) await lease.put(`/snap/leased/${j}`).value(`l${j}`).exec();
  lease.release();
  if (opts.compact) await etcd.kv.compact({ revision: String(compactRevision), physical: true });
  const finalRevision = Number((await etcd.kv.range({ key: Buffer.from(key(0)) })).header.revision);
  return { keys: n, leaseId, compactRevision, finalRevision };
}

/** `etcdctl snapshot save` against one endpoint (etcdctl requires exactly one). */
export async function saveSnapshot(endpoint: string, path: string): Promise<void> {
  const args = ["snapshot", "save", path];
  const result = await runEtcdctl([endpoint], args, { timeoutMs: 120_000 });
  if (result.code !== 0) throw new Error(describeRun(args, result));
}

export async function etcdctlJson(endpoints: readonly string[], args: readonly string[]): Promise<unknown> {
  const full = [...args, "-w", "json"];
  const result = await runEtcdctl(endpoints, full, { timeoutMs: 120_000 });
  if (result.code !== 0) throw new Error(describeRun(full, result));
  return parseJsonExact(result.stdout);
}

export interface Dump {
  revision: string;
  kvs: unknown[];
}

/** Every key (`get "" --prefix`, optionally at a revision) with its revisions, and the header revision. */
export async function dump(endpoint: string, extra: readonly string[] = []): Promise<Dump> {
  const out = (await etcdctlJson([endpoint], ["get", "", "--prefix", ...extra])) as { header: { revision: string }; kvs?: unknown[] };
  return { revision: out.header.revision, kvs: out.kvs ?? [] };
}

/** `endpoint hashkv`: etcd's hash of the whole kept history, and the compact revision. */
export async function hashKV(endpoint: string): Promise<{ hash: string; compactRevision: string }> {
  const out = (await etcdctlJson([endpoint], ["endpoint", "hashkv"])) as Array<{ HashKV: { hash?: string; compact_revision?: string } }>;
  const h = out[0]?.HashKV;
  if (h === undefined) throw new Error(`endpoint hashkv printed nothing for ${endpoint}`);
  return { hash: h.hash ?? "0", compactRevision: h.compact_revision ?? "0" };
}

export interface RestoredCluster {
  readonly cluster: Cluster;
  readonly results: RestoreResult[];
  /** Wall time of each member's restoreSnapshot call. */
  readonly restoreMs: number[];
}

/**
 * Restores `n` fresh data dirs from one snapshot file (as an operator runs `snapshot restore` once
 * per member) and starts a new ketch cluster on them with --initial-cluster-state new. Members
 * whose index is in `leaveEmpty` are not restored (an operator's mistake the cluster must survive).
 */
export async function restoreKetchCluster(snapshotPath: string, n: number, opts: { leaveEmpty?: readonly number[] } = {}): Promise<RestoredCluster> {
  requirePrerequisites("ketch");
  const rootDir = await mkdtemp(join(tmpdir(), "ketch-restored-"));
  const token = `ketch-restored-${process.pid}-${Date.now()}`;
  const cluster = new Cluster("ketch", rootDir, token, []);
  const ports = await freePorts(2 * n, host);
  const names = Array.from({ length: n }, (_u, i) => `r${i + 1}`);
  const initialCluster = names.map((name, i) => `${name}=http://${host}:${ports[2 * i + 1]}`).join(",");
  const results: RestoreResult[] = [];
  const restoreMs: number[] = [];
  for (const [i, name] of names.entries()) {
    const member = await cluster.newMember(name, () => initialCluster, "new", [ports[2 * i] as number, ports[2 * i + 1] as number]);
    if (opts.leaveEmpty?.includes(i) === true) continue; // started with an empty data dir and the same flags
    const t0 = performance.now();
    results.push(
      await restoreSnapshot({
        snapshotPath,
        name,
        initialCluster,
        initialClusterToken: token,
        initialAdvertisePeerUrls: member.peerUrl,
        dataDir: member.dataDir,
      }),
    );
    restoreMs.push(performance.now() - t0);
  }
  try {
    await Promise.all(cluster.members.map((member) => member.start()));
    await cluster.waitHealthy(60_000);
  } catch (error) {
    cluster.markFailed();
    throw error;
  }
  return { cluster, results, restoreMs };
}
