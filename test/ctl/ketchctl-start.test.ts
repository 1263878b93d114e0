// ketchctl's start cost (issue 5: "a CLI that spends 400 ms loading modules is not acceptable").
// Two checks that cannot flake: which modules `get` loads (exact, no timing), and a generous CPU
// bound relative to `node -e 0` measured in the same test, interleaved, on medians.
// Measured numbers for the report come from test/ctl/start-time.ts, not from here.

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { useCluster } from "../integration/cluster-fixture.js";
import { ketchctlEntry, removeKetchctlBundle, requireKetchctl } from "./ctl-harness.js";

beforeAll(requireKetchctl);
afterAll(removeKetchctlBundle);

const hookDir = mkdtempSync(join(tmpdir(), "ketchctl-start-"));
afterAll(() => rmSync(hookDir, { recursive: true, force: true }));

/** A module that registers a resolve hook printing every URL the process loads as "loaded URL". */
function resolveLogger(): string {
  const hooks = join(hookDir, "hooks.mjs");
  writeFileSync(
    hooks,
    'export async function resolve(specifier, context, next) { const result = await next(specifier, context); process.stderr.write(`loaded ${result.url}\\n`); return result; }\n',
  );
  const register = join(hookDir, "register.mjs");
  writeFileSync(register, `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  return register;
}

/** CPU (user + sys, ms) that `argv` took, from bash's `times` (its children's line). */
function cpuMs(argv: readonly string[]): number {
  const quoted = argv.map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(" ");
  const result = spawnSync("bash", ["-c", `${quoted} >/dev/null 2>&1 || exit 7; times`], { encoding: "utf8", env: { ...process.env, ETCDCTL_API: "3" } });
  if (result.status !== 0) throw new Error(`${argv.join(" ")} failed (${String(result.status)}): ${result.stderr}`);
  const children = result.stdout.trim().split("\n").at(-1) ?? "";
  const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  if (seconds.length !== 2) throw new Error(`unexpected times output: ${JSON.stringify(result.stdout)}`);
  return ((seconds[0] as number) + (seconds[1] as number)) * 1000;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

describe("ketchctl start", () => {
  const cluster = useCluster("ketch", 1);

  it("get loads only the bundle's get path: no pino, yaml, level, proto-loader, full protobufjs or snapshot code", () => {
    const endpoint = cluster().endpoints.join(",");
    const result = spawnSync(process.execPath, ["--import", resolveLogger(), ketchctlEntry(), "--endpoints", endpoint, "get", "k"], {
      encoding: "utf8",
      env: { ...process.env, ETCDCTL_API: "3" },
      timeout: 60_000,
    });
    expect(result.status, result.stderr).toBe(0);
    const loaded = result.stderr
      .split("\n")
      .filter((line) => line.startsWith("loaded "))
      .map((line) => line.slice("loaded ".length));
    const bundleDir = pathToFileURL(join(ketchctlEntry(), "..")).href;
    const files = loaded.filter((url) => url.startsWith(`${bundleDir}/`)).map((url) => url.slice(bundleDir.length + 1));
    // Everything else must be one of Node's own modules: no package is loaded from node_modules.
    expect(loaded.filter((url) => !url.startsWith("node:") && !url.startsWith(`${bundleDir}/`))).toEqual([]);
    expect(files).toContain("ketchctl.js");
    expect(files.some((file) => file.startsWith("etcd-client-"))).toBe(true);
    // Chunks of other commands' code (esbuild names a lazily imported module's chunk after it).
    expect(files.filter((file) => /^(protobufjs|snapshot|printer-(json|table|fields|protobuf))-/.test(file))).toEqual([]);
  }, 90_000);

  it("get's CPU beyond node's own start stays under 3x `node -e 0` (medians of interleaved runs)", () => {
    const endpoint = cluster().endpoints.join(",");
    const bare: number[] = [];
    const get: number[] = [];
    for (let run = 0; run < 7; run++) {
      bare.push(cpuMs([process.execPath, "-e", "0"]));
      get.push(cpuMs([process.execPath, ketchctlEntry(), "--endpoints", endpoint, "get", "k"]));
    }
    const floor = median(bare);
    const own = median(get) - floor;
    expect(own, `ketchctl get: ${median(get).toFixed(0)} ms CPU, node -e 0: ${floor.toFixed(0)} ms`).toBeLessThan(3 * floor);
  }, 120_000);
});
