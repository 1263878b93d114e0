// ketchctl's user, role and auth commands and --user/--password: the core auth sequence with
// ketchctl against ketch and with etcdctl against etcd 3.4, outputs and exit codes compared.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { removeKetchctlBundle, requireKetchctl, runTool } from "../ctl/ctl-harness.js";
import { useCluster } from "../integration/cluster-fixture.js";
import { destroyAllClusters } from "../integration/cluster.js";
import { alice, normalized, root, type Step } from "./auth-harness.js";

afterAll(async () => {
  await destroyAllClusters();
}, 60_000);

/** The core sequence, with ketchctl against ketch and etcdctl against etcd 3.4. */
const ketchctlSequence: Step[] = [
  { args: ["auth", "enable"] },
  { args: ["user", "add", "root:rootpw"] },
  { args: ["auth", "enable"] },
  { args: ["put", "/a/x", "0"] },
  { args: [...root, "role", "add", "r"] },
  { args: [...root, "role", "grant-permission", "r", "readwrite", "/a/", "--prefix=true"] },
  { args: [...root, "role", "grant-permission", "r", "read", "/c", "--from-key"] },
  { args: [...root, "role", "get", "r"] },
  { args: [...root, "user", "add", "alice:alicepw"] },
  { args: [...root, "user", "grant-role", "alice", "r"] },
  { args: [...root, "user", "get", "alice", "--detail"] },
  { args: [...root, "user", "list"] },
  { args: [...root, "role", "list"] },
  { args: [...alice, "put", "/a/x", "1"] },
  { args: ["--user", "alice", "--password", "alicepw", "get", "/a/x"] },
  { args: [...alice, "put", "/b/x", "1"] },
  { args: [...alice, "get", "/b/x"] },
  { args: ["--user", "alice:wrong", "get", "/a/x"] },
  { args: [...alice, "user", "list"] },
  { args: [...root, "role", "revoke-permission", "r", "/a/", "--prefix=true"] },
  { args: [...alice, "get", "/a/x"] },
  { args: [...root, "role", "revoke-permission", "r", "/c", "--from-key"] },
  { args: [...root, "role", "revoke-permission", "r", "/a/"] },
  { args: [...root, "user", "passwd", "alice", "--interactive=false"], input: "newpw\n" },
  { args: [...root, "user", "revoke-role", "alice", "r"] },
  { args: [...root, "role", "delete", "r"] },
  { args: [...root, "user", "delete", "alice"] },
  { args: [...root, "auth", "disable"] },
  { args: ["get", "/a/x"] },
];

describe("ketchctl user, role and auth: as etcdctl against etcd 3.4", () => {
  const etcd = useCluster("etcd", 1, { namePrefix: "e" });
  const ketch = useCluster("ketch", 1, { namePrefix: "k" });
  beforeAll(() => requireKetchctl());
  afterAll(() => removeKetchctlBundle());

  it("the core sequence prints the same and exits the same", async () => {
    for (const step of ketchctlSequence) {
      const [e, k] = await Promise.all([
        runTool("etcdctl", etcd().endpoints, step.args, { input: step.input }),
        runTool("ketchctl", ketch().endpoints, step.args, { input: step.input }),
      ]);
      expect({ step: step.args.join(" "), ...normalized(k) }).toEqual({ step: step.args.join(" "), ...normalized(e) });
    }
  }, 120_000);
});
