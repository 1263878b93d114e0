// Starts N-member clusters of real etcd 3.4 or of ketch with the SAME etcd flags on free loopback
// ports, and drives them with the real etcdctl 3.4. The integration tests run every assertion
// against both implementations, so they prove compatibility rather than our reading of etcd.

import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, closeSync, existsSync, openSync, readFileSync, statSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { withKetchProcessEnv } from "../../src/util/ketch-process-env.js";
import { freePorts } from "../api/free-port.js";

export type Impl = "etcd" | "ketch";

/** Debian package etcd-server (3.4.23 on the dev image). */
export const etcdBinary = "/usr/bin/etcd";
/** Debian package etcd-client (3.4.23 on the dev image). */
export const etcdctlBinary = "/usr/bin/etcdctl";
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The compiled ketch server; `npm run build` writes it. KETCH_ENTRY points elsewhere (another build). */
export const ketchEntry = process.env.KETCH_ENTRY ?? join(repoRoot, "dist", "src", "cmd", "ketch.js");

const installHint = "Install them with: apt-get update && apt-get install -y etcd-server etcd-client";
const host = "127.0.0.1";
const logFileName = "member-output.log";
const logTailBytes = 6000;

/** `KETCH_IMPLS=etcd,ketch` → ["etcd", "ketch"]; an unknown name is an error, never ignored. */
export function parseImpls(value: string): Impl[] {
  const impls = value
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  for (const name of impls) {
    if (name !== "etcd" && name !== "ketch") {
      throw new Error(`KETCH_IMPLS: unknown implementation "${name}" (expected etcd and/or ketch)`);
    }
  }
  if (impls.length === 0) throw new Error("KETCH_IMPLS names no implementation");
  return impls as Impl[];
}

/** Throws (so tests FAIL, never skip) when a program the cluster needs is missing. */
export function requirePrerequisites(impl: Impl): void {
  if (!existsSync(etcdctlBinary)) {
    throw new Error(`${etcdctlBinary} is missing: the integration tests drive clusters with the real etcdctl 3.4. ${installHint}`);
  }
  if (impl === "etcd" && !existsSync(etcdBinary)) {
    throw new Error(`${etcdBinary} is missing: the integration tests compare against a real etcd 3.4 server. ${installHint}`);
  }
  if (impl === "ketch" && !existsSync(ketchEntry)) {
    throw new Error(`${ketchEntry} is missing: build the server first with \`npm run build\``);
  }
}

/** The environment without ETCD_* / ETCDCTL_* variables, which would override our flags. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("ETCD_") && !key.startsWith("ETCDCTL_")) env[key] = value;
  }
  return { ...env, ...extra };
}

// ---- etcdctl -w json: uint64 IDs do not fit a JS number, so every integer becomes a string.

/**
 * JSON.parse, except that every integer literal outside a string is returned as its decimal
 * string: etcdctl prints uint64 member/cluster IDs and int64 revisions as bare numbers, and
 * IDs above 2^53 would silently lose digits. Use `int()` and `hexId()` to read them.
 */
export function parseJsonExact(text: string): unknown {
  let out = "";
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (inString) {
      out += ch;
      if (ch === "\\") {
        out += text[i + 1] ?? "";
        i++;
      } else if (ch === '"') {
        inString = false;
      }
      continue;
    }
    if (ch === '"') {
      inString = true;
      out += ch;
      continue;
    }
    if (ch === "-" || (ch >= "0" && ch <= "9")) {
      let end = i + 1;
      while (end < text.length && /[0-9.eE+-]/.test(text[end] as string)) end++;
      const literal = text.slice(i, end);
      out += /^-?\d+$/.test(literal) ? `"${literal}"` : literal;
      i = end - 1;
      continue;
    }
    out += ch;
  }
  return JSON.parse(out) as unknown;
}

/** A decimal integer string from parseJsonExact as a number; it must be a safe integer. */
export function int(value: unknown): number {
  if (typeof value !== "string" || !/^-?\d+$/.test(value)) {
    throw new Error(`expected an integer from etcdctl JSON, got ${JSON.stringify(value)}`);
  }
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`integer ${value} is not a safe JS number`);
  return n;
}

/** A uint64 ID (decimal string from parseJsonExact) in etcdctl's hex form (`%x`, no padding). */
export function hexId(value: unknown): string {
  if (typeof value !== "string" || !/^\d+$/.test(value)) {
    throw new Error(`expected a uint64 ID from etcdctl JSON, got ${JSON.stringify(value)}`);
  }
  return BigInt(value).toString(16);
}

// ---- etcdctl

export interface EtcdctlResult {
  /** Exit code; -1 when the harness killed it after timeoutMs. */
  code: number;
  stdout: string;
  stderr: string;
}

export interface EtcdctlOptions {
  /** Endpoints for --endpoints; default: the client URLs of every running member. */
  endpoints?: readonly string[];
  /** Bytes written to etcdctl's stdin (txn reads its script there, `put KEY` its value). */
  input?: string | Buffer;
  /** A file connected to etcdctl's stdin (for large values). */
  inputFile?: string;
  /** Hard limit on the whole run, after which etcdctl is SIGKILLed; default 30 s. */
  timeoutMs?: number;
}

/** Runs the real etcdctl 3.4 with ETCDCTL_API=3. Never throws on a non-zero exit. */
export function runEtcdctl(endpoints: readonly string[], args: readonly string[], opts: EtcdctlOptions = {}): Promise<EtcdctlResult> {
  return new Promise((resolve, reject) => {
    const stdinFd = opts.inputFile !== undefined ? openSync(opts.inputFile, "r") : undefined;
    const child = spawn(etcdctlBinary, ["--endpoints", endpoints.join(","), ...args], {
      stdio: [stdinFd ?? "pipe", "pipe", "pipe"],
      env: cleanEnv({ ETCDCTL_API: "3" }),
    });
    if (stdinFd !== undefined) closeSync(stdinFd);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs ?? 30_000);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      const err = Buffer.concat(stderr).toString("utf8");
      resolve({
        code: timedOut ? -1 : (code ?? -1),
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: timedOut ? `${err}\n(etcdctl killed by the harness after ${opts.timeoutMs ?? 30_000} ms)` : err,
      });
    });
    if (child.stdin !== null) {
      child.stdin.on("error", () => undefined); // etcdctl may exit before reading all of it
      child.stdin.end(opts.input ?? "");
    }
  });
}

/**
 * An etcdctl run for failure messages. Of clientv3's JSON log lines (one per internal retry)
 * only the last is kept; etcdctl's own lines ("Error: ...") are all kept.
 */
export function describeRun(args: readonly string[], result: EtcdctlResult): string {
  const lines = result.stderr.split("\n").filter((line) => line !== "");
  const lastLog = lines.filter((line) => line.startsWith("{")).at(-1);
  const own = lines.filter((line) => !line.startsWith("{"));
  const stderr = [...(lastLog === undefined ? [] : [lastLog]), ...own].join("\n");
  return `etcdctl ${args.join(" ")} → exit ${result.code}\nstdout: ${result.stdout.slice(0, 2000)}\nstderr: ${stderr.slice(-3000)}`;
}

// ---- members

export interface MemberExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const liveChildren = new Set<ChildProcess>();
process.once("exit", () => {
  // Last resort if a test process dies without afterAll: never leave servers behind.
  for (const child of liveChildren) child.kill("SIGKILL");
});

/** One server process with fixed flags; it can be killed, stopped and started again. */
export class Member {
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly logPath: string;
  private child: ChildProcess | undefined;
  private exited: Promise<MemberExit> | undefined;
  /** How the last process ended (undefined while it runs or before the first start). */
  lastExit: MemberExit | undefined;
  /** Set when the harness meant to end the process, so an unexpected exit can be reported. */
  private stopping = false;

  constructor(
    readonly impl: Impl,
    readonly name: string,
    clientPort: number,
    peerPort: number,
    readonly dataDir: string,
    /** The full flag list, reused unchanged by restart(). */
    readonly flags: readonly string[],
  ) {
    this.clientUrl = `http://${host}:${clientPort}`;
    this.peerUrl = `http://${host}:${peerPort}`;
    this.logPath = join(dataDir, logFileName);
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Spawns the process; its stdout and stderr are appended to logPath. */
  async start(): Promise<void> {
    if (this.child !== undefined) throw new Error(`member ${this.name} is already running`);
    await mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    const [command, args] =
      this.impl === "etcd" ? [etcdBinary, [...this.flags]] : [process.execPath, [ketchEntry, ...this.flags]];
    appendFileSync(this.logPath, `\n=== harness: start ${new Date().toISOString()}: ${command} ${args.join(" ")}\n`);
    const logFd = openSync(this.logPath, "a");
    let child: ChildProcess;
    try {
      // ketch starts as its launchers start it, with its malloc settings and V8 pool size (src/util/ketch-process-env.ts).
      const env = this.impl === "ketch" ? withKetchProcessEnv(cleanEnv()) : cleanEnv();
      child = spawn(command, args, { cwd: repoRoot, stdio: ["ignore", logFd, logFd], env });
    } finally {
      closeSync(logFd);
    }
    this.child = child;
    this.stopping = false;
    this.lastExit = undefined;
    liveChildren.add(child);
    this.exited = new Promise<MemberExit>((resolve) => {
      child.once("exit", (code, signal) => {
        liveChildren.delete(child);
        const exit = { code, signal };
        if (this.child === child) {
          this.child = undefined;
          this.lastExit = exit;
        }
        appendFileSync(this.logPath, `=== harness: exit code=${String(code)} signal=${String(signal)}${this.stopping ? "" : " (not requested)"}\n`);
        resolve(exit);
      });
    });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", () => resolve());
      child.once("error", (error) => reject(new Error(`cannot start ${command} for member ${this.name}: ${error.message}`)));
    });
  }

  /** SIGKILL, then wait for the process to be gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || this.exited === undefined) return;
    this.stopping = true;
    child.kill("SIGKILL");
    await this.exited;
  }

  /**
   * SIGTERM and wait for a clean exit. A server that is still running after timeoutMs is
   * SIGKILLed and the call throws: both etcd and ketch must shut down on SIGTERM.
   */
  async stop(timeoutMs = 20_000): Promise<MemberExit> {
    const child = this.child;
    const exited = this.exited;
    if (child === undefined || exited === undefined) {
      return this.lastExit ?? { code: null, signal: null };
    }
    this.stopping = true;
    child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const outcome = await Promise.race([exited, timedOut]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      child.kill("SIGKILL");
      await exited;
      throw new Error(`member ${this.name} did not exit within ${timeoutMs} ms of SIGTERM; log: ${this.logPath}\n${this.logTail()}`);
    }
    return outcome;
  }

  /** Same flags, same data dir; the server is expected to recover from what it finds there. */
  async restart(): Promise<void> {
    if (this.running) await this.stop();
    await this.start();
  }

  /** Resolves with the exit of the current process, or rejects after timeoutMs. */
  async waitExit(timeoutMs: number): Promise<MemberExit> {
    if (this.exited === undefined) throw new Error(`member ${this.name} was never started`);
    if (this.child === undefined) return this.lastExit ?? (await this.exited);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`member ${this.name} still running after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The end of the member's log, for failure messages. */
  logTail(bytes = logTailBytes): string {
    if (!existsSync(this.logPath)) return "(no log file)";
    const size = statSync(this.logPath).size;
    const text = readFileSync(this.logPath, "utf8");
    return size > bytes ? `…${text.slice(-bytes)}` : text;
  }
}

// ---- clusters

export interface ClusterOptions {
  /** --snapshot-count, when a test needs log compaction to happen. */
  snapshotCount?: number;
  /** --max-request-bytes (etcd's default 1.5 MiB when absent). */
  maxRequestBytes?: number;
  /** --quota-backend-bytes (etcd's default 2 GiB when absent). */
  quotaBackendBytes?: number;
  /** Member names are `${namePrefix}1..n`; default "m". */
  namePrefix?: string;
  /** Wait for `endpoint health` on all members before returning; default true. */
  waitHealthy?: boolean;
  /** Limit for that wait; default 30 s. */
  healthyTimeoutMs?: number;
  /** More etcd flags, the same for both implementations (e.g. --experimental-watch-progress-notify-interval). */
  extraFlags?: readonly string[];
}

export interface EndpointStatus {
  endpoint: string;
  clusterId: string;
  /** Hex, as etcdctl prints member IDs. */
  memberId: string;
  /** Hex; "0" when the member knows no leader. */
  leader: string;
  revision: number;
  raftTerm: number;
  raftIndex: number;
  raftAppliedIndex: number;
  dbSize: number;
  version: string;
}

export interface MemberInfo {
  /** Hex, as etcdctl prints member IDs. */
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

interface StatusJson {
  Endpoint: string;
  Status: {
    // etcdctl's JSON omits zero-valued fields.
    header: { cluster_id: string; member_id: string; revision?: string; raft_term?: string };
    version: string;
    dbSize?: string;
    leader?: string;
    raftIndex?: string;
    raftTerm?: string;
    raftAppliedIndex?: string;
  };
}

interface MemberListJson {
  header: { cluster_id: string };
  members: { ID: string; name?: string; peerURLs?: string[]; clientURLs?: string[]; isLearner?: boolean }[];
}

const allClusters = new Set<Cluster>();
let clusterCounter = 0;

export class Cluster {
  /** Current members (removed ones are dropped; killed or stopped ones stay). */
  readonly members: Member[] = [];
  /** Every member ever started, for cleanup and failure logs. */
  private readonly everyMember: Member[] = [];
  private failed = false;
  private destroyed = false;

  constructor(
    readonly impl: Impl,
    readonly rootDir: string,
    readonly token: string,
    private readonly extraFlags: readonly string[],
  ) {
    allClusters.add(this);
  }

  /** Client URLs of all current members, running or not. */
  get endpoints(): string[] {
    return this.members.map((member) => member.clientUrl);
  }

  /** Client URLs of the current members that are running. */
  get runningEndpoints(): string[] {
    return this.members.filter((member) => member.running).map((member) => member.clientUrl);
  }

  member(name: string): Member {
    const member = this.members.find((candidate) => candidate.name === name);
    if (member === undefined) throw new Error(`no member named ${name}`);
    return member;
  }

  /** The etcd flags for one member: identical for both implementations. */
  flagsFor(name: string, clientUrl: string, peerUrl: string, initialCluster: string, state: "new" | "existing", dataDir: string): string[] {
    return [
      "--name", name,
      "--data-dir", dataDir,
      "--listen-client-urls", clientUrl,
      "--advertise-client-urls", clientUrl,
      "--listen-peer-urls", peerUrl,
      "--initial-advertise-peer-urls", peerUrl,
      "--initial-cluster", initialCluster,
      "--initial-cluster-state", state,
      "--initial-cluster-token", this.token,
      ...this.extraFlags,
    ];
  }

  /** Creates (but does not start) a member on fresh ports. */
  async newMember(
    name: string,
    initialCluster: (peerUrl: string) => string,
    state: "new" | "existing",
    ports?: readonly [number, number],
  ): Promise<Member> {
    const [clientPort, peerPort] = ports ?? (await freePorts(2, host));
    if (clientPort === undefined || peerPort === undefined) throw new Error("freePorts returned too few ports");
    const dataDir = join(this.rootDir, name);
    const clientUrl = `http://${host}:${clientPort}`;
    const peerUrl = `http://${host}:${peerPort}`;
    const flags = this.flagsFor(name, clientUrl, peerUrl, initialCluster(peerUrl), state, dataDir);
    const member = new Member(this.impl, name, clientPort, peerPort, dataDir, flags);
    this.members.push(member);
    this.everyMember.push(member);
    return member;
  }

  /** Real etcdctl against `opts.endpoints` (default: every running member). Never throws on exit codes. */
  etcdctl(args: readonly string[], opts: EtcdctlOptions = {}): Promise<EtcdctlResult> {
    const endpoints = opts.endpoints ?? this.runningEndpoints;
    if (endpoints.length === 0) throw new Error("etcdctl: no running member to talk to");
    return runEtcdctl(endpoints, args, opts);
  }

  /** etcdctl with `-w json`, exit 0 required; integers come back as decimal strings. */
  async etcdctlJson(args: readonly string[], opts: EtcdctlOptions = {}): Promise<unknown> {
    const full = [...args, "-w", "json"];
    const result = await this.etcdctl(full, opts);
    if (result.code !== 0) throw new Error(describeRun(full, result));
    return parseJsonExact(result.stdout);
  }

  /** `endpoint status -w json` for the given endpoints (default: running members). */
  async status(endpoints?: readonly string[]): Promise<EndpointStatus[]> {
    const parsed = (await this.etcdctlJson(["endpoint", "status"], endpoints === undefined ? {} : { endpoints })) as StatusJson[];
    return parsed.map((entry) => ({
      endpoint: entry.Endpoint,
      clusterId: hexId(entry.Status.header.cluster_id),
      memberId: hexId(entry.Status.header.member_id),
      leader: hexId(entry.Status.leader ?? "0"),
      revision: int(entry.Status.header.revision ?? "0"),
      raftTerm: int(entry.Status.raftTerm ?? "0"),
      raftIndex: int(entry.Status.raftIndex ?? "0"),
      raftAppliedIndex: int(entry.Status.raftAppliedIndex ?? "0"),
      dbSize: int(entry.Status.dbSize ?? "0"),
      version: entry.Status.version,
    }));
  }

  /** `member list -w json`, IDs in hex. */
  async memberList(endpoints?: readonly string[]): Promise<{ clusterId: string; members: MemberInfo[] }> {
    const parsed = (await this.etcdctlJson(["member", "list"], endpoints === undefined ? {} : { endpoints })) as MemberListJson;
    return {
      clusterId: hexId(parsed.header.cluster_id),
      members: parsed.members.map((member) => ({
        id: hexId(member.ID),
        name: member.name ?? "",
        peerURLs: member.peerURLs ?? [],
        clientURLs: member.clientURLs ?? [],
        isLearner: member.isLearner ?? false,
      })),
    };
  }

  /** The member's ID (hex) as the cluster reports it, matched by peer URL. */
  async memberId(member: Member): Promise<string> {
    const { members } = await this.memberList();
    const info = members.find((candidate) => candidate.peerURLs.includes(member.peerUrl));
    if (info === undefined) throw new Error(`member ${member.name} (${member.peerUrl}) is not in the member list`);
    return info.id;
  }

  /**
   * The leader, once every running member reports the same one and it is a running member
   * whose own status says member_id == leader. Polls `endpoint status -w json`.
   */
  async leader(timeoutMs = 15_000): Promise<{ member: Member; id: string; term: number }> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    for (;;) {
      try {
        const statuses = await this.status();
        const leaders = new Set(statuses.map((status) => status.leader));
        const [leaderId] = leaders;
        const self = statuses.find((status) => status.memberId === leaderId);
        if (statuses.length === this.runningEndpoints.length && leaders.size === 1 && leaderId !== "0" && self !== undefined) {
          const member = this.members.find((candidate) => candidate.clientUrl === self.endpoint);
          if (member !== undefined) return { member, id: self.memberId, term: self.raftTerm };
        }
        last = JSON.stringify(statuses);
      } catch (error) {
        last = String(error);
      }
      if (Date.now() > deadline) throw new Error(`no agreed leader within ${timeoutMs} ms; last: ${last}`);
      await sleep(200);
    }
  }

  /**
   * Waits until `etcdctl endpoint health` passes on every running member (a linearizable read
   * through each of them). Fails fast, with the log, when a member process exits meanwhile.
   */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const expected = this.members.filter((member) => member.running);
    let last: EtcdctlResult | undefined;
    for (;;) {
      const dead = expected.find((member) => !member.running);
      if (dead !== undefined) {
        throw new Error(`member ${dead.name} exited (${JSON.stringify(dead.lastExit)}) while waiting for health; log: ${dead.logPath}\n${dead.logTail()}`);
      }
      last = await this.etcdctl(["endpoint", "health"], { endpoints: expected.map((member) => member.clientUrl), timeoutMs: 15_000 });
      if (last.code === 0) return;
      if (Date.now() > deadline) {
        const logs = expected.map((member) => `--- ${member.name}: ${member.logPath}\n${member.logTail(2000)}`).join("\n");
        throw new Error(`cluster not healthy within ${timeoutMs} ms: ${describeRun(["endpoint", "health"], last)}\n${logs}`);
      }
      await sleep(300);
    }
  }

  /**
   * `etcdctl member add NAME --peer-urls=URL`, then starts the new member with
   * `--initial-cluster-state existing` and the current members in --initial-cluster.
   * Returns etcdctl's output too, so tests can check it. Does not wait for health.
   * With `start: false` the caller starts it (to look at the cluster in between).
   */
  async addMember(name: string, opts: { start?: boolean } = {}): Promise<{ member: Member; added: EtcdctlResult }> {
    const others = this.members.map((member) => `${member.name}=${member.peerUrl}`);
    const member = await this.newMember(name, (peerUrl) => [...others, `${name}=${peerUrl}`].join(","), "existing");
    const args = ["member", "add", name, `--peer-urls=${member.peerUrl}`];
    // etcd refuses reconfiguration with "etcdserver: unhealthy cluster" until the serving member
    // has been connected to a quorum for 5 s (strict reconfig check), e.g. right after startup.
    // That check runs before anything is proposed, so retrying cannot add the member twice.
    const deadline = Date.now() + 20_000;
    let added = await this.etcdctl(args);
    while (added.code !== 0 && added.stderr.includes("etcdserver: unhealthy cluster") && Date.now() < deadline) {
      await sleep(500);
      added = await this.etcdctl(args);
    }
    if (added.code !== 0) {
      this.members.splice(this.members.indexOf(member), 1);
      throw new Error(describeRun(args, added));
    }
    if (opts.start ?? true) await member.start();
    return { member, added };
  }

  /** `etcdctl member remove ID`; on success the member is dropped from `members` (its process is left alone). */
  async removeMember(member: Member, id: string): Promise<EtcdctlResult> {
    const result = await this.etcdctl(["member", "remove", id], {
      endpoints: this.members.filter((candidate) => candidate !== member && candidate.running).map((candidate) => candidate.clientUrl),
    });
    if (result.code === 0) this.members.splice(this.members.indexOf(member), 1);
    return result;
  }

  /** Keep the logs of this cluster when it is destroyed (call it when a test fails). */
  markFailed(): void {
    this.failed = true;
  }

  /** SIGKILLs every process and removes the temp dirs; after a failure, the logs are copied out first. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    allClusters.delete(this);
    await Promise.all(this.everyMember.map((member) => member.kill()));
    if (this.failed) {
      const keepDir = await mkdtemp(join(tmpdir(), `ketch-it-logs-${this.impl}-`));
      for (const member of this.everyMember) {
        if (existsSync(member.logPath)) await copyFile(member.logPath, join(keepDir, `${member.name}.log`));
      }
      console.error(`[integration] ${this.impl} cluster failed; member logs kept in ${keepDir}`);
    }
    await rm(this.rootDir, { recursive: true, force: true });
  }
}

/**
 * Starts an n-member cluster of `impl` with `--initial-cluster-state new` and waits until every
 * member passes `etcdctl endpoint health`. On failure everything is torn down, the logs are kept
 * and the error names them.
 */
export async function startCluster(impl: Impl, n: number, opts: ClusterOptions = {}): Promise<Cluster> {
  requirePrerequisites(impl);
  const extraFlags: string[] = [];
  if (opts.snapshotCount !== undefined) extraFlags.push("--snapshot-count", String(opts.snapshotCount));
  if (opts.maxRequestBytes !== undefined) extraFlags.push("--max-request-bytes", String(opts.maxRequestBytes));
  if (opts.quotaBackendBytes !== undefined) extraFlags.push("--quota-backend-bytes", String(opts.quotaBackendBytes));
  if (opts.extraFlags !== undefined) extraFlags.push(...opts.extraFlags);
  const rootDir = await mkdtemp(join(tmpdir(), `ketch-it-${impl}-`));
  clusterCounter++;
  const token = `ketch-it-${process.pid}-${clusterCounter}`;
  const cluster = new Cluster(impl, rootDir, token, extraFlags);
  try {
    const names = Array.from({ length: n }, (_unused, i) => `${opts.namePrefix ?? "m"}${i + 1}`);
    const ports = await freePorts(2 * n, host);
    const peerUrls = names.map((_name, i) => `http://${host}:${ports[2 * i + 1]}`);
    const initialCluster = names.map((name, i) => `${name}=${peerUrls[i]}`).join(",");
    for (const [i, name] of names.entries()) {
      const clientPort = ports[2 * i];
      const peerPort = ports[2 * i + 1];
      if (clientPort === undefined || peerPort === undefined) throw new Error("freePorts returned too few ports");
      await cluster.newMember(name, () => initialCluster, "new", [clientPort, peerPort]);
    }
    await Promise.all(cluster.members.map((member) => member.start()));
    if (opts.waitHealthy ?? true) await cluster.waitHealthy(opts.healthyTimeoutMs ?? 30_000);
    return cluster;
  } catch (error) {
    cluster.markFailed();
    await cluster.destroy();
    throw error;
  }
}

/** Destroys every cluster still alive (for an afterAll that must not miss one). */
export async function destroyAllClusters(): Promise<void> {
  await Promise.all([...allClusters].map((cluster) => cluster.destroy()));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Calls `attempt` until it returns a value other than undefined, or throws after timeoutMs with
 * the last reason. For waiting on eventual states (elections, catch-up), never for asserting speed.
 */
export async function eventually<T>(what: string, timeoutMs: number, attempt: () => Promise<T | undefined>, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastReason = "";
  for (;;) {
    try {
      const value = await attempt();
      if (value !== undefined) return value;
      lastReason = "not yet";
    } catch (error) {
      lastReason = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms; last: ${lastReason}`);
    await sleep(intervalMs);
  }
}
