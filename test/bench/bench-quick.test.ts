// `npm run bench -- --quick` for both implementations, as CI runs it: real 3-member clusters of
// etcd 3.4 and ketch, real h2load. Asserts only that the harness works end to end (every row
// produced numbers for both, the JSON and markdown files were written), never how fast anything
// is: the machine is shared and the benchmark itself does the measuring.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { afterAll, describe, expect, it } from "vitest";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const benchEntry = join(repoRoot, "dist", "bench", "bench.js");
const outDir = mkdtempSync(join(tmpdir(), "ketch-bench-quick-"));

afterAll(() => rmSync(outDir, { recursive: true, force: true }));

interface Sample {
  row: string;
  impl: string;
  values: Record<string, number | null>;
  verified: boolean;
  verification: string;
}

function run(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [benchEntry, ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    // SIGINT first: the harness's exit handler kills its clusters; SIGKILL if that hangs.
    const timer = setTimeout(() => {
      child.kill("SIGINT");
      setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
    }, timeoutMs);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}

describe("npm run bench -- --quick", () => {
  it("runs every row against etcd and ketch and writes the JSON and markdown results", async () => {
    expect(existsSync(benchEntry), `${benchEntry} is missing: build first (npm run build)`).toBe(true);
    const markdown = join(outDir, "benchmarks.md");
    const result = await run(["--quick", "--impl", "etcd,ketch", "--out-dir", outDir, "--markdown", markdown], 280_000);
    expect(result.code, `bench exited ${String(result.code)}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr.slice(-6000)}`).toBe(0);

    const jsonFiles = readdirSync(outDir).filter((f) => f.startsWith("bench-quick-") && f.endsWith(".json"));
    expect(jsonFiles).toHaveLength(1);
    const results = JSON.parse(readFileSync(join(outDir, jsonFiles[0] as string), "utf8")) as { rows: string[]; samples: Sample[] };
    expect(results.rows.length).toBeGreaterThanOrEqual(16);
    for (const row of results.rows) {
      for (const impl of ["etcd", "ketch"]) {
        const samples = results.samples.filter((s) => s.row === row && s.impl === impl);
        expect(samples.length, `${impl} ${row}: no sample`).toBeGreaterThan(0);
        for (const s of samples) {
          const missing = Object.entries(s.values).filter(([, v]) => typeof v !== "number" || !Number.isFinite(v));
          expect(missing, `${impl} ${row}: no number for ${missing.map(([k]) => k).join(", ")} (${s.verification})`).toEqual([]);
        }
      }
    }

    const text = readFileSync(markdown, "utf8");
    for (const title of ["put, 256 clients", "watch latency, 1000 watchers", "leader failover gap"]) expect(text).toContain(title);
    // The table printed at the end lists both implementations side by side.
    expect(result.stdout).toMatch(/ketch\/etcd/);
  });
});
