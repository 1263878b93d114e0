// Measures `ketchctl get k` against `etcdctl get k` (and `node -e 0`, `ketchctl version` as the
// floor and the cost without the client; the unbundled dist/src/cmd/ketchctl.js for comparison),
// interleaved so machine noise hits all alike.
// Usage: node dist/test/ctl/start-time.js --endpoints 127.0.0.1:2379 [--runs 20]
// Wall and CPU (user+sys) come from /usr/bin/time; medians and p90 are printed.

import { spawnSync } from "node:child_process";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";

import { builtKetchctl } from "./ctl-harness.js";

const argv = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const i = argv.indexOf(name);
  return i === -1 ? fallback : (argv[i + 1] ?? fallback);
};
const endpoints = option("--endpoints", "127.0.0.1:2379");
const runs = Number(option("--runs", "20"));

const cases: Record<string, string[]> = {
  "node -e 0": [process.execPath, "-e", "0"],
  "etcdctl get k": ["/usr/bin/etcdctl", "--endpoints", endpoints, "get", "k"],
  "ketchctl version": [process.execPath, builtKetchctl, "version"],
  "ketchctl get k": [process.execPath, builtKetchctl, "--endpoints", endpoints, "get", "k"],
  "unbundled get k": [process.execPath, join(dirname(builtKetchctl), "..", "src", "cmd", "ketchctl.js"), "--endpoints", endpoints, "get", "k"],
};

const samples = new Map<string, { wall: number[]; cpu: number[] }>();
for (let run = 0; run < runs; run++) {
  for (const [name, command] of Object.entries(cases)) {
    const result = spawnSync("/usr/bin/time", ["-f", "%e %U %S", ...command], { encoding: "utf8", env: { ...process.env, ETCDCTL_API: "3" } });
    const last = result.stderr.trim().split("\n").at(-1) ?? "";
    const [wall, user, sys] = last.split(" ").map(Number);
    if (result.status !== 0 || wall === undefined || user === undefined || sys === undefined) {
      throw new Error(`${name} failed (${String(result.status)}): ${result.stderr}`);
    }
    const entry = samples.get(name) ?? { wall: [], cpu: [] };
    entry.wall.push(wall * 1000);
    entry.cpu.push((user + sys) * 1000);
    samples.set(name, entry);
  }
}

const quantile = (values: number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
};
console.log(`runs: ${runs}, load average: ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
console.log("case                 wall p50   wall p90   cpu p50   cpu p90  (ms)");
for (const [name, { wall, cpu }] of samples) {
  console.log(
    `${name.padEnd(20)} ${quantile(wall, 0.5).toFixed(0).padStart(8)} ${quantile(wall, 0.9).toFixed(0).padStart(10)} ${quantile(cpu, 0.5).toFixed(0).padStart(9)} ${quantile(cpu, 0.9).toFixed(0).padStart(9)}`,
  );
}
