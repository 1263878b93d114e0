// ketchctl side by side with the real etcdctl 3.4 on the same 3-member cluster (real etcd 3.4 and
// ketch, KETCH_IMPLS): the same commands must give the same stdout, the same Error lines and the
// same exit codes, in every output format. JSON is compared structurally with the values that
// differ between two runs masked (IDs, revisions, terms, timings); key sets must match exactly,
// so etcdctl's omitempty shapes are checked too.

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { destroyAllClusters, parseImpls, sleep } from "../integration/cluster.js";
import { useCluster } from "../integration/cluster-fixture.js";
import { comparable, maskedJsonLines, maskFields, maskSimple, removeKetchctlBundle, requireKetchctl, runTool, type RunOptions, type Tool } from "./ctl-harness.js";

const IMPLS = parseImpls(process.env.KETCH_IMPLS ?? "etcd,ketch");
const tools: Tool[] = ["etcdctl", "ketchctl"];

afterAll(destroyAllClusters, 60_000);
beforeAll(requireKetchctl);
afterAll(removeKetchctlBundle);

describe.each(IMPLS)("ketchctl vs etcdctl on %s", (impl) => {
  const c = useCluster(impl, 3);
  const run = (tool: Tool, args: readonly string[], opts: RunOptions = {}) => runTool(tool, c().runningEndpoints, args, opts);

  /** Both tools, one after the other, on the same state. */
  async function both(args: readonly string[], opts: RunOptions = {}) {
    const etcdctl = await run("etcdctl", args, opts);
    const ketchctl = await run("ketchctl", args, opts);
    return { etcdctl, ketchctl };
  }

  /** Same exit code, stdout and Error lines. */
  async function expectSame(args: readonly string[], opts: RunOptions = {}): Promise<void> {
    const { etcdctl, ketchctl } = await both(args, opts);
    expect(comparable(ketchctl), `ketchctl ${args.join(" ")}`).toEqual(comparable(etcdctl));
  }

  /** Same exit code and stderr; stdout equal after `mask`. */
  async function expectSameMasked(args: readonly string[], mask: (stdout: string) => unknown, opts: RunOptions = {}): Promise<void> {
    const { etcdctl, ketchctl } = await both(args, opts);
    const view = (r: typeof etcdctl) => ({ ...comparable(r), stdout: mask(r.stdout) });
    expect(view(ketchctl), `ketchctl ${args.join(" ")}`).toEqual(view(etcdctl));
  }

  /** A write sequence run by each tool from the same starting state (the prefix is cleared first). */
  async function sameWrites(prefix: string, steps: { args: string[]; input?: string }[], mask: (tool: Tool, stdout: string) => unknown): Promise<void> {
    const outputs: Record<Tool, unknown[]> = { etcdctl: [], ketchctl: [] };
    for (const tool of tools) {
      await run("etcdctl", ["del", "--prefix", prefix]);
      for (const step of steps) {
        const result = await run(tool, step.args, step.input === undefined ? {} : { input: step.input });
        outputs[tool].push({ args: step.args.join(" "), code: result.code, stdout: mask(tool, result.stdout), stderr: comparable(result).stderr });
      }
    }
    expect(outputs.ketchctl).toEqual(outputs.etcdctl);
  }

  it("get in every format, with ranges, sorting, limits, --hex and --print-value-only", async () => {
    await run("etcdctl", ["del", "--prefix", "g/"]);
    for (const [key, value] of [["g/a", "1"], ["g/b", "two words"], ["g/c", "<&>\"quoted\""], ["g/d", ""], ["g/e", "é\u0001"]]) {
      expect((await run("etcdctl", ["put", key as string, value as string])).code).toBe(0);
    }
    const reads = [
      ["get", "g/a"],
      ["get", "g/", "--prefix"],
      ["get", "g/b", "g/d"],
      ["get", "g/b", "--from-key", "--limit", "2"],
      ["get", "g/", "--prefix", "--keys-only"],
      ["get", "g/", "--prefix", "--print-value-only"],
      ["get", "g/", "--prefix", "--sort-by=value", "--order=DESCEND"],
      ["get", "g/", "--prefix", "--sort-by", "create", "--order", "ascend", "--limit", "3"],
      ["get", "g/", "--prefix", "--hex"],
      ["get", "g/", "--prefix", "--consistency=s"],
      ["get", "g/missing"],
      ["get", "g/b", ""], // an empty range_end: one key (etcd reads an encoded empty range_end as from-key)
    ];
    for (const args of reads) {
      await expectSame(args);
      await expectSameMasked([...args, "-w", "fields"], maskFields);
      await expectSameMasked([...args, "-w", "json"], maskedJsonLines);
    }
    await expectSame(["get", "g/a", "-w", "table"]);
    await expectSame(["get", "g/", "--prefix", "--print-value-only", "-w", "json"]);
  });

  it("put, del and txn (script on stdin, interactive prompts) give the same output from the same state", async () => {
    await sameWrites(
      "w/",
      [
        { args: ["put", "w/k", "v1"] },
        { args: ["put", "w/k", "v2", "--prev-kv"] },
        { args: ["put", "w/k", "--prev-kv", "-w", "json"], input: "from stdin" },
        { args: ["put", "w/k", "--ignore-value", "--prev-kv"] },
        { args: ["put", "w/missing", "--ignore-value"] },
        { args: ["del", "w/nothing"] },
        { args: ["put", "w/z", "after"] },
        { args: ["del", "w/k", ""] },
        { args: ["del", "w/k", "--prev-kv"] },
        { args: ["put", "w/a", "1"] },
        { args: ["put", "w/b", "2"] },
        { args: ["del", "w/", "--prefix"] },
      ],
      (_tool, out) => (out.startsWith("{") ? maskedJsonLines(out) : out),
    );
    const script = 'mod("w/t") > "0"\nvalue("w/t") = "a"\n\nput w/t b --prev-kv\nget w/t\ndel w/none\n\nput w/t failed\n\n';
    const failing = 'version("w/t") = "7"\n\nput w/t x\n\nget w/t --keys-only\nput w/u "quoted value"\n\n';
    await sameWrites(
      "w/",
      [
        { args: ["put", "w/t", "a"] },
        { args: ["txn"], input: script },
        { args: ["txn", "-w", "json"], input: failing },
        { args: ["txn", "-w", "fields"], input: failing },
        { args: ["txn", "--interactive"], input: "\n\nget w/u\n\n" },
      ],
      (_tool, out) => (out.startsWith("{") ? maskedJsonLines(out) : maskFields(out)),
    );
  });

  it("txn and argument errors: the same Error lines and exit codes", async () => {
    const scripts = [
      "bogus\n",
      'value("k") = a\n',
      'value("k")="a"\n\n\n',
      'mod("k") > "x"\n\n\n',
      'foo("k") > "1"\n\n\n',
      "\nput\n\n",
      "\nbogus k\n\n",
      "\nget k --bogus\n\n",
      "\n\nput x\n",
      'version("k") = "0"\n\nput k v\n',
    ];
    for (const input of scripts) await expectSame(["txn"], { input });
    await expectSame(["txn", "extra"]);
    for (const args of [
      ["get"],
      ["put"],
      ["put", "k"],
      ["del"],
      ["del", "a", "b", "c"],
      ["get", "a", "b", "--prefix"],
      ["get", "a", "--prefix", "--from-key"],
      ["get", "a", "--consistency", "x"],
      ["get", "a", "--sort-by", "bogus"],
      ["get", "a", "--order", "bogus"],
      ["get", "a", "-w", "bogus"],
      ["get", "a", "-w", "table"],
      ["get", "a", "--rev", "100000"],
      ["put", "k", "v", "--lease", "zz"],
      ["put", "k", "v", "--ignore-value"],
      ["compaction"],
      ["compaction", "abc"],
      ["compaction", "100000"],
      ["lease", "grant"],
      ["lease", "grant", "abc"],
      ["lease", "revoke", "1234"],
      ["lease", "revoke", "zz"],
      ["lease", "keep-alive", "--once", "1234"],
      ["lease", "timetolive"],
      ["member", "remove", "zz"],
      ["member", "remove"],
      ["member", "update", "1234"],
      ["member", "add"],
      ["member", "add", "x"],
      ["member", "add", "x", "http://127.0.0.1:1"],
      ["move-leader"],
      ["move-leader", "zz"],
      ["alarm", "list", "extra"],
      ["snapshot", "save"],
      ["watch", "a", "b", "--prefix"],
      ["watch", "a", "--"],
      ["elect"],
      ["elect", "e"],
      ["elect", "e", "p", "-l"],
      ["lock"],
    ]) {
      await expectSame(args);
    }
    // Unknown flags: the same Error lines (the usage text names the program, so it differs).
    const { etcdctl, ketchctl } = await both(["get", "a", "--bogus"]);
    expect({ code: ketchctl.code, stderr: ketchctl.stderr }).toEqual({ code: etcdctl.code, stderr: ownStderrOnly(etcdctl.stderr) });
  });

  it("lease grant / timetolive / keep-alive --once / list / revoke in every format", async () => {
    for (const format of ["simple", "json", "fields"]) {
      const mask = (out: string) => (format === "json" ? maskedJsonLines(out) : format === "fields" ? maskFields(out) : maskSimple(out));
      const outputs: Record<Tool, unknown[]> = { etcdctl: [], ketchctl: [] };
      for (const tool of tools) {
        const granted = await run(tool, ["lease", "grant", "600"]);
        expect(granted.code, granted.stderr).toBe(0);
        const id = /lease ([0-9a-f]+) granted/.exec(granted.stdout)?.[1] as string;
        await run("etcdctl", ["put", `l/${tool}`, "v", `--lease=${id}`]);
        for (const args of [
          ["lease", "grant", "600"],
          ["lease", "timetolive", id],
          ["lease", "timetolive", id, "--keys"],
          ["lease", "keep-alive", "--once", id],
          ["lease", "revoke", id],
          ["lease", "timetolive", id],
        ]) {
          const result = await run(tool, [...args, "-w", format]);
          const stdout = mask(result.stdout.replaceAll(`l/${tool}`, "l/<tool>").replaceAll(Buffer.from(`l/${tool}`).toString("base64"), "<b64>"));
          outputs[tool].push({ args: args[0] === "lease" ? args.slice(0, 2) : args, code: result.code, stdout, stderr: comparable(result).stderr });
        }
      }
      expect(outputs.ketchctl).toEqual(outputs.etcdctl);
    }
    await expectSameMasked(["lease", "list"], (out) => out.split("\n")[0]);
    await expectSameMasked(["lease", "list", "-w", "json"], (out) => Object.keys(JSON.parse(out.replace(/:(\d+)/g, ':"$1"')) as object));
  });

  it("member list, endpoint status / health / hashkv (also --cluster), alarm list, defrag, in every format", async () => {
    const byLine = (out: string) => out.split("\n").filter((l) => l !== "").sort();
    await expectSameMasked(["member", "list"], byLine);
    await expectSameMasked(["member", "list", "-w", "table"], (out) => byLine(out).sort());
    await expectSameMasked(["member", "list", "-w", "json"], maskedJsonLines);
    await expectSameMasked(["member", "list", "-w", "fields"], maskFields);
    for (const cluster of [[], ["--cluster"]]) {
      const table = (out: string) => byLine(out).length;
      await expectSameMasked(["endpoint", "status", ...cluster], (out) => byLine(out).map((l) => l.split(", ").filter((_x, i) => i === 0 || i === 2 || i === 5)));
      await expectSameMasked(["endpoint", "status", ...cluster, "-w", "json"], maskedJsonLines);
      await expectSameMasked(["endpoint", "status", ...cluster, "-w", "fields"], (out) => maskFields(out).split("\n\n").sort());
      await expectSameMasked(["endpoint", "status", ...cluster, "-w", "table"], table);
      const health = await both(["endpoint", "health", ...cluster]);
      for (const r of [health.etcdctl, health.ketchctl]) {
        expect(r.code, r.stderr).toBe(0);
        const expected = c().runningEndpoints.map((ep) => `${ep} is healthy: successfully committed proposal: took = <t>`);
        expect(byLine(maskSimple(ownStderrOnly(r.stderr)))).toEqual(expected.sort());
      }
      await expectSameMasked(["endpoint", "health", ...cluster, "-w", "json"], (out) => (maskedJsonLines(out)[0] as object[]).length);
      await expectSameMasked(["endpoint", "hashkv", ...cluster, "-w", "json"], maskedJsonLines);
      await expectSameMasked(["endpoint", "hashkv", ...cluster], (out) => byLine(out).map((l) => l.split(", ")[0]));
    }
    await expectSame(["alarm", "list"]);
    await expectSameMasked(["alarm", "list", "-w", "json"], maskedJsonLines);
    await expectSameMasked(["defrag"], byLine);
    await expectSameMasked(["defrag", "--cluster"], byLine);
  });

  it("member add --learner / update / promote / remove print what etcdctl prints", async () => {
    const outputs: Record<Tool, unknown[]> = { etcdctl: [], ketchctl: [] };
    for (const tool of tools) {
      const peer = tool === "etcdctl" ? "http://127.0.0.1:1" : "http://127.0.0.1:2";
      const added = await runUntilHealthyCluster(() => run(tool, ["member", "add", "extra", `--learner`, `--peer-urls=${peer}`]));
      expect(added.code, added.stderr).toBe(0);
      const id = /Member\s+([0-9a-f]+) added/.exec(added.stdout)?.[1] as string;
      const lines = added.stdout.replaceAll(peer, "<peer>").replace(/ETCD_INITIAL_CLUSTER="[^"]*"/, (m) => m.split(",").length.toString());
      outputs[tool].push(maskSimple(lines));
      const promote = await run(tool, ["member", "promote", id]);
      outputs[tool].push({ code: promote.code, stderr: comparable(promote).stderr });
      const updated = await run(tool, ["member", "update", id, `--peer-urls=${peer}0`]);
      outputs[tool].push({ code: updated.code, stdout: maskSimple(updated.stdout) });
      const listed = await run(tool, ["member", "list"]);
      outputs[tool].push(listed.stdout.split("\n").filter((l) => l.split(", ")[3] === `${peer}0`).map((l) => maskSimple(l).replace(`${peer}0`, "<peer>")));
      const removed = await run(tool, ["member", "remove", id]);
      outputs[tool].push({ code: removed.code, stdout: maskSimple(removed.stdout) });
    }
    expect(outputs.ketchctl).toEqual(outputs.etcdctl);

    /** etcd refuses reconfiguration until the member has been connected to a quorum for 5 s. */
    async function runUntilHealthyCluster(attempt: () => ReturnType<typeof run>) {
      let result = await attempt();
      for (let i = 0; i < 20 && result.code !== 0 && result.stderr.includes("unhealthy cluster"); i++) {
        await sleep(500);
        result = await attempt();
      }
      return result;
    }
  });

  it("watch: live events and --rev history with --prev-kv in simple, json and fields", async () => {
    await run("etcdctl", ["del", "--prefix", "wa/"]);
    const start = Number(JSON.parse((await run("etcdctl", ["get", "wa/none", "-w", "json"])).stdout.replace(/:(\d+)/g, ':"$1"')).header.revision) + 1;
    await run("etcdctl", ["put", "wa/k", "v1"]);
    await run("etcdctl", ["put", "wa/k", "v2"]);
    await run("etcdctl", ["del", "wa/k"]);
    await run("etcdctl", ["put", "wa/j", "v3"]);
    for (const format of ["simple", "json", "fields"]) {
      const mask = (out: string) => (format === "json" ? maskedJsonLines(out) : maskFields(out));
      const outputs: Record<Tool, unknown> = { etcdctl: undefined, ketchctl: undefined };
      for (const tool of tools) {
        // History from `start`: four events, then the watch stays open; the harness ends it.
        const result = await run(tool, ["watch", "--prefix", "wa/", "--rev", String(start), "--prev-kv", "-w", format], { timeoutMs: 6000 });
        outputs[tool] = mask(result.stdout);
      }
      expect(outputs.ketchctl).toEqual(outputs.etcdctl);
    }
  });

  it("compaction, then watch --rev below it: canceled with etcdctl's message and exit code 5", async () => {
    const put = await run("etcdctl", ["put", "cw/k", "1", "-w", "json"]);
    const rev = Number(/"revision":(\d+)/.exec(put.stdout)?.[1]);
    await run("etcdctl", ["put", "cw/k", "2"]);
    const compacted = await run("ketchctl", ["compaction", String(rev + 1)]);
    expect(comparable(compacted)).toEqual({ code: 0, stdout: `compacted revision ${rev + 1}\n`, stderr: "" });
    await expectSame(["compaction", String(rev)]);
    await expectSame(["watch", "--rev", String(rev), "cw/k"], { timeoutMs: 20_000 });
    const { ketchctl } = await both(["watch", "--rev", String(rev), "cw/k"], { timeoutMs: 20_000 });
    expect(ownStderrOnly(ketchctl.stderr)).toBe("watch was canceled (etcdserver: mvcc: required revision has been compacted)\nError: watch is canceled by the server\n");
    expect(ketchctl.code).toBe(5);
  });

  it("-w protobuf: the same bytes from one endpoint; lease structs cannot be encoded", async () => {
    await run("etcdctl", ["put", "pb/k", "v"]);
    const one = { endpoints: [c().runningEndpoints[0] as string] };
    for (const args of [["get", "pb/", "--prefix"], ["member", "list"], ["alarm", "list"]]) {
      const etcdctl = await runTool("etcdctl", one.endpoints, [...args, "-w", "protobuf"]);
      const ketchctl = await runTool("ketchctl", one.endpoints, [...args, "-w", "protobuf"]);
      // etcdctl passes the bytes to Printf as a format: a 0x25 byte ('%') garbles its output.
      if (etcdctl.stdout.includes("%!")) expect(ketchctl.code).toBe(etcdctl.code);
      else expect(comparable(ketchctl), args.join(" ")).toEqual(comparable(etcdctl));
    }
    const refused = await run("ketchctl", ["lease", "grant", "5", "-w", "protobuf"]);
    expect({ code: refused.code, stderr: refused.stderr }).toEqual({ code: 4, stderr: "Error: marshal unsupported for type clientv3.LeaseGrantResponse\n" });
  });

  it("ETCDCTL_* variables: endpoints, write-out, a shadowed variable is an error", async () => {
    await run("etcdctl", ["put", "env/k", "v"]);
    const env = { ETCDCTL_ENDPOINTS: c().runningEndpoints.join(","), ETCDCTL_WRITE_OUT: "fields" };
    await expectSameMasked(["get", "env/k"], maskFields, { env, noEndpointsFlag: true });
    await expectSameMasked(["get", "env/k"], (out) => out, { env: { ETCDCTL_HEX: "true", ETCDCTL_ENDPOINTS: env.ETCDCTL_ENDPOINTS }, noEndpointsFlag: true });
    const shadowed = await both(["get", "env/k"], { env: { ETCDCTL_ENDPOINTS: env.ETCDCTL_ENDPOINTS } });
    expect(shadowed.ketchctl.code).toBe(shadowed.etcdctl.code);
    expect(shadowed.ketchctl.stderr).toContain('conflicting environment variable "ETCDCTL_ENDPOINTS" is shadowed by corresponding command-line flag');
    expect(shadowed.etcdctl.stderr).toContain('conflicting environment variable "ETCDCTL_ENDPOINTS" is shadowed by corresponding command-line flag');
  });
});

function ownStderrOnly(stderr: string): string {
  return stderr
    .split("\n")
    .filter((line) => !line.startsWith("{\"level\""))
    .join("\n");
}

