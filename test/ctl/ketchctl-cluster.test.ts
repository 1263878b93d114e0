// ketchctl against a real 3-member cluster (etcd 3.4 and ketch) where the cluster itself changes:
// a dead member (failover, endpoint health/status), move-leader, snapshot save, lease keep-alive,
// and lock / elect interoperating with the real etcdctl (same keys, same recipes).

import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { destroyAllClusters, etcdctlBinary, eventually, parseImpls, sleep, type Member } from "../integration/cluster.js";
import { useCluster } from "../integration/cluster-fixture.js";
import { comparable, ketchctlEntry, maskedJsonLines, ownStderr, removeKetchctlBundle, requireKetchctl, runTool, type RunOptions, type Tool } from "./ctl-harness.js";

const IMPLS = parseImpls(process.env.KETCH_IMPLS ?? "etcd,ketch");

afterAll(destroyAllClusters, 60_000);
beforeAll(requireKetchctl);
afterAll(removeKetchctlBundle);

/** A long-running etcdctl or ketchctl (lock, elect, watch, keep-alive) read as it prints. */
class Running {
  private readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<number | null>;

  constructor(tool: Tool, endpoints: readonly string[], args: readonly string[], withStdin = false) {
    const env: NodeJS.ProcessEnv = { ETCDCTL_API: "3" };
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith("ETCD_") && !key.startsWith("ETCDCTL_")) env[key] = value;
    }
    const argv = ["--endpoints", endpoints.join(","), ...args];
    this.child =
      tool === "etcdctl"
        ? spawn(etcdctlBinary, argv, { stdio: [withStdin ? "pipe" : "ignore", "pipe", "pipe"], env })
        : spawn(process.execPath, [ketchctlEntry(), ...argv], { stdio: [withStdin ? "pipe" : "ignore", "pipe", "pipe"], env });
    this.child.stdin?.on("error", () => undefined);
    this.child.stdout?.on("data", (chunk: Buffer) => (this.stdout += chunk.toString("utf8")));
    this.child.stderr?.on("data", (chunk: Buffer) => (this.stderr += chunk.toString("utf8")));
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)));
    running.add(this);
    void this.exited.then(() => running.delete(this));
  }

  lines(): string[] {
    return this.stdout.split("\n").filter((line) => line !== "");
  }

  async waitFor(what: string, timeoutMs: number, predicate: (self: Running) => boolean): Promise<void> {
    await eventually(`${what} (stdout ${JSON.stringify(this.stdout)}, stderr ${JSON.stringify(this.stderr.slice(-500))})`, timeoutMs, async () => (predicate(this) ? true : undefined), 50);
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  write(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }
}

const running = new Set<Running>();

describe.each(IMPLS)("ketchctl on a changing %s cluster", (impl) => {
  const c = useCluster(impl, 3);
  const run = (tool: Tool, args: readonly string[], opts: RunOptions & { endpoints?: readonly string[] } = {}) =>
    runTool(tool, opts.endpoints ?? c().runningEndpoints, args, opts);

  afterEach(async () => {
    for (const p of running) p.signal("SIGKILL");
    await Promise.all([...running].map((p) => p.exited));
  });

  it("one member dead: get fails over, endpoint health and status report it as etcdctl does", async () => {
    const cluster = c();
    await cluster.waitHealthy(60_000);
    await run("etcdctl", ["put", "fo/k", "v"]);
    const { member: leader } = await cluster.leader();
    const victim = cluster.members.find((m) => m !== leader) as Member;
    const all = cluster.endpoints;
    const deadFirst = [victim.clientUrl, ...all.filter((ep) => ep !== victim.clientUrl)];
    await victim.kill();
    try {
      for (const tool of ["etcdctl", "ketchctl"] as const) {
        const got = await run(tool, ["get", "fo/k"], { endpoints: deadFirst });
        expect(comparable(got), tool).toEqual({ code: 0, stdout: "fo/k\nv\n", stderr: "" });
        const put = await run(tool, ["put", "fo/k2", tool], { endpoints: deadFirst });
        expect(comparable(put), tool).toEqual({ code: 0, stdout: "OK\n", stderr: "" });
      }
      const health = await Promise.all((["etcdctl", "ketchctl"] as const).map((tool) => run(tool, ["endpoint", "health"], { endpoints: all })));
      const view = (r: (typeof health)[number]) => ({
        code: r.code,
        lines: ownStderr(r.stderr)
          .replace(/took = \S+/g, "took = <t>")
          .replace(/(failed to commit proposal: context deadline exceeded)(?!\n)/g, "$1\n")
          .split("\n")
          .filter((line) => line !== "")
          .sort(),
      });
      expect(view(health[1] as (typeof health)[number])).toEqual(view(health[0] as (typeof health)[number]));
      expect(view(health[1] as (typeof health)[number]).lines).toContain(`${victim.clientUrl} is unhealthy: failed to commit proposal: context deadline exceeded`);
      expect(health[1]?.code).toBe(1);

      const status = await Promise.all((["etcdctl", "ketchctl"] as const).map((tool) => run(tool, ["endpoint", "status", "-w", "json"], { endpoints: all })));
      const statusView = (r: (typeof status)[number]) => ({ code: r.code, stderr: ownStderr(r.stderr), json: maskedJsonLines(r.stdout) });
      expect(statusView(status[1] as (typeof status)[number])).toEqual(statusView(status[0] as (typeof status)[number]));
      expect(ownStderr(status[1]?.stderr ?? "")).toBe(`Failed to get the status of endpoint ${victim.clientUrl} (context deadline exceeded)\n`);
    } finally {
      await victim.start();
      await cluster.waitHealthy(60_000);
    }
  }, 180_000);

  it("move-leader: hex target, sent to the leader's endpoint; without the leader's endpoint it is refused", async () => {
    const cluster = c();
    await cluster.waitHealthy(60_000);
    const { member: leader, id: leaderId } = await cluster.leader();
    const target = cluster.members.find((m) => m !== leader) as Member;
    const targetId = await cluster.memberId(target);
    const others = cluster.endpoints.filter((ep) => ep !== leader.clientUrl);
    for (const tool of ["etcdctl", "ketchctl"] as const) {
      const refused = await run(tool, ["move-leader", targetId], { endpoints: others });
      expect(comparable(refused), tool).toEqual({ code: 128, stdout: "", stderr: `Error: no leader endpoint given at [${others.join(" ")}]\n` });
    }
    const moved = await run("ketchctl", ["move-leader", targetId]);
    expect(comparable(moved)).toEqual({ code: 0, stdout: `Leadership transferred from ${leaderId} to ${targetId}\n`, stderr: "" });
    await eventually("the target leads", 15_000, async () => ((await cluster.leader()).id === targetId ? true : undefined), 300);
  }, 120_000);

  it("snapshot save: FILE.part renamed to FILE, size % 512 == 32, the trailer is the SHA-256 of the body", async () => {
    const cluster = c();
    await run("etcdctl", ["put", "snap/k", "v"]);
    const one = [cluster.runningEndpoints[0] as string];
    const dir = cluster.rootDir;
    for (const tool of ["etcdctl", "ketchctl"] as const) {
      const path = join(dir, `${tool}.db`);
      const saved = await run(tool, ["snapshot", "save", path], { endpoints: one });
      expect({ code: saved.code, stdout: saved.stdout }, saved.stderr).toEqual({ code: 0, stdout: `Snapshot saved at ${path}\n` });
      expect(existsSync(`${path}.part`)).toBe(false);
      const bytes = readFileSync(path);
      expect(statSync(path).size % 512).toBe(32);
      expect(createHash("sha256").update(bytes.subarray(0, bytes.length - 32)).digest().equals(bytes.subarray(bytes.length - 32))).toBe(true);
    }
    // Both files describe the same data: status from ketchctl (src/snapshot) of either file.
    const status = await run("ketchctl", ["snapshot", "status", join(dir, "ketchctl.db"), "-w", "json"]);
    expect(status.code, status.stderr).toBe(0);
    expect(Object.keys(JSON.parse(status.stdout) as object)).toEqual(["hash", "revision", "totalKey", "totalSize"]);
    if (impl === "etcd") {
      // A bbolt file from etcd: ketchctl's status equals etcdctl's, in every format.
      for (const format of ["simple", "json", "table", "fields"]) {
        const args = ["snapshot", "status", join(dir, "etcdctl.db"), "-w", format];
        const [e, k] = [await run("etcdctl", args), await run("ketchctl", args)];
        expect(comparable(k), format).toEqual(comparable(e));
      }
    }
    for (const tool of ["etcdctl", "ketchctl"] as const) {
      const many = await run(tool, ["snapshot", "save", join(dir, "many.db")]);
      expect({ code: many.code, stdout: many.stdout }).toEqual({ code: 5, stdout: "" });
      expect(ownStderr(many.stderr)).toBe(`Error: snapshot must be requested to one selected node, not multiple [${cluster.runningEndpoints.join(" ")}]\n`);
    }
  }, 120_000);

  it("watch --prefix prints live events exactly as etcdctl; -i watch lines and progress", async () => {
    const eps = c().runningEndpoints;
    const etcdctlPlain = new Running("etcdctl", eps, ["watch", "--prefix", "/lw/"]);
    const etcdctlPrev = new Running("etcdctl", eps, ["watch", "--prefix", "/lw/", "--prev-kv"]);
    const ketchctlPrev = new Running("ketchctl", eps, ["watch", "--prefix", "/lw/", "--prev-kv"]);
    const all = [etcdctlPlain, etcdctlPrev, ketchctlPrev];
    await eventually("all watches established", 30_000, async () => {
      await run("etcdctl", ["put", "/lw/probe", "p"]);
      return all.every((w) => w.stdout.includes("/lw/probe")) ? true : undefined;
    }, 500);
    await run("etcdctl", ["del", "/lw/probe"]);
    for (const w of all) await w.waitFor("probe deleted", 10_000, (p) => p.stdout.includes("DELETE\n/lw/probe\n"));
    const [plainMark, etcdctlMark, ketchctlMark] = all.map((w) => w.stdout.length) as [number, number, number];
    for (const args of [["put", "/lw/a", "1"], ["put", "/lw/b", "two words"], ["put", "/x/outside", "0"], ["put", "/lw/a", "3"], ["del", "/lw/a"], ["del", "--prefix", "/lw/"]]) {
      await run("etcdctl", args);
    }
    const want = "PUT\n/lw/a\n1\nPUT\n/lw/b\ntwo words\nPUT\n/lw/a\n3\nDELETE\n/lw/a\n\nDELETE\n/lw/b\n\n";
    await etcdctlPlain.waitFor("etcdctl's events", 10_000, (p) => p.stdout.length - plainMark >= want.length);
    expect(etcdctlPlain.stdout.slice(plainMark)).toBe(want);
    // With --prev-kv: ketchctl's output equals etcdctl's, byte for byte.
    await eventually("both --prev-kv watchers printed the same", 10_000, async () => {
      const a = etcdctlPrev.stdout.slice(etcdctlMark);
      const b = ketchctlPrev.stdout.slice(ketchctlMark);
      return a.length > 0 && a === b && a.endsWith("/lw/b\n\n") ? true : undefined;
    }, 100);

    const interactive = new Running("ketchctl", eps, ["watch", "-i"], true);
    interactive.write("watch /lw/i");
    await eventually("interactive watch established", 30_000, async () => {
      await run("etcdctl", ["put", "/lw/i", "x"]);
      return interactive.stdout.includes("/lw/i") ? true : undefined;
    }, 500);
    await run("etcdctl", ["put", "/lw/other", "y"]);
    const revision = /"revision":(\d+)/.exec((await run("etcdctl", ["get", "/lw/none", "-w", "json", "--consistency=s"], { endpoints: [eps[0] as string] })).stdout)?.[1];
    interactive.write("progress");
    await interactive.waitFor("progress notify", 15_000, (p) => /progress notify: \d+\n/.test(p.stdout));
    expect(Number(/progress notify: (\d+)\n/.exec(interactive.stdout)?.[1])).toBeGreaterThanOrEqual(Number(revision));
    interactive.write("bogus");
    await interactive.waitFor("complaint", 10_000, (p) => p.stderr.includes("Invalid command bogus (only support watch)"));
  }, 120_000);

  it("lease keep-alive renews until the lease is revoked, then says so (etcdctl's lines)", async () => {
    const granted = await run("ketchctl", ["lease", "grant", "4"]);
    const id = /lease ([0-9a-f]+) granted/.exec(granted.stdout)?.[1] as string;
    const keeper = new Running("ketchctl", c().runningEndpoints, ["lease", "keep-alive", id]);
    await keeper.waitFor("two renewals", 45_000, (p) => p.lines().length >= 2);
    expect(new Set(keeper.lines())).toEqual(new Set([`lease ${id} keepalived with TTL(4)`]));
    await sleep(5000);
    const ttl = await run("etcdctl", ["lease", "timetolive", id]);
    expect(ttl.stdout).toMatch(new RegExp(`^lease ${id} granted with TTL\\(4s\\), remaining\\([1-4]s\\)\\n$`));
    await run("etcdctl", ["lease", "revoke", id]);
    expect(await keeper.exited).toBe(0);
    expect(keeper.lines().at(-1)).toBe(`lease ${id} expired or revoked.`);
  }, 60_000);

  it("lock: ketchctl and etcdctl queue for the same lock and hand it over on SIGINT and SIGTERM", async () => {
    const eps = c().runningEndpoints;
    const holder = new Running("ketchctl", eps, ["lock", "--ttl=5", "/ctl-locks/one"]);
    await holder.waitFor("ketchctl to hold the lock", 20_000, (p) => p.lines().length >= 1);
    expect(holder.lines()[0]).toMatch(/^\/ctl-locks\/one\/[0-9a-f]+$/);
    const waiter = new Running("etcdctl", eps, ["lock", "/ctl-locks/one"]);
    await sleep(2000);
    expect(waiter.stdout).toBe("");
    holder.signal("SIGINT");
    expect(await holder.exited).toBe(0);
    await waiter.waitFor("etcdctl to take the lock at once", 8000, (p) => p.lines().length >= 1);
    // ketchctl waits behind etcdctl and runs its command once etcdctl lets go.
    const runner = new Running("ketchctl", eps, ["lock", "/ctl-locks/one", "--", "sh", "-c", "echo key=$ETCD_LOCK_KEY rev=$ETCD_LOCK_REV"]);
    await sleep(2000);
    expect(runner.stdout).toBe("");
    waiter.signal("SIGTERM");
    await runner.waitFor("the command under the lock", 20_000, (p) => p.stdout.includes("key="));
    expect(runner.stdout).toMatch(/^key=\/ctl-locks\/one\/[0-9a-f]+ rev=\d+\n$/);
    expect(await runner.exited).toBe(0);
  }, 90_000);

  it("elect: a ketchctl candidate leads, observers (both tools) see it; on SIGTERM the etcdctl candidate takes over", async () => {
    const eps = c().runningEndpoints;
    const observers = [new Running("etcdctl", eps, ["elect", "-l", "/ctl-elect/e"]), new Running("ketchctl", eps, ["elect", "-l", "/ctl-elect/e"])];
    const alpha = new Running("ketchctl", eps, ["elect", "/ctl-elect/e", "alpha"]);
    await alpha.waitFor("alpha elected", 20_000, (p) => p.lines().length >= 2);
    expect(alpha.lines()[0]).toMatch(/^\/ctl-elect\/e\/[0-9a-f]+$/);
    expect(alpha.lines()[1]).toBe("alpha");
    const beta = new Running("etcdctl", eps, ["elect", "/ctl-elect/e", "beta"]);
    await sleep(2000);
    expect(beta.stdout).toBe("");
    alpha.signal("SIGTERM");
    expect(await alpha.exited).toBe(0);
    await beta.waitFor("beta elected", 15_000, (p) => p.lines().length >= 2);
    for (const observer of observers) {
      await observer.waitFor("the observer to see beta", 15_000, (p) => p.lines().includes("beta"));
      expect(observer.lines().filter((line) => !line.startsWith("/"))).toEqual(["alpha", "beta"]);
    }
  }, 90_000);
});
