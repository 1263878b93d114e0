// `ketchctl snapshot save | status | restore` end to end through the built bin
// (dist/ketchctl/ketchctl.js), as an operator runs them: from a real 3-member ketch cluster
// (save under a pseudo-terminal shows progress) and from a real etcd 3.4 cluster (saved by the
// real etcdctl: the migration path), restore once per member of a NEW 3-member ketch cluster,
// start it with etcd's flags, and compare every key, value, create/mod revision, version and
// lease, the header revision and the hash of the kept history with the source. Then restore's
// refusals (missing file, garbage, damaged file, non-empty data dir) side by side with the real
// etcdctl. test/snapshot/ covers the same restore through the library call; this file covers the
// CLI's flags, output and exit codes on top of it.

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { freePorts } from "../api/free-port.js";
import { Cluster, destroyAllClusters, etcdctlBinary, parseJsonExact, requirePrerequisites } from "../integration/cluster.js";
import { useCluster } from "../integration/cluster-fixture.js";
import { client, dump, etcdctlJson, hashKV, runWorkload, saveSnapshot, type Dump } from "../snapshot/snapshot-helpers.js";
import { builtKetchctl, ownStderr, runProgram, type RunResult } from "./ctl-harness.js";

const host = "127.0.0.1";
/** util-linux `script`: runs a command on a pseudo-terminal (Debian bsdutils, always installed). */
const scriptBinary = "/usr/bin/script";

afterAll(destroyAllClusters, 60_000);
beforeAll(() => {
  if (!existsSync(builtKetchctl)) throw new Error(`${builtKetchctl} is missing: build it first with \`npm run build\``);
});

/** The built ketchctl bin (what `npx ketchctl` runs). */
function ketchctl(args: readonly string[]): Promise<RunResult> {
  return runProgram(process.execPath, [builtKetchctl, ...args]);
}

function etcdctl(args: readonly string[]): Promise<RunResult> {
  return runProgram(etcdctlBinary, args);
}

function describeResult(what: string, result: RunResult): string {
  return `${what} → exit ${result.code}\nstdout: ${result.stdout.slice(0, 2000)}\nstderr: ${ownStderr(result.stderr).slice(-2000)}`;
}

const shellQuote = (word: string): string => `'${word.replace(/'/g, "'\\''")}'`;

/** util-linux script (`script -qec CMD /dev/null`): CMD's stdout and stderr on one pseudo-terminal. */
function onTerminal(argv: readonly string[]): Promise<RunResult> {
  if (!existsSync(scriptBinary) || spawnSync(scriptBinary, ["--version"]).status !== 0) {
    throw new Error(`${scriptBinary} (util-linux) is missing or broken: apt-get install -y bsdutils`);
  }
  return runProgram(scriptBinary, ["-qec", argv.map(shellQuote).join(" "), "/dev/null"]);
}

interface RestoredMember {
  readonly name: string;
  readonly memberId: string;
  readonly clusterId: string;
}

/** What `ketchctl snapshot restore` reports on stderr when it succeeds. */
const restoredLine = /^restored snapshot \((ketch|etcd) format, revision (\d+), (\d+) keys\) to (.+) as member ([0-9a-f]+) of cluster ([0-9a-f]+)\n$/;

/**
 * `ketchctl snapshot restore FILE --name rN --initial-cluster ... --initial-advertise-peer-urls ...
 * --initial-cluster-token T --data-dir DIR` once per member (new ports), then a new ketch cluster
 * started on those dirs with the etcd flags the fixtures use (--initial-cluster-state new).
 */
async function restoreWithKetchctl(
  snapshotPath: string,
  n: number,
  expected: { format: "ketch" | "etcd"; revision: number; keys: number },
): Promise<{ cluster: Cluster; restored: RestoredMember[] }> {
  requirePrerequisites("ketch");
  const rootDir = await mkdtemp(join(tmpdir(), "ketch-restored-cli-"));
  const token = `ketch-restored-cli-${process.pid}-${Date.now()}`;
  const cluster = new Cluster("ketch", rootDir, token, []);
  const ports = await freePorts(2 * n, host);
  const names = Array.from({ length: n }, (_u, i) => `r${i + 1}`);
  const initialCluster = names.map((name, i) => `${name}=http://${host}:${ports[2 * i + 1]}`).join(",");
  const restored: RestoredMember[] = [];
  try {
    for (const [i, name] of names.entries()) {
      const member = await cluster.newMember(name, () => initialCluster, "new", [ports[2 * i] as number, ports[2 * i + 1] as number]);
      const args = [
        "snapshot", "restore", snapshotPath,
        "--name", name,
        "--initial-cluster", initialCluster,
        "--initial-cluster-token", token,
        "--initial-advertise-peer-urls", member.peerUrl,
        "--data-dir", member.dataDir,
      ];
      const result = await ketchctl(args);
      expect(result.code, describeResult(`ketchctl ${args.join(" ")}`, result)).toBe(0);
      expect(result.stdout).toBe("");
      const line = restoredLine.exec(result.stderr);
      expect(line, result.stderr).not.toBeNull();
      const [, format, revision, keys, dataDir, memberId, clusterId] = line as RegExpExecArray;
      expect({ format, revision: Number(revision), keys: Number(keys), dataDir }).toEqual({ ...expected, dataDir: member.dataDir });
      restored.push({ name, memberId: memberId as string, clusterId: clusterId as string });
    }
    await Promise.all(cluster.members.map((member) => member.start()));
    await cluster.waitHealthy(60_000);
  } catch (error) {
    cluster.markFailed();
    throw error;
  }
  return { cluster, restored };
}

/** The restored cluster against the source: every key at the head, at `--rev`s, the hash, the members. */
async function expectSameAsSource(
  from: string,
  before: Dump,
  restored: { cluster: Cluster; restored: RestoredMember[] },
  revs: readonly number[],
): Promise<void> {
  const sourceHash = await hashKV(from);
  for (const endpoint of restored.cluster.endpoints) {
    const after = await dump(endpoint);
    expect(after.revision, endpoint).toBe(before.revision);
    // Key, value, create_revision, mod_revision, version and lease of every key, in order.
    expect(after.kvs, endpoint).toEqual(before.kvs);
    expect(await hashKV(endpoint), endpoint).toEqual(sourceHash);
  }
  const target = restored.cluster.endpoints[1] as string;
  for (const rev of revs) expect(await dump(target, ["--rev", String(rev)]), `--rev ${rev}`).toEqual(await dump(from, ["--rev", String(rev)]));

  // The membership is the new one restore printed: same names, IDs and cluster ID on every member.
  const list = (await etcdctlJson([target], ["member", "list"])) as { header: { cluster_id: string }; members: Array<{ ID: string; name: string; peerURLs: string[] }> };
  const clusterIds = new Set(restored.restored.map((r) => r.clusterId));
  expect(clusterIds.size).toBe(1);
  expect(BigInt(list.header.cluster_id).toString(16)).toBe([...clusterIds][0]);
  const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : 1);
  expect(list.members.map((m) => ({ name: m.name, id: BigInt(m.ID).toString(16), peerURLs: m.peerURLs })).sort(byName)).toEqual(
    restored.restored.map((r) => ({ name: r.name, id: r.memberId, peerURLs: [restored.cluster.member(r.name).peerUrl] })).sort(byName),
  );
}

describe("ketch cluster → ketchctl snapshot save / status / restore → new ketch cluster", () => {
  const source = useCluster("ketch", 3);
  let workDir = "";
  afterAll(async () => {
    if (workDir !== "") await rm(workDir, { recursive: true, force: true });
  });

  it("saves with progress on a terminal, reports status, and restores every key with its revisions", async () => {
    const t0 = performance.now();
    const etcd = client(source().endpoints);
    // 10,000 keys 100 to a txn (sub revisions), then single overwrites (10%, 1% again), deletes one
    // by one and by range, re-created keys, a lease with keys, binary bytes and a compaction.
    const workload = await runWorkload(etcd, { keys: 10_000, compact: true, firstPassTxnOps: 100 }).finally(() => etcd.close());
    const from = source().endpoints[0] as string;
    const before = await dump(from); // linearizable through the member we save from
    expect(before.revision).toBe(String(workload.finalRevision));
    expect(before.kvs.length).toBeGreaterThan(9_500);
    const tWritten = performance.now();

    workDir = await mkdtemp(join(tmpdir(), "ketch-snap-cli-"));
    const snapPath = join(workDir, "ketch.db");
    const saveArgv = [process.execPath, builtKetchctl, "--endpoints", from, "snapshot", "save", snapPath];
    const onTty = await onTerminal(saveArgv);
    expect(onTty.code, describeResult("script -qec 'ketchctl snapshot save'", onTty)).toBe(0);
    const size = statSync(snapPath).size;
    expect(size % 512).toBe(32);
    expect(existsSync(`${snapPath}.part`)).toBe(false);
    // The pty joins stderr and stdout: progress lines redrawn in place (\r ... ESC[K) with the
    // bytes so far and the rate (the first chunk always shows one), then the total with the time.
    const bytes = String.raw`\d+(?:\.\d+)? [kMG]?B`;
    const running = [...onTty.stdout.matchAll(new RegExp(String.raw`\r(${bytes}) \((\d+) bytes\) received, (${bytes})/s\x1b\[K`, "g"))];
    expect(running.length, JSON.stringify(onTty.stdout)).toBeGreaterThan(0);
    const counts = running.map((m) => Number(m[2]));
    expect(counts[0]).toBeGreaterThan(0);
    expect(counts.every((n, i) => n <= size && (i === 0 || n >= (counts[i - 1] as number)))).toBe(true);
    const done = new RegExp(String.raw`\r(${bytes}) \((\d+) bytes\) received in (\d+\.\d)s, (${bytes})/s\x1b\[K\r\nSnapshot saved at (.+)\r\n$`).exec(onTty.stdout);
    expect(done, JSON.stringify(onTty.stdout)).not.toBeNull();
    expect(Number((done as RegExpExecArray)[2])).toBe(size);
    expect((done as RegExpExecArray)[5]).toBe(snapPath);

    // Not on a terminal: no progress, only the result line (as etcdctl's output in a script).
    const plainPath = join(workDir, "ketch-plain.db");
    const plain = await ketchctl(["--endpoints", from, "snapshot", "save", plainPath]);
    expect({ code: plain.code, stdout: plain.stdout, stderr: plain.stderr }).toEqual({ code: 0, stdout: `Snapshot saved at ${plainPath}\n`, stderr: "" });

    const statusArgs = ["snapshot", "status", snapPath, "-w", "json"];
    const status = await ketchctl(statusArgs);
    expect(status.code, describeResult(`ketchctl ${statusArgs.join(" ")}`, status)).toBe(0);
    const fields = parseJsonExact(status.stdout) as Record<string, string>;
    expect(Object.keys(fields)).toEqual(["hash", "revision", "totalKey", "totalSize"]);
    expect(Number(fields.revision)).toBe(workload.finalRevision);
    // A ketch snapshot's hash is the MVCC hash of its kept history: what `endpoint hashkv` prints.
    expect(fields.hash).toBe((await hashKV(from)).hash);
    // totalKey counts stored records (every kept revision, the lease, the members): at least the live keys.
    expect(Number(fields.totalKey)).toBeGreaterThan(before.kvs.length);
    expect(Number(fields.totalSize)).toBe(size - 32);
    // The second save holds the same state.
    expect(parseJsonExact((await ketchctl(["snapshot", "status", plainPath, "-w", "json"])).stdout)).toEqual(fields);
    const tSaved = performance.now();

    const restored = await restoreWithKetchctl(snapPath, 3, { format: "ketch", revision: workload.finalRevision, keys: before.kvs.length });
    const tStarted = performance.now();
    try {
      const mid = Math.floor((workload.compactRevision + workload.finalRevision) / 2);
      await expectSameAsSource(from, before, restored, [workload.compactRevision, mid]);
      const target = restored.cluster.endpoints[2] as string;
      const ttl = (await etcdctlJson([target], ["lease", "timetolive", BigInt(workload.leaseId).toString(16), "--keys"])) as { keys?: string[] };
      expect((ttl.keys ?? []).length).toBe(10);
      const put = (await etcdctlJson([target], ["put", "/after/restore", "x"])) as { header: { revision: string } };
      expect(put.header.revision).toBe(String(workload.finalRevision + 1));
    } catch (error) {
      restored.cluster.markFailed();
      throw error;
    }
    await restored.cluster.destroy();
    const ms = (a: number, b: number): string => `${((b - a) / 1000).toFixed(1)} s`;
    console.log(
      `[snapshot-cli] ketch: ${before.kvs.length} keys, revision ${workload.finalRevision}, ${size} bytes; ` +
        `writes ${ms(t0, tWritten)}, save+status ${ms(tWritten, tSaved)}, 3 restores+start ${ms(tSaved, tStarted)}, compare ${ms(tStarted, performance.now())}`,
    );
  }, 240_000); // real clusters on a shared 2-core machine: generous
});

describe("etcd 3.4 cluster → etcdctl snapshot save → ketchctl snapshot restore → new ketch cluster", () => {
  const source = useCluster("etcd", 3);
  let workDir = "";
  let snapPath = "";
  afterAll(async () => {
    if (workDir !== "") await rm(workDir, { recursive: true, force: true });
  });

  it("migrates every key with its revisions; ketchctl's status equals etcdctl's", async () => {
    const etcd = client(source().endpoints);
    // Single puts this time: one revision per key, then the same overwrites, deletes and re-creations.
    const workload = await runWorkload(etcd, { keys: 2_000, compact: true }).finally(() => etcd.close());
    const from = source().endpoints[0] as string;
    const before = await dump(from);
    expect(before.revision).toBe(String(workload.finalRevision));

    workDir = await mkdtemp(join(tmpdir(), "ketch-snap-cli-etcd-"));
    const path = join(workDir, "etcd.db");
    await saveSnapshot(from, path); // the real etcdctl
    snapPath = path;

    const statusArgs = ["snapshot", "status", path, "-w", "json"];
    const [theirs, ours] = [await etcdctl(statusArgs), await ketchctl(statusArgs)];
    expect(theirs.code, describeResult("etcdctl snapshot status", theirs)).toBe(0);
    expect(ours.code, describeResult("ketchctl snapshot status", ours)).toBe(0);
    expect(parseJsonExact(ours.stdout)).toEqual(parseJsonExact(theirs.stdout));
    expect(Number((parseJsonExact(ours.stdout) as Record<string, string>).revision)).toBe(workload.finalRevision);

    const restored = await restoreWithKetchctl(path, 3, { format: "etcd", revision: workload.finalRevision, keys: before.kvs.length });
    try {
      const mid = Math.floor((workload.compactRevision + workload.finalRevision) / 2);
      await expectSameAsSource(from, before, restored, [workload.compactRevision, mid]);
      const target = restored.cluster.endpoints[0] as string;
      const put = (await etcdctlJson([target], ["put", "/after/migration", "x"])) as { header: { revision: string } };
      expect(put.header.revision).toBe(String(workload.finalRevision + 1));
    } catch (error) {
      restored.cluster.markFailed();
      throw error;
    }
    await restored.cluster.destroy();
  }, 240_000);

  it("refuses a missing file, garbage, a damaged snapshot and a non-empty data dir, as etcdctl does", async () => {
    if (snapPath === "") throw new Error("the migration test above did not save a snapshot");
    const dir = join(workDir, "errors");
    await mkdir(dir);
    const good = readFileSync(snapPath);
    const files = {
      missing: join(dir, "missing.db"),
      garbage: join(dir, "garbage.db"),
      // 8 pages plus 32 bytes: the size of a file with a sha256 trailer, but no bbolt inside.
      garbageAligned: join(dir, "garbage-aligned.db"),
      truncated: join(dir, "truncated.db"),
      flipped: join(dir, "flipped.db"),
    };
    await writeFile(files.garbage, Buffer.from("this is not a snapshot\n".repeat(200)));
    await writeFile(files.garbageAligned, Buffer.alloc(8 * 512 + 32, "garbage!"));
    await writeFile(files.truncated, good.subarray(0, good.length - 1000));
    const flipped = Buffer.from(good);
    const at = Math.floor(good.length / 2);
    flipped[at] = (flipped[at] as number) ^ 0x40;
    await writeFile(files.flipped, flipped);
    const busy = (tool: string): string => join(dir, `busy-${tool}`);
    for (const tool of ["etcdctl", "ketchctl"]) {
      await mkdir(busy(tool));
      await writeFile(join(busy(tool), "keep.txt"), "mine");
    }

    const cases: Array<{ what: string; file: string; dataDir?: (tool: string) => string; same?: (path: string) => string; ours: RegExp }> = [
      {
        what: "missing file",
        file: files.missing,
        same: (path) => `Error: open ${path}: no such file or directory`,
        ours: /^Error: open \S+missing\.db: no such file or directory$/,
      },
      { what: "garbage", file: files.garbage, ours: /^Error: snapshot file \S+garbage\.db \(4600 bytes\) is neither a ketch snapshot nor an etcd \(bbolt\) database$/ },
      {
        what: "garbage with a trailer-sized length",
        file: files.garbageAligned,
        ours: /^Error: snapshot file \S+garbage-aligned\.db \(4128 bytes\) is neither a ketch snapshot nor an etcd \(bbolt\) database$/,
      },
      { what: "truncated snapshot", file: files.truncated, ours: /^Error: snapshot file \S+truncated\.db has no sha256 trailer .* --skip-hash-check only if you trust it$/ },
      { what: "flipped byte", file: files.flipped, ours: /^Error: snapshot file \S+flipped\.db is corrupt: its sha256 trailer is [0-9a-f]{64} but the data hashes to [0-9a-f]{64}$/ },
      {
        what: "non-empty data dir",
        file: snapPath,
        dataDir: busy,
        // etcdctl: `data-dir "DIR" exists`; ketchctl says the same and why it refuses.
        ours: /^Error: data-dir "\S+busy-ketchctl" exists and is not empty; restore writes a fresh data dir \(remove it or choose another\)$/,
      },
    ];
    const flags = (name: string): string[] => ["--name", name, "--initial-cluster", `${name}=http://${host}:2380`, "--initial-advertise-peer-urls", `http://${host}:2380`];
    const report: string[] = [];
    for (const c of cases) {
      const outcome: Record<string, { code: number; stdout: string; error: string; dataDir: string }> = {};
      for (const tool of ["etcdctl", "ketchctl"] as const) {
        const dataDir = c.dataDir?.(tool) ?? join(dir, `${c.what.replace(/\W+/g, "-")}-${tool}`);
        const args = ["snapshot", "restore", c.file, ...flags("m1"), "--data-dir", dataDir];
        const result = tool === "etcdctl" ? await etcdctl(args) : await ketchctl(args);
        outcome[tool] = { code: result.code, stdout: result.stdout, error: ownStderr(result.stderr), dataDir };
      }
      const theirs = outcome.etcdctl as { code: number; stdout: string; error: string; dataDir: string };
      const ours = outcome.ketchctl as { code: number; stdout: string; error: string; dataDir: string };
      report.push(`${c.what}:\n  etcdctl  ${theirs.code} ${theirs.error.trim()}\n  ketchctl ${ours.code} ${ours.error.trim()}`);
      expect(theirs.code, `etcdctl refuses ${c.what}: ${theirs.error}`).not.toBe(0);
      // Non-zero as etcdctl, nothing on stdout, one line of reason.
      expect({ code: ours.code, stdout: ours.stdout }, c.what).toEqual({ code: theirs.code, stdout: "" });
      expect(ours.error.endsWith("\n") && ours.error.split("\n").length === 2, `${c.what}: one line: ${JSON.stringify(ours.error)}`).toBe(true);
      expect(ours.error.trimEnd(), c.what).toMatch(c.ours);
      if (c.same !== undefined) {
        expect(theirs.error.trimEnd(), c.what).toBe(c.same(c.file));
        expect(ours.error.trimEnd(), c.what).toBe(c.same(c.file));
      }
      if (c.dataDir === undefined) {
        // ketchctl leaves nothing behind (etcdctl 3.4 leaves an empty member/ tree).
        expect(existsSync(ours.dataDir), `${c.what}: ${ours.dataDir} left behind`).toBe(false);
      } else {
        expect(theirs.error.trimEnd()).toBe(`Error: data-dir "${theirs.dataDir}" exists`);
        expect(ours.error.startsWith(`Error: data-dir "${ours.dataDir}" exists`)).toBe(true);
        expect(readdirSync(ours.dataDir)).toEqual(["keep.txt"]);
        expect(readFileSync(join(ours.dataDir, "keep.txt"), "utf8")).toBe("mine");
      }
    }
    // Nothing else appeared beside the inputs (no temporary restore dirs).
    expect(readdirSync(dir).filter((name) => name.startsWith("."))).toEqual([]);
    console.log(`[snapshot-cli] restore refusals, exit code and message:\n${report.join("\n")}`);
  }, 120_000);
});
