// etcd 3.4's Auth service: the same etcdctl user/role/auth sequences against real etcd 3.4 and
// against ketch, outputs compared after masking what legitimately differs (IDs, revisions, timings).
import { afterAll, describe, expect, it } from "vitest";

import type { RunResult } from "../ctl/ctl-harness.js";
import { alice, normalized, root, type Step } from "./auth-harness.js";
import { useCluster } from "../integration/cluster-fixture.js";
import { type Cluster, destroyAllClusters, eventually, runEtcdctl } from "../integration/cluster.js";

afterAll(async () => {
  await destroyAllClusters();
}, 60_000);

/** Runs etcdctl against one endpoint; the result in a form two implementations can share. */
async function etcdctl(cluster: Cluster, step: Step): Promise<RunResult> {
  const r = await runEtcdctl([cluster.endpoints[0] as string], step.args, { input: step.input, timeoutMs: step.timeoutMs });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

async function serving(cluster: Cluster): Promise<void> {
  await eventually(`${cluster.impl} serves again`, 30_000, async () => {
    const r = await runEtcdctl(cluster.endpoints, [...root, "endpoint", "health"]);
    return r.code === 0 ? true : undefined;
  });
}

/** Runs each step on both clusters (in order, the two sides in parallel) and compares. */
async function sameOnBoth(etcd: Cluster, ketch: Cluster, steps: Step[]): Promise<void> {
  for (const step of steps) {
    const [e, k] = await Promise.all([etcdctl(etcd, step), etcdctl(ketch, step)]);
    expect({ step: step.args.join(" "), ...normalized(k) }).toEqual({ step: step.args.join(" "), ...normalized(e) });
  }
}

/** Create root, enable auth, alice with role r on /a/, and what she may and may not do. */
const setupAndUse: Step[] = [
  { args: ["auth", "enable"] }, // root user does not exist
  { args: ["user", "add", "root:rootpw"] },
  { args: ["user", "add", "root:again"] }, // user name already exists
  { args: ["auth", "enable"] }, // etcdctl adds the root role, grants it, enables
  { args: ["user", "list"] }, // no token: user name is empty
  { args: ["put", "/a/x", "0"] },
  { args: [...root, "user", "list"] },
  { args: ["--user", "root:wrong", "user", "list"] }, // authentication failed
  { args: ["--user", "nobody:pw", "get", "/a/x"] },
  { args: [...root, "role", "add", "r"] },
  { args: [...root, "role", "add", "r"] }, // role name already exists
  { args: [...root, "role", "grant-permission", "r", "readwrite", "/a/", "--prefix=true"] },
  { args: [...root, "role", "grant-permission", "r", "read", "/c", "/e"] },
  { args: [...root, "role", "grant-permission", "nosuch", "read", "/c"] }, // role name not found
  { args: [...root, "role", "get", "r"] },
  { args: [...root, "role", "list"] },
  { args: [...root, "user", "add", "alice:alicepw"] },
  { args: [...root, "user", "grant-role", "alice", "r"] },
  { args: [...root, "user", "grant-role", "alice", "nosuch"] },
  { args: [...root, "user", "grant-role", "nosuch", "r"] }, // user name not found
  { args: [...root, "user", "get", "alice"] },
  { args: [...root, "user", "get", "alice", "--detail"] },
  { args: [...alice, "put", "/a/x", "1"] },
  { args: [...alice, "get", "/a/x"] },
  { args: [...alice, "get", "/a/", "--prefix", "-w", "json"] },
  { args: [...alice, "put", "/b/x", "1"] }, // permission denied
  { args: [...alice, "get", "/b/x"] },
  { args: [...alice, "get", "/a/", "--from-key"] },
  { args: [...alice, "get", "/c", "/e"] },
  { args: [...alice, "get", "/c", "/f"] },
  { args: [...alice, "put", "/c/x", "1"] }, // read only there
  { args: [...alice, "del", "/a/", "--prefix"] },
  { args: [...alice, "put", "/a/x", "2"] },
  { args: [...alice, "txn"], input: 'value("/a/x") = "2"\n\nput /a/y 1\n\nput /a/z 1\n\n' },
  { args: [...alice, "txn"], input: 'value("/a/x") = "2"\n\nput /b/y 1\n\n\n' },
  { args: [...alice, "watch", "/b/x"], timeoutMs: 5000 }, // canceled: permission denied
  { args: [...alice, "watch", "/a/x", "--rev", "1"], timeoutMs: 2500 }, // history, then stopped
  { args: [...alice, "user", "list"] }, // not root
  { args: [...alice, "user", "get", "alice"] }, // one's own record is allowed
  { args: [...alice, "user", "get", "root"] },
  { args: [...alice, "role", "get", "r"] }, // a role one has is allowed
  { args: [...alice, "role", "get", "root"] },
  { args: [...alice, "endpoint", "health"] },
  { args: [...alice, "endpoint", "hashkv"] }, // root only (auth: permission denied)
  { args: [...alice, "snapshot", "save", "/dev/null"] },
  { args: [...root, "user", "delete", "root"] }, // invalid auth management
  { args: [...root, "user", "revoke-role", "root", "root"] },
  { args: [...root, "role", "delete", "root"] },
  { args: [...root, "user", "revoke-role", "alice", "nosuch"] }, // role is not granted
  { args: [...root, "role", "revoke-permission", "r", "/zzz"] }, // permission is not granted
];

/** Revocation takes effect at once; password change; disable. */
const revokeAndDisable: Step[] = [
  { args: [...root, "role", "revoke-permission", "r", "/a/", "--prefix=true"] },
  { args: [...alice, "get", "/a/x"] }, // denied now
  { args: [...root, "role", "get", "r"] },
  { args: [...root, "role", "grant-permission", "r", "readwrite", "/a/", "--prefix=true"] },
  { args: [...root, "user", "passwd", "alice", "--interactive=false"], input: "newpw\n" },
  { args: [...alice, "get", "/a/x"] }, // old password: authentication failed
  { args: ["--user", "alice:newpw", "get", "/a/x"] },
  { args: [...root, "user", "revoke-role", "alice", "r"] },
  { args: ["--user", "alice:newpw", "get", "/a/x"] },
  { args: [...root, "user", "delete", "alice"] },
  { args: [...root, "user", "list"] },
  { args: [...root, "auth", "disable"] },
  { args: ["get", "/a/x"] },
  { args: ["--user", "root:rootpw", "get", "/a/x"] }, // auth not enabled: the user is ignored
  { args: ["user", "list"] },
];

describe("etcdctl user, role and auth: ketch answers as etcd 3.4", () => {
  const etcd = useCluster("etcd", 1, { namePrefix: "e" });
  const ketch = useCluster("ketch", 1, { namePrefix: "k" });

  it("setting up root, a role on a prefix and a user; what she may and may not do", async () => {
    await sameOnBoth(etcd(), ketch(), setupAndUse);
  }, 120_000);

  it("rights and users survive a restart of the member", async () => {
    await Promise.all([etcd().members[0]?.restart(), ketch().members[0]?.restart()]);
    // With auth on, `endpoint health` needs a user (etcd too answers "user name is empty" without one).
    await Promise.all([serving(etcd()), serving(ketch())]);
    await sameOnBoth(etcd(), ketch(), [
      { args: [...alice, "get", "/a/x"] },
      { args: [...alice, "get", "/b/x"] },
      { args: [...root, "role", "get", "r"] },
      { args: [...root, "user", "get", "alice"] },
    ]);
  }, 120_000);

  it("revoking a permission takes effect at once; password change; auth disable", async () => {
    await sameOnBoth(etcd(), ketch(), revokeAndDisable);
  }, 120_000);
});

describe("ketch: auth state reaches a member that catches up by snapshot", () => {
  // A small --snapshot-count so the stopped member's entries are compacted away while it is down.
  const cluster = useCluster("ketch", 3, { snapshotCount: 20, namePrefix: "s" });

  it("a member that was down while users and rights changed gets them by snapshot", async () => {
    const c = cluster();
    const all = c.endpoints;
    const run = async (args: string[], endpoints = all): Promise<string> => {
      const r = await runEtcdctl(endpoints, args);
      if (r.code !== 0) throw new Error(`etcdctl ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    const behind = c.members[2];
    if (behind === undefined) throw new Error("no third member");
    await behind.stop();
    const up = all.filter((url) => url !== behind.clientUrl);
    await run(["user", "add", "root:rootpw"], up);
    await run(["auth", "enable"], up);
    await run([...root, "role", "add", "r"], up);
    await run([...root, "role", "grant-permission", "r", "readwrite", "/a/", "--prefix=true"], up);
    await run([...root, "user", "add", "alice:alicepw"], up);
    await run([...root, "user", "grant-role", "alice", "r"], up);
    // Enough entries that the leader compacts its log past what the stopped member has.
    for (let i = 0; i < 50; i += 10) {
      const txn = Array.from({ length: 10 }, (_u, j) => `put /a/t${i + j} v\n`).join("");
      const r = await runEtcdctl(up, [...root, "txn"], { input: `\n${txn}\n\n` });
      if (r.code !== 0) throw new Error(`txn: ${r.stderr}`);
    }
    for (let i = 0; i < 30; i++) await run([...root, "put", `/a/p${i}`, "v"], up);
    await behind.start();
    await eventually("the restarted member installs a snapshot", 30_000, async () =>
      behind.logTail(200_000).includes("installed snapshot from leader") ? true : undefined,
    );
    const only = [behind.clientUrl];
    expect(await run([...alice, "get", "/a/p29", "--print-value-only"], only)).toBe("v\n");
    const denied = await runEtcdctl(only, [...alice, "get", "/b/x"]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain("Error: etcdserver: permission denied");
    expect(await run([...root, "role", "get", "r"], only)).toBe("Role r\nKV Read:\n\t[/a/, /a0) (prefix /a/)\nKV Write:\n\t[/a/, /a0) (prefix /a/)\n");
    // And it persisted what it installed: after its own restart it still knows alice's rights.
    await behind.restart();
    await eventually("the member serves again", 30_000, async () => {
      const r = await runEtcdctl(only, [...alice, "get", "/a/p29", "--print-value-only"]);
      return r.code === 0 && r.stdout === "v\n" ? true : undefined;
    });
    const deniedAgain = await runEtcdctl(only, [...alice, "put", "/b/x", "1"]);
    expect(deniedAgain.stderr).toContain("Error: etcdserver: permission denied");
  }, 150_000);
});

