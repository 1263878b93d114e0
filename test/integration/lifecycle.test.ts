// The life of a member as an operator sees it, against real etcd 3.4 (the reference) and ketch with
// the same etcd flags: a planned stop of the leader (SIGTERM) hands leadership over without an
// election timeout; a member that was down while the others compacted their logs catches up
// (through a snapshot, for ketch); bad flags fail fast with a one-line reason; and (ketch only,
// etcd's on-disk layout differs) a corrupted data dir is repaired or refused, never served.

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { cp, mkdtemp, open, readdir, readFile, rm, stat, truncate } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { Etcd3, type IOptions } from "etcd3";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";

import {
  describeRun,
  destroyAllClusters,
  etcdBinary,
  eventually,
  ketchEntry,
  parseImpls,
  parseJsonExact,
  repoRoot,
  requirePrerequisites,
  sleep,
  startCluster,
  type Cluster,
  type Impl,
  type Member,
} from "./cluster.js";
import { useCluster } from "./cluster-fixture.js";

const IMPLS = parseImpls(process.env.KETCH_IMPLS ?? "etcd,ketch");

afterAll(destroyAllClusters, 60_000);

/** etcd3's per-host policy without its circuit breaker (see etcd3-client.test.ts for why). */
type HostPolicy = ReturnType<NonNullable<NonNullable<IOptions["faultHandling"]>["host"]>>;
const passThrough = (): HostPolicy =>
  ({
    execute: async (fn: (context: { signal: AbortSignal }) => unknown, signal?: AbortSignal) =>
      fn({ signal: signal ?? new AbortController().signal }),
  }) as unknown as HostPolicy;

function newClient(hosts: readonly string[]): Etcd3 {
  return new Etcd3({
    hosts: [...hosts],
    dialTimeout: 5_000,
    grpcOptions: { "grpc.use_local_subchannel_pool": 1 }, // own connections, as a separate process
    faultHandling: { host: passThrough },
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + 10_000 }),
  });
}

/** The value of key number `n` (zero-padded to 3 digits). */
type ValueOf = (n: string) => string;
const plainValue: ValueOf = (n) => `value-${n}`;

/** Writes keys `${prefix}NNN` = valueOf(NNN) for NNN in [from, to), `parallel` puts in flight. */
async function writeKeys(client: Etcd3, prefix: string, from: number, to: number, valueOf: ValueOf = plainValue, parallel = 20): Promise<void> {
  for (let start = from; start < to; start += parallel) {
    const batch: Promise<unknown>[] = [];
    for (let i = start; i < Math.min(to, start + parallel); i++) {
      const n = String(i).padStart(3, "0");
      batch.push(client.put(`${prefix}${n}`).value(valueOf(n)).exec());
    }
    await Promise.all(batch);
  }
}

/** `etcdctl get PREFIX --prefix` output (key line, value line, ...) as pairs. */
function pairs(stdout: string): [string, string][] {
  const lines = stdout.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < lines.length; i += 2) out.push([lines[i] as string, lines[i + 1] as string]);
  return out;
}

function expectedPairs(prefix: string, count: number, valueOf: ValueOf = plainValue): [string, string][] {
  return Array.from({ length: count }, (_unused, i) => {
    const n = String(i).padStart(3, "0");
    return [`${prefix}${n}`, valueOf(n)] as [string, string];
  });
}

/** Every member's HashKV at one revision (etcdctl `endpoint hashkv --rev`), by endpoint. */
async function hashKvAt(cluster: Cluster, revision: number, endpoints: readonly string[]): Promise<Map<string, string>> {
  const args = ["endpoint", "hashkv", "--rev", String(revision), "-w", "json"];
  const result = await cluster.etcdctl(args, { endpoints });
  if (result.code !== 0) throw new Error(describeRun(args, result));
  const parsed = parseJsonExact(result.stdout) as { Endpoint: string; HashKV: { hash?: string } }[];
  return new Map(parsed.map((entry) => [entry.Endpoint, entry.HashKV.hash ?? "0"]));
}

// ---- graceful stop and snapshot catch-up, on both implementations

describe.each(IMPLS)("%s member lifecycle", (impl) => {
  describe("graceful stop of the leader", () => {
    const c = useCluster(impl, 3);
    const clients: Etcd3[] = [];
    // Registered after the fixture, so it runs before the cluster is destroyed (hooks unwind as a stack).
    afterAll(() => {
      for (const client of clients) client.close();
    });

    it("SIGTERM of the leader: leadership moves without an election timeout, writes go on at once", async () => {
      const old = await c().leader();
      const others = c().members.filter((member) => member !== old.member);
      const client = newClient(others.map((member) => member.clientUrl));
      clients.push(client);
      await client.put("graceful/warmup").value("x"); // connections to both survivors are up

      const sigtermAt = Date.now();
      const stopped = old.member.stop();
      let firstPutMs = -1;
      let lastError = "";
      while (Date.now() - sigtermAt < 15_000) {
        try {
          // Short deadlines: a put caught by the handover is retried, not waited out.
          await client.put("graceful/after-sigterm").value("written").options({ deadline: Date.now() + 250 });
          firstPutMs = Date.now() - sigtermAt;
          break;
        } catch (error) {
          lastError = String(error);
          await sleep(20);
        }
      }
      const exit = await stopped;
      const exitMs = Date.now() - sigtermAt;
      console.log(
        `[lifecycle] ${impl}: SIGTERM of leader ${old.member.name}: first put on the others after ${firstPutMs} ms; ` +
          `process exited after ${exitMs} ms with ${JSON.stringify(exit)}`,
      );
      expect(firstPutMs, `no put succeeded within 15 s of SIGTERM; last error: ${lastError}`).toBeGreaterThanOrEqual(0);
      // The election timeout is 1 s; an election after it (plus a randomized extra up to 1 s) would
      // show as > 1 s. A transfer (MsgTimeoutNow) needs a few heartbeats at most.
      expect(firstPutMs).toBeLessThan(2_500);

      const now = await c().leader();
      expect(now.member).not.toBe(old.member);
      expect(now.term).toBeGreaterThan(old.term);
      if (impl === "ketch") {
        // The old leader says it handed over (MsgTimeoutNow) rather than just leaving.
        expect(old.member.logTail(20_000), "the stopped leader's log").toContain("transferred leadership before stopping");
      }

      // The stopped member comes back as a follower and has the write made without it.
      await old.member.start();
      await c().waitHealthy();
      const back = await c().etcdctl(["get", "graceful/after-sigterm", "--print-value-only", "--consistency=s"], {
        endpoints: [old.member.clientUrl],
      });
      expect(back.stdout).toBe("written\n");
    });

    it("a follower's SIGTERM keeps the leader; writes never stop", async () => {
      const leader = await c().leader();
      const follower = c().members.find((member) => member !== leader.member) as Member;
      const client = newClient([leader.member.clientUrl]);
      clients.push(client);
      const stopped = follower.stop();
      let writes = 0;
      const until = Date.now() + 1_500;
      while (Date.now() < until) {
        await client.put(`graceful/follower-${writes}`).value("x");
        writes++;
      }
      await stopped;
      expect(writes).toBeGreaterThan(5);
      const after = await c().leader();
      expect(after.member).toBe(leader.member);
      expect(after.term).toBe(leader.term);
      await follower.start();
      await c().waitHealthy();
    });
  });

  describe("a lagging follower catches up (--snapshot-count 50)", () => {
    let cluster: Cluster | undefined;
    let startupError: unknown;

    beforeAll(async () => {
      try {
        cluster = await startCluster(impl, 3, { snapshotCount: 50 });
      } catch (error) {
        startupError = error ?? new Error(`${impl} cluster failed to start`);
      }
    }, 90_000);
    beforeEach(({ onTestFailed }) => {
      if (startupError !== undefined) throw startupError;
      onTestFailed(() => cluster?.markFailed());
    });
    afterAll(async () => {
      await cluster?.destroy();
    }, 60_000);

    function c(): Cluster {
      if (cluster === undefined) throw new Error("cluster not started");
      return cluster;
    }

    it("stop a follower, write 300 keys, restart it: it serves all 300 from its own state", async () => {
      const leader = await c().leader();
      const lagging = c().members.find((member) => member !== leader.member) as Member;
      await lagging.stop();

      const client = newClient(c().runningEndpoints);
      try {
        await writeKeys(client, "snap/", 0, 300);
      } finally {
        client.close();
      }
      await lagging.start();

      const expected = expectedPairs("snap/", 300);
      const args = ["get", "snap/", "--prefix", "--consistency=s"];
      const startedAt = Date.now();
      // Whatever it serves while catching up must be right; it may only be incomplete.
      const wrong: [string, string][] = [];
      const got = await eventually(`${lagging.name} serves all 300 keys (serializable, its own endpoint only)`, 60_000, async () => {
        const result = await c().etcdctl(args, { endpoints: [lagging.clientUrl], timeoutMs: 10_000 });
        if (result.code !== 0) throw new Error(describeRun(args, result));
        const answer = pairs(result.stdout);
        wrong.push(...answer.filter(([key, value]) => value !== `value-${key.slice("snap/".length)}`));
        if (answer.length === 300 || wrong.length > 0) return answer;
        throw new Error(`${answer.length} of 300 keys so far`);
      });
      expect(wrong, "a lagging member served values nobody wrote").toEqual([]);
      expect(got).toEqual(expected);
      console.log(`[lifecycle] ${impl}: restarted follower served all 300 keys ${Date.now() - startedAt} ms after its start`);

      // The same state on every member: HashKV at the current revision is equal.
      const [status] = await c().status([leader.member.clientUrl]);
      const revision = status?.revision ?? 0;
      const hashes = await eventually("HashKV equal on all members", 20_000, async () => {
        const byEndpoint = await hashKvAt(c(), revision, c().endpoints);
        return new Set(byEndpoint.values()).size === 1 ? byEndpoint : undefined;
      });
      expect(hashes.size).toBe(3);

      if (impl === "ketch") {
        // With a 50-entry log window, 300 entries behind cannot be sent as log: ketch must have
        // used a snapshot (etcd keeps 5000 catch-up entries, so it replays the log instead).
        expect(lagging.logTail(2_000_000), "the restarted member's log").toContain("installed snapshot from leader");
      }

      // Replication goes on normally after the catch-up.
      const put = await c().etcdctl(["put", "snap/after", "yes"]);
      expect(put.code, describeRun(["put"], put)).toBe(0);
      await eventually(`${lagging.name} gets writes after catching up`, 10_000, async () => {
        const result = await c().etcdctl(["get", "snap/after", "--print-value-only", "--consistency=s"], { endpoints: [lagging.clientUrl] });
        return result.stdout === "yes\n" ? true : undefined;
      });
    });
  });

  // ---- bad flags

  describe("bad flags", () => {
    interface Run {
      code: number | null;
      signal: NodeJS.Signals | null;
      output: string;
      ms: number;
    }

    /** Runs the server with `args` (stdout+stderr together); SIGKILLs it after 15 s. */
    function runServer(which: Impl, args: readonly string[]): Promise<Run> {
      requirePrerequisites(which);
      const [command, full] = which === "etcd" ? [etcdBinary, [...args]] : [process.execPath, [ketchEntry, ...args]];
      return new Promise((resolve, reject) => {
        const started = Date.now();
        const env: NodeJS.ProcessEnv = {};
        for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("ETCD_")) env[key] = value;
        const child = spawn(command, full, { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"], env });
        const chunks: Buffer[] = [];
        child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
        child.stderr.on("data", (chunk: Buffer) => chunks.push(chunk));
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        child.once("error", reject);
        child.once("close", (code, signal) => {
          clearTimeout(timer);
          resolve({ code, signal, output: Buffer.concat(chunks).toString("utf8"), ms: Date.now() - started });
        });
      });
    }

    const cases: { flags: string[]; mentions: string[] }[] = [
      { flags: ["--initial-cluster-state", "bogus"], mentions: ["initial-cluster-state", "bogus"] },
      { flags: ["--heartbeat-interval", "abc"], mentions: ["heartbeat-interval", "abc"] },
      { flags: ["--snapshot-count", "-1"], mentions: ["snapshot-count"] },
      { flags: ["--no-such-flag", "x"], mentions: ["no-such-flag"] },
      { flags: ["--election-timeout", "50"], mentions: ["election-timeout"] },
    ];

    for (const { flags, mentions } of cases) {
      it(`${flags.join(" ")}: exits non-zero at once, names the flag, creates no data dir`, async () => {
        const scratch = await mkdtemp(join(tmpdir(), `ketch-it-flags-${impl}-`));
        try {
          const dataDir = join(scratch, "data");
          const run = await runServer(impl, ["--data-dir", dataDir, ...flags]);
          const lines = run.output.split("\n").filter((line) => line.trim() !== "");
          const what = `${impl} ${flags.join(" ")} → ${JSON.stringify({ code: run.code, signal: run.signal, ms: run.ms })}\n${run.output.slice(0, 1500)}`;
          expect(run.signal, what).toBeNull();
          expect(run.code, what).not.toBe(0);
          expect(run.ms, what).toBeLessThan(10_000);
          for (const word of mentions) expect(run.output, what).toContain(word);
          expect(existsSync(dataDir), `${what}\n(data dir was created)`).toBe(false);
          if (impl === "ketch") {
            // DESIGN.md: every program "exits non-zero with a one-line reason on bad flags".
            expect(lines, what).toHaveLength(1);
            expect(lines[0], what).toMatch(/^ketch: /);
          }
        } finally {
          await rm(scratch, { recursive: true, force: true });
        }
      });
    }
  });
});

// ---- corrupted data dir (ketch only: etcd's WAL + bbolt layout differs)

describe.runIf(IMPLS.includes("ketch"))("ketch restart with a corrupted data dir", () => {
  const prefix = "corrupt/";
  const keyCount = 200;
  // ~200 incompressible bytes per value, so the key-value records fill several 4 KiB LevelDB
  // blocks of their own before the raft log's blocks start (see the MVCC-only damage below).
  const bulkyValue: ValueOf = (n) => `value-${n}-${createHash("sha256").update(n).digest("hex").repeat(3)}`;
  let cluster: Cluster | undefined;
  let startupError: unknown;
  let victim: Member;
  let backupDir = "";

  beforeAll(async () => {
    try {
      cluster = await startCluster("ketch", 3);
      const leader = await cluster.leader();
      victim = cluster.members.find((member) => member !== leader.member) as Member;
      const client = newClient(cluster.endpoints);
      try {
        // The first half lands in LevelDB's sorted tables (*.ldb) when the victim restarts and
        // LevelDB replays its write-ahead log; the second half stays in the new *.log.
        await writeKeys(client, prefix, 0, keyCount / 2, bulkyValue);
        await victim.restart();
        await cluster.waitHealthy();
        await writeKeys(client, prefix, keyCount / 2, keyCount, bulkyValue);
      } finally {
        client.close();
      }
      const members = cluster;
      await eventually("the victim has every key before it is stopped", 20_000, async () => {
        const result = await members.etcdctl(["get", prefix, "--prefix", "--keys-only", "--consistency=s"], {
          endpoints: [victim.clientUrl],
        });
        return result.stdout.split("\n").filter((line) => line !== "").length === keyCount ? true : undefined;
      });
      await victim.stop();
      backupDir = await mkdtemp(join(tmpdir(), "ketch-it-pristine-"));
      await cp(join(victim.dataDir, "member"), join(backupDir, "member"), { recursive: true });
    } catch (error) {
      startupError = error ?? new Error("ketch cluster failed to start");
    }
  }, 120_000);
  beforeEach(({ onTestFailed }) => {
    if (startupError !== undefined) throw startupError;
    onTestFailed(() => cluster?.markFailed());
  });
  afterAll(async () => {
    await cluster?.destroy();
    if (backupDir !== "") await rm(backupDir, { recursive: true, force: true });
  }, 60_000);

  function c(): Cluster {
    if (cluster === undefined) throw new Error("cluster not started");
    return cluster;
  }

  /** The victim's data dir back to the pristine copy taken after its clean stop. */
  async function restorePristine(): Promise<void> {
    if (victim.running) await victim.kill();
    await rm(join(victim.dataDir, "member"), { recursive: true, force: true });
    await cp(join(backupDir, "member"), join(victim.dataDir, "member"), { recursive: true });
  }

  async function levelFiles(ext: ".log" | ".ldb"): Promise<{ path: string; size: number }[]> {
    const dbDir = join(victim.dataDir, "member", "db");
    const names = (await readdir(dbDir)).filter((name) => name.endsWith(ext)).sort();
    return Promise.all(names.map(async (name) => ({ path: join(dbDir, name), size: (await stat(join(dbDir, name))).size })));
  }

  /** XORs `length` bytes at `offset` with 0xff. */
  async function flip(path: string, offset: number, length: number): Promise<void> {
    const handle = await open(path, "r+");
    try {
      const bytes = Buffer.alloc(length);
      await handle.read(bytes, 0, length, offset);
      for (let i = 0; i < length; i++) bytes[i] = (bytes[i] as number) ^ 0xff;
      await handle.write(bytes, 0, length, offset);
    } finally {
      await handle.close();
    }
  }

  /**
   * Starts the victim on its (corrupted) data dir. Acceptable: it exits non-zero with an error
   * naming the data dir, or it runs and (after catching up from the others) serves exactly the
   * data the cluster holds: every serializable read on it alone is right or incomplete, never
   * wrong, and its HashKV equals the others'. Not acceptable: exit 0, wrong data, or neither an
   * exit nor health within 30 s (a hang).
   */
  async function startAndJudge(what: string): Promise<"refused" | "recovered"> {
    const logStart = existsSync(victim.logPath) ? (await readFile(victim.logPath)).length : 0;
    const newLog = async (): Promise<string> => (await readFile(victim.logPath)).subarray(logStart).toString("utf8");
    await victim.start();
    const deadline = Date.now() + 30_000;
    const expected = new Map(expectedPairs(prefix, keyCount, bulkyValue));
    const args = ["get", prefix, "--prefix", "--consistency=s", "--dial-timeout", "1s", "--command-timeout", "3s"];
    for (;;) {
      if (!victim.running) {
        const exit = victim.lastExit;
        const log = await newLog();
        console.log(`[lifecycle] ketch ${what}: refused to start: ${JSON.stringify(exit)}: ${log.split("\n").filter((l) => /error|corrupt/i.test(l)).slice(0, 3).join(" | ").slice(0, 600)}`);
        expect(exit?.code, `${what}: a member that refuses its data dir must exit non-zero\n${log.slice(-3000)}`).not.toBe(0);
        expect(exit?.code, `${what}: exit ${JSON.stringify(exit)}\n${log.slice(-3000)}`).not.toBeNull();
        // The error itself must name the data dir: pino lines at error/fatal level and plain
        // stderr lines count; the harness's "=== harness: start ... --data-dir" line and info
        // lines (e.g. "recovered member store" with its dataDir field) do not.
        const errorLines = log.split("\n").filter((line) => {
          if (line === "" || line.startsWith("=== harness")) return false;
          if (!line.startsWith("{")) return true;
          try {
            return ((JSON.parse(line) as { level?: number }).level ?? 0) >= 50;
          } catch {
            return true;
          }
        });
        expect(
          errorLines.filter((line) => line.includes(victim.dataDir)),
          `${what}: the error must name the data dir ${victim.dataDir}\n${errorLines.join("\n").slice(-3000)}`,
        ).not.toEqual([]);
        return "refused";
      }
      const read = await c().etcdctl(args, { endpoints: [victim.clientUrl], timeoutMs: 5_000 });
      if (read.code === 0) {
        const got = pairs(read.stdout);
        const wrong = got.filter(([key, value]) => expected.get(key) !== value);
        expect(wrong, `${what}: the member served data nobody wrote\n${(await newLog()).slice(-3000)}`).toEqual([]);
        if (got.length === keyCount) break;
      }
      if (Date.now() > deadline) {
        const served = read.code === 0 ? `${pairs(read.stdout).length} of ${keyCount} keys` : describeRun(args, read);
        const statuses = await c()
          .status(c().endpoints)
          .then((all) => all.map((st) => `${st.endpoint}: raftIndex ${st.raftIndex} applied ${st.raftAppliedIndex} revision ${st.revision} term ${st.raftTerm} leader ${st.leader}`).join("\n"))
          .catch((error: unknown) => String(error));
        throw new Error(
          `${what}: neither exited nor served the data within 30 s (a hang); it serves ${served}\n` +
            `endpoint status (victim ${victim.clientUrl}):\n${statuses}\nvictim log:\n${(await newLog()).slice(-4000)}`,
        );
      }
      await sleep(300);
    }
    // Running and complete: its whole state must equal the others' (HashKV at the same revision).
    await c().waitHealthy();
    const [status] = await c().status([victim.clientUrl]);
    const revision = status?.revision ?? 0;
    const hashes = await hashKvAt(c(), revision, c().endpoints);
    expect(new Set(hashes.values()).size, `${what}: HashKV differs between members: ${JSON.stringify([...hashes])}`).toBe(1);
    const log = await newLog();
    console.log(`[lifecycle] ketch ${what}: recovered; ${log.split("\n").filter((l) => /torn|corrupt|cut|truncat/i.test(l)).slice(0, 2).join(" | ").slice(0, 600)}`);
    return "recovered";
  }

  it("control: the pristine copy of the data dir restarts and serves every key", async () => {
    await restorePristine();
    expect(await levelFiles(".ldb"), "LevelDB sorted tables exist").not.toEqual([]);
    expect(await levelFiles(".log"), "a LevelDB write-ahead log exists").not.toEqual([]);
    expect(await startAndJudge("pristine copy")).toBe("recovered");
  });

  it("a torn tail of the newest *.log (the last bytes of a write lost): recovers or refuses, never wrong data", async () => {
    await restorePristine();
    const newest = (await levelFiles(".log")).at(-1);
    if (newest === undefined) throw new Error("no *.log file");
    expect(newest.size).toBeGreaterThan(100);
    await truncate(newest.path, newest.size - 37);
    await startAndJudge(`torn tail (${newest.size} → ${newest.size - 37} bytes)`);
  });

  it("bytes flipped in the last 32 KiB block of the newest *.log (synced records after them): recovers or refuses, never wrong data", async () => {
    await restorePristine();
    const newest = (await levelFiles(".log")).at(-1);
    if (newest === undefined) throw new Error("no *.log file");
    // LevelDB's log is made of 32 KiB blocks; on a bad record it drops the rest of that block
    // without an error (paranoid checks are off). Damage in the middle of the last block drops
    // every record after it: writes that were fsynced and acknowledged, not a torn tail.
    const lastBlock = Math.floor((newest.size - 1) / 32_768) * 32_768;
    const offset = lastBlock + Math.floor((newest.size - lastBlock) / 2);
    await flip(newest.path, offset, 16);
    await startAndJudge(`16 bytes flipped at ${offset} of ${newest.size} in the *.log (its last block starts at ${lastBlock})`);
  });

  it("bytes flipped inside the *.ldb sorted tables: recovers or refuses, never wrong data", async () => {
    await restorePristine();
    const tables = await levelFiles(".ldb");
    if (tables.length === 0) throw new Error("no *.ldb file");
    for (const table of tables) {
      // Data blocks come first in a table; flip a few bytes in its first half.
      for (const fraction of [0.1, 0.3, 0.5]) await flip(table.path, Math.floor(table.size * fraction), 4);
    }
    await startAndJudge(`4 bytes flipped at 10/30/50% of ${tables.length} *.ldb file(s)`);
  });

  it("every block of the *.ldb sorted tables damaged: recovers or refuses, never wrong data", async () => {
    await restorePristine();
    const tables = await levelFiles(".ldb");
    if (tables.length === 0) throw new Error("no *.ldb file");
    // One flipped byte every 256 bytes of the data part (a table ends with its index and footer,
    // left intact so that LevelDB opens the table and the damage is met when blocks are read).
    for (const table of tables) {
      for (let offset = 100; offset < table.size * 0.7; offset += 256) await flip(table.path, offset, 1);
    }
    await startAndJudge(`every data block of ${tables.length} *.ldb file(s) damaged`);
  });

  it("bytes flipped in the MVCC records of the *.ldb (no raft log there): recovers or refuses, never wrong data", async () => {
    await restorePristine();
    const tables = await levelFiles(".ldb");
    const table = tables[0];
    if (table === undefined) throw new Error("no *.ldb file");
    // The raft log lives in member/wal, so the tables hold only key-value state (MVCC records 'm...'
    // first), which raft's own checks on the log do not cover. The first 4 KiB block is damaged.
    const bytes = await readFile(table.path);
    expect(bytes.indexOf(Buffer.from("r/e/")), "no raft entry in LevelDB").toBe(-1);
    expect(bytes.indexOf(Buffer.from("m")), "MVCC records in the first block").toBeLessThan(4096);
    for (let offset = 300; offset < 3_800; offset += 700) await flip(table.path, offset, 1);
    await startAndJudge(`6 bytes flipped in the first (MVCC) block of ${table.path.split("/").at(-1)}`);
  });

  it("the magic number at the end of a *.ldb damaged: recovers or refuses, never wrong data", async () => {
    await restorePristine();
    const tables = await levelFiles(".ldb");
    const table = tables[0];
    if (table === undefined) throw new Error("no *.ldb file");
    // The last 8 bytes of a table are LevelDB's magic number; LevelDB reports "not an sstable".
    await flip(table.path, table.size - 8, 8);
    await startAndJudge(`the magic number at the end of ${table.path.split("/").at(-1)} damaged`);
  });

  it("every *.log and *.ldb file damaged at once: recovers or refuses, never wrong data", async () => {
    await restorePristine();
    for (const file of [...(await levelFiles(".log")), ...(await levelFiles(".ldb"))]) {
      await flip(file.path, Math.floor(file.size / 3), 8);
    }
    await startAndJudge("all LevelDB files damaged");
  });
});
