// Runs ketchctl (the compiled dist/src/cmd/ketchctl.js) and the real etcdctl 3.4 the same way, and
// normalizes what legitimately differs between two runs (IDs, revisions, terms, timings) so that
// their outputs can be compared exactly.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

import { protoRootDir } from "../../src/util/proto-dir.js";
import { etcdctlBinary, parseJsonExact } from "../integration/cluster.js";

/** The compiled CLI; the repository root is proto/'s parent from the sources and from dist/ alike. */
export const ketchctlEntry = join(dirname(protoRootDir()), "dist", "src", "cmd", "ketchctl.js");

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

export function requireKetchctl(): void {
  if (!existsSync(ketchctlEntry)) throw new Error(`${ketchctlEntry} is missing: build first with \`npx tsc -p tsconfig.json\``);
  if (!existsSync(etcdctlBinary)) throw new Error(`${etcdctlBinary} is missing: apt-get install -y etcd-client`);
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
    tool === "etcdctl" ? [etcdctlBinary, [...endpointArgs, ...args]] : [process.execPath, [ketchctlEntry, ...endpointArgs, ...args]];
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
