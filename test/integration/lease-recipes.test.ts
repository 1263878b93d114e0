// etcdctl's `lock` and `elect` (clientv3/concurrency: a session lease kept alive, keys under a
// prefix ordered by create revision, watches on the predecessor) against a 3-member cluster of real
// etcd 3.4 (the reference) and of ketch, with the same flags. Holders are real etcdctl processes:
// killed with SIGKILL their session lease must expire; stopped with SIGTERM they give up at once.

import { spawn, type ChildProcess } from "node:child_process";
import { Etcd3, EtcdLockFailedError } from "etcd3";
import { afterAll, afterEach, describe, expect, it } from "vitest";

import { destroyAllClusters, etcdctlBinary, eventually, parseImpls, sleep } from "./cluster.js";
import { useCluster } from "./cluster-fixture.js";

const IMPLS = parseImpls(process.env.KETCH_IMPLS ?? "etcd,ketch");

afterAll(destroyAllClusters, 60_000);

/** A long-running etcdctl whose output the test reads as it comes. */
class Etcdctl {
  private readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  exited: Promise<number | null>;

  constructor(endpoints: readonly string[], args: readonly string[]) {
    const env: NodeJS.ProcessEnv = { ETCDCTL_API: "3" };
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith("ETCD_") && !key.startsWith("ETCDCTL_")) env[key] = value;
    }
    this.child = spawn(etcdctlBinary, ["--endpoints", endpoints.join(","), ...args], { stdio: ["ignore", "pipe", "pipe"], env });
    this.child.stdout?.on("data", (chunk: Buffer) => (this.stdout += chunk.toString("utf8")));
    this.child.stderr?.on("data", (chunk: Buffer) => (this.stderr += chunk.toString("utf8")));
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)));
    running.add(this);
    void this.exited.then(() => running.delete(this));
  }

  lines(): string[] {
    return this.stdout.split("\n").filter((line) => line !== "");
  }

  async waitFor(what: string, timeoutMs: number, predicate: (self: Etcdctl) => boolean): Promise<void> {
    await eventually(`${what} (stdout ${JSON.stringify(this.stdout)}, stderr ${JSON.stringify(this.stderr.slice(-500))})`, timeoutMs, async () => (predicate(this) ? true : undefined), 50);
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }
}

const running = new Set<Etcdctl>();

describe.each(IMPLS)("%s lock and elect", (impl) => {
  const c = useCluster(impl, 3);

  afterEach(async () => {
    for (const p of running) p.signal("SIGKILL");
    await Promise.all([...running].map((p) => p.exited));
  });

  const endpoints = (): string[] => c().runningEndpoints;

  it("lock: one holder at a time; a SIGKILLed holder's lock passes on once its session lease expires", async () => {
    const a = new Etcdctl(endpoints(), ["lock", "--ttl=4", "/locks/one"]);
    await a.waitFor("A to hold the lock", 15_000, (p) => p.lines().length >= 1);
    expect(a.lines()[0]).toMatch(/^\/locks\/one\/[0-9a-f]+$/);

    const b = new Etcdctl(endpoints(), ["lock", "--ttl=4", "/locks/one"]);
    await sleep(2_000);
    expect(b.stdout).toBe("");

    a.signal("SIGKILL");
    const killedAt = Date.now();
    await b.waitFor("B to take the lock after A's lease expired", 20_000, (p) => p.lines().length >= 1);
    const handoverMs = Date.now() - killedAt;
    expect(b.lines()[0]).toMatch(/^\/locks\/one\/[0-9a-f]+$/);
    expect(b.lines()[0]).not.toBe(a.lines()[0]);
    // Not before the lease could expire (4 s TTL, renewed every ~1.3 s), well within 4 s + slack.
    expect(handoverMs).toBeGreaterThan(1_500);
    expect(handoverMs).toBeLessThan(15_000);

    // A command run under the lock waits for B; B's SIGTERM releases it at once.
    const c = new Etcdctl(endpoints(), ["lock", "/locks/one", "echo", "ran-under-lock"]);
    await sleep(1_000);
    expect(c.stdout).toBe("");
    b.signal("SIGTERM");
    await c.waitFor("C's command to run", 10_000, (p) => p.stdout.includes("ran-under-lock"));
    expect(await c.exited).toBe(0);
  });

  it("elect: a candidate waits, an observer sees each leader, a SIGTERMed leader resigns", async () => {
    const observer = new Etcdctl(endpoints(), ["elect", "-l", "/elections/e"]);
    const a = new Etcdctl(endpoints(), ["elect", "/elections/e", "alpha"]);
    await a.waitFor("alpha to be elected", 15_000, (p) => p.lines().length >= 2);
    expect(a.lines()[0]).toMatch(/^\/elections\/e\/[0-9a-f]+$/);
    expect(a.lines()[1]).toBe("alpha");
    await observer.waitFor("the observer to see alpha", 10_000, (p) => p.lines().includes("alpha"));

    const b = new Etcdctl(endpoints(), ["elect", "/elections/e", "beta"]);
    await sleep(2_000);
    expect(b.stdout).toBe("");

    a.signal("SIGTERM");
    await b.waitFor("beta to be elected", 10_000, (p) => p.lines().length >= 2);
    expect(b.lines()[1]).toBe("beta");
    await observer.waitFor("the observer to see beta", 10_000, (p) => p.lines().includes("beta"));
    const seen = observer.lines().filter((line) => !line.startsWith("/"));
    expect(seen).toEqual(["alpha", "beta"]);
  });

  it("etcd3 client: its lock excludes others until released or its lease expires", async () => {
    const a = new Etcd3({ hosts: endpoints() });
    const b = new Etcd3({ hosts: endpoints() });
    try {
      const held = await a.lock("/etcd3-locks/x").ttl(3).acquire();
      await expect(b.lock("/etcd3-locks/x").ttl(3).acquire()).rejects.toBeInstanceOf(EtcdLockFailedError);
      await held.release();
      const second = await b.lock("/etcd3-locks/x").ttl(3).acquire();
      await second.release();

      // A holder that stops renewing without releasing (as a crashed process would): its lease
      // expires and the lock is free. etcd3 exposes no public handle on a lock's lease.
      const abandoned = await a.lock("/etcd3-locks/y").ttl(3).acquire();
      (abandoned as unknown as { lease: { release(): void } }).lease.release();
      const goneAt = Date.now();
      await eventually("b to get the abandoned lock", 15_000, async () => {
        try {
          return await b.lock("/etcd3-locks/y").ttl(3).acquire();
        } catch (error) {
          if (error instanceof EtcdLockFailedError) return undefined;
          throw error;
        }
      }, 200);
      expect(Date.now() - goneAt).toBeGreaterThan(1_000);
    } finally {
      a.close();
      b.close();
    }
  });

  it("etcd3 client: election campaign, observe and resign", async () => {
    const a = new Etcd3({ hosts: endpoints() });
    const b = new Etcd3({ hosts: endpoints() });
    const o = new Etcd3({ hosts: endpoints() });
    try {
      const campaignA = a.election("etcd3-election", 5).campaign("alpha");
      await new Promise<void>((resolve, reject) => {
        campaignA.once("elected", () => resolve());
        campaignA.once("error", reject);
      });
      // Observed once there is a leader: etcd3's observer can miss a leader elected while it starts
      // up (seen against etcd itself), which is the client's race, not the server's.
      const observer = await o.election("etcd3-election", 5).observe();
      const changes: (string | undefined)[] = [];
      observer.on("change", (value) => changes.push(value));
      const campaignB = b.election("etcd3-election", 5).campaign("beta");
      let bElected = false;
      campaignB.on("elected", () => {
        bElected = true;
      });
      await eventually("the observer to see alpha", 10_000, async () => (observer.leader() === "alpha" ? true : undefined));
      await sleep(1_000);
      expect(bElected).toBe(false);
      await campaignA.resign();
      await eventually("beta to be elected", 10_000, async () => (bElected ? true : undefined));
      await eventually("the observer to see beta", 10_000, async () => (observer.leader() === "beta" ? true : undefined));
      expect(await o.election("etcd3-election").leader()).toBe("beta");
      expect(changes.filter((v) => v !== undefined).at(-1)).toBe("beta");
      await campaignB.resign();
      await observer.cancel();
    } finally {
      a.close();
      b.close();
      o.close();
    }
  });
});
