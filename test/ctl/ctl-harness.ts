// Runs ketchctl (bundled as `npm run build` bundles the `ketchctl` bin) and the real etcdctl 3.4 the same way, and
// normalizes what legitimately differs between two runs (IDs, revisions, terms, timings) so that
// their outputs can be compared exactly.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";

import { protoRootDir } from "../../src/util/proto-dir.js";
import { etcdctlBinary, parseJsonExact } from "../integration/cluster.js";

/** The repository root: proto/'s parent, from the sources and from dist/ alike. */
const repoRoot = dirname(protoRootDir());

/** The `ketchctl` bin that `npm run build` writes (scripts/bundle-ketchctl.mjs). */
export const builtKetchctl = join(repoRoot, "dist", "ketchctl", "ketchctl.js");

let freshBundle: string | undefined;

/** The bundle requireKetchctl made from the current sources (tsc alone does not rebuild the bin's). */
export function ketchctlEntry(): string {
  if (freshBundle === undefined) throw new Error("call requireKetchctl() first (in beforeAll)");
  return freshBundle;
}

export type Tool = "etcdctl" | "ketchctl";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string | Buffer;
  /** Extra environment (ETCD_* and ETCDCTL_* of the test process are always dropped). */
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Leave out --endpoints (to test ETCDCTL_ENDPOINTS and the default). */
  noEndpointsFlag?: boolean;
}

/**
 * Checks for etcdctl and bundles ketchctl from the current sources into a directory of this test
 * file's own below dist/ (the bundle finds proto/ and node_modules/ from there). For a beforeAll,
 * with removeKetchctlBundle in the afterAll.
 */
export function requireKetchctl(): void {
  if (!existsSync(etcdctlBinary)) throw new Error(`${etcdctlBinary} is missing: apt-get install -y etcd-client`);
  if (freshBundle !== undefined) return;
  const outdir = mkdtempSync(join(repoRoot, "dist", "ketchctl-test-"));
  freshBundle = join(outdir, "ketchctl.js");
  const result = spawnSync(process.execPath, [join(repoRoot, "scripts", "bundle-ketchctl.mjs"), "--outdir", outdir], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`bundling ketchctl failed: ${result.stderr}`);
}

export function removeKetchctlBundle(): void {
  if (freshBundle !== undefined) rmSync(dirname(freshBundle), { recursive: true, force: true });
  freshBundle = undefined;
}

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("ETCD_") && !key.startsWith("ETCDCTL_")) env[key] = value;
  }
  return { ...env, ETCDCTL_API: "3", ...extra };
}

/** One run of etcdctl or ketchctl; never throws on a non-zero exit. */
export function runTool(tool: Tool, endpoints: readonly string[], args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const endpointArgs = opts.noEndpointsFlag === true ? [] : ["--endpoints", endpoints.join(",")];
  const [command, argv] =
    tool === "etcdctl" ? [etcdctlBinary, [...endpointArgs, ...args]] : [process.execPath, [ketchctlEntry(), ...endpointArgs, ...args]];
  return runProgram(command, argv, opts);
}

/** One run of any program with etcd's environment variables cleared; never throws on a non-zero exit. */
export function runProgram(command: string, argv: readonly string[], opts: Omit<RunOptions, "noEndpointsFlag"> = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { stdio: ["pipe", "pipe", "pipe"], env: cleanEnv(opts.env ?? {}) });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8") });
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(opts.input ?? "");
  });
}

/** stderr without clientv3's JSON log lines (etcdctl logs every internal retry). */
export function ownStderr(stderr: string): string {
  return stderr
    .split("\n")
    .filter((line) => !line.startsWith("{\"level\""))
    .join("\n");
}

/** A run as compared: exit code, stdout, and the Error lines of stderr. */
export function comparable(result: RunResult): { code: number; stdout: string; stderr: string } {
  return { code: result.code, stdout: result.stdout, stderr: ownStderr(result.stderr) };
}

/**
 * JSON keys whose values differ between two equivalent runs (which member answered, when, which
 * revision); their presence still counts, so omitempty shapes are compared.
 */
const volatileKeys = new Set([
  "cluster_id",
  "member_id",
  "revision",
  "raft_term",
  "create_revision",
  "mod_revision",
  "ID",
  "id",
  "leader",
  "raftIndex",
  "raftTerm",
  "raftAppliedIndex",
  "dbSize",
  "dbSizeInUse",
  "hash",
  "took",
  "ttl",
  "TTL",
  "lease",
  "memberID",
  "compact_revision",
  "CompactRevision",
]);

export function maskJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskJson);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = volatileKeys.has(key) ? "<masked>" : maskJson(item);
    return out;
  }
  return value;
}

/** Every JSON document of an output (one per line), masked. */
export function maskedJsonLines(stdout: string): unknown[] {
  return stdout
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => maskJson(parseJsonExact(line)));
}

/** -w fields output with the values of volatile fields masked. */
export function maskFields(stdout: string): string {
  return stdout.replace(
    /^"(ClusterID|MemberID|Revision|RaftTerm|CreateRevision|ModRevision|PrevCreateRevision|PrevModRevision|ID|TTL|Lease|PrevLease|Leader|RaftIndex|RaftAppliedIndex|DBSize|Hash|Took)" : .*$/gm,
    '"$1" : <masked>',
  );
}

/** Lease and member IDs in hex (16 digits or fewer) and durations in simple output. */
export function maskSimple(text: string): string {
  return text
    .replace(/Member\s+[0-9a-f]+ (added to|removed from|updated in|promoted in) cluster\s+[0-9a-f]+/g, "Member <id> $1 cluster <id>")
    .replace(/\b[0-9a-f]{16}\b/g, "<id>")
    .replace(/\b[0-9a-f]{12,15}\b/g, "<id>")
    .replace(/took = [0-9.]+[µm]?s/g, "took = <t>")
    .replace(/remaining\(\d+s\)/g, "remaining(<n>s)");
}
