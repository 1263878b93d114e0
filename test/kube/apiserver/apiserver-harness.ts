// e2e harness for ketch-apiserver: a real 3-member store (etcd 3.4 or ketch, test/integration
// cluster.ts), N real ketch-apiserver processes on it, and the real kubectl with a fresh cache dir
// per run. Missing binaries fail the tests (never skip them).

import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, closeSync, existsSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, beforeEach } from "vitest";

import { freePorts } from "../../api/free-port.js";
import { repoRoot, sleep, startCluster, type Cluster, type Impl } from "../../integration/cluster.js";

export const apiserverEntry = join(repoRoot, "dist", "src", "cmd", "ketch-apiserver.js");
/** /usr/bin/kubectl is google-cloud-sdk's dispatcher: it runs kubectl.1.XX matching the server's minor. */
export const kubectlBinary = process.env.KETCH_KUBECTL ?? "/usr/bin/kubectl";
export const versionedKubectlDir = "/usr/lib/google-cloud-sdk/bin";

const host = "127.0.0.1";
const liveChildren = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of liveChildren) child.kill("SIGKILL");
});

export function requireKubectl(binary = kubectlBinary): void {
  if (!existsSync(binary)) throw new Error(`${binary} is missing: the apiserver e2e tests drive the server with the real kubectl`);
}

export function requireApiserverBuild(): void {
  if (!existsSync(apiserverEntry)) throw new Error(`${apiserverEntry} is missing: build first with \`npx tsc -p tsconfig.json\``);
}

/** One ketch-apiserver process. */
export class ApiServerProcess {
  private child: ChildProcess | undefined;
  readonly url: string;
  readonly logPath: string;

  constructor(
    readonly name: string,
    readonly port: number,
    readonly flags: readonly string[],
    dir: string,
  ) {
    this.url = `http://${host}:${port}`;
    this.logPath = join(dir, `${name}.log`);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    appendFileSync(this.logPath, `=== harness: start ${new Date().toISOString()}\n`);
    const fd = openSync(this.logPath, "a");
    try {
      this.child = spawn(process.execPath, [apiserverEntry, ...this.flags], { cwd: repoRoot, stdio: ["ignore", fd, fd] });
    } finally {
      closeSync(fd);
    }
    const child = this.child;
    liveChildren.add(child);
    child.once("exit", () => liveChildren.delete(child));
  }

  /** Waits until /readyz answers 200 (store reachable, system namespaces created). */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      if (this.child?.exitCode !== null && this.child?.exitCode !== undefined) {
        throw new Error(`apiserver ${this.name} exited with ${this.child.exitCode}:\n${this.logTail()}`);
      }
      try {
        const res = await fetch(`${this.url}/readyz`);
        last = `${res.status} ${await res.text()}`;
        if (res.status === 200) return;
      } catch (error) {
        last = String(error);
      }
      await sleep(200);
    }
    throw new Error(`apiserver ${this.name} not ready within ${timeoutMs} ms (last: ${last}):\n${this.logTail()}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGKILL");
    await exited;
  }

  logTail(bytes = 4000): string {
    if (!existsSync(this.logPath)) return "(no log)";
    const text = readFileSync(this.logPath, "utf8");
    return text.length > bytes ? `…${text.slice(-bytes)}` : text;
  }
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program to completion with `input` on its stdin (default: none), killing it after
 * `timeoutMs`; never throws on a non-zero exit. Used for kubectl and etcdctl in the e2e tests.
 */
export function runCommand(
  binary: string,
  args: readonly string[],
  opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ["pipe", "pipe", "pipe"], env: opts.env ?? process.env });
    liveChildren.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr?.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
    child.once("error", (error) => {
      clearTimeout(timer);
      liveChildren.delete(child);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      liveChildren.delete(child);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(opts.input ?? "");
  });
}

export interface KubectlOptions {
  /** Which apiserver (index); default 0. */
  server?: number;
  input?: string;
  timeoutMs?: number;
  binary?: string;
  /** Extra environment (e.g. KUBE_EDITOR). */
  env?: Record<string, string>;
}

/** A running kubectl (for -w). */
export class KubectlProcess {
  private out = "";
  private err = "";
  readonly exited: Promise<number>;
  constructor(private readonly child: ChildProcess) {
    child.stdout?.on("data", (c: Buffer) => (this.out += c.toString("utf8")));
    child.stderr?.on("data", (c: Buffer) => (this.err += c.toString("utf8")));
    this.exited = new Promise((resolve) => child.once("close", (code) => resolve(code ?? -1)));
  }
  get stdout(): string {
    return this.out;
  }
  get stderr(): string {
    return this.err;
  }
  async waitFor(what: string, predicate: (stdout: string) => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.out)) {
      if (Date.now() > deadline) throw new Error(`kubectl: ${what} not seen within ${timeoutMs} ms; stdout:\n${this.out}\nstderr:\n${this.err}`);
      await sleep(100);
    }
  }
  async stop(): Promise<void> {
    if (this.child.exitCode === null) this.child.kill("SIGTERM");
    await this.exited;
  }
}

export class ApiCluster {
  private cacheCounter = 0;
  private failed = false;

  constructor(
    readonly store: Cluster,
    readonly apiservers: ApiServerProcess[],
    readonly dir: string,
    private readonly kubeconfig: string,
  ) {}

  url(server = 0): string {
    return (this.apiservers[server] as ApiServerProcess).url;
  }

  private kubectlArgs(args: readonly string[], opts: KubectlOptions): { binary: string; argv: string[]; env: NodeJS.ProcessEnv } {
    const binary = opts.binary ?? kubectlBinary;
    // A fresh discovery cache per run (kubectl caches discovery for 10 minutes).
    const cacheDir = join(this.dir, `kubectl-cache-${++this.cacheCounter}`);
    const argv = ["--server", this.url(opts.server ?? 0), "--cache-dir", cacheDir, ...args];
    const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: this.kubeconfig, ...(opts.env ?? {}) };
    return { binary, argv, env };
  }

  /** Runs kubectl to completion; never throws on a non-zero exit. */
  kubectl(args: readonly string[], opts: KubectlOptions = {}): Promise<KubectlResult> {
    const { binary, argv, env } = this.kubectlArgs(args, opts);
    return runCommand(binary, argv, { env, ...(opts.input === undefined ? {} : { input: opts.input }), timeoutMs: opts.timeoutMs ?? 60_000 });
  }

  /** kubectl that must succeed; returns stdout. */
  async kubectlOk(args: readonly string[], opts: KubectlOptions = {}): Promise<string> {
    const result = await this.kubectl(args, opts);
    if (result.code !== 0) throw new Error(`kubectl ${args.join(" ")} → exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
    return result.stdout;
  }

  /** A kubectl that keeps running (get -w). */
  spawnKubectl(args: readonly string[], opts: KubectlOptions = {}): KubectlProcess {
    const { binary, argv, env } = this.kubectlArgs(args, opts);
    const child = spawn(binary, argv, { stdio: ["ignore", "pipe", "pipe"], env });
    liveChildren.add(child);
    child.once("exit", () => liveChildren.delete(child));
    return new KubectlProcess(child);
  }

  /** A JSON request to one apiserver. */
  async request(method: string, path: string, opts: { server?: number; body?: unknown; contentType?: string; accept?: string } = {}): Promise<{ status: number; body: any; text: string; headers: Headers }> {
    const headers: Record<string, string> = {};
    if (opts.body !== undefined) headers["Content-Type"] = opts.contentType ?? "application/json";
    if (opts.accept !== undefined) headers.Accept = opts.accept;
    const res = await fetch(`${this.url(opts.server ?? 0)}${path}`, {
      method,
      headers,
      body: opts.body === undefined ? undefined : typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body),
    });
    const text = await res.text();
    let body: unknown = undefined;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: res.status, body, text, headers: res.headers };
  }

  markFailed(): void {
    this.failed = true;
    this.store.markFailed();
  }

  async destroy(): Promise<void> {
    await Promise.all(this.apiservers.map((a) => a.stop().catch(() => a.kill())));
    if (this.failed) {
      const keep = await mkdtemp(join(tmpdir(), "ketch-apiserver-logs-"));
      for (const a of this.apiservers) {
        if (existsSync(a.logPath)) writeFileSync(join(keep, `${a.name}.log`), readFileSync(a.logPath));
      }
      console.error(`[apiserver e2e] logs kept in ${keep}`);
    }
    await this.store.destroy();
    await rm(this.dir, { recursive: true, force: true });
  }
}

export interface ApiClusterOptions {
  /** Apiserver replicas; default 2. */
  replicas?: number;
  /** Store members; default 3. */
  members?: number;
  /** Extra ketch-apiserver flags. */
  flags?: readonly string[];
}

export async function startApiCluster(impl: Impl, opts: ApiClusterOptions = {}): Promise<ApiCluster> {
  requireApiserverBuild();
  const store = await startCluster(impl, opts.members ?? 3);
  const dir = await mkdtemp(join(tmpdir(), `ketch-apiserver-e2e-${impl}-`));
  const kubeconfig = join(dir, "kubeconfig");
  writeFileSync(kubeconfig, "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n");
  const replicas = opts.replicas ?? 2;
  const ports = await freePorts(replicas, host);
  const apiservers = ports.map(
    (port, i) =>
      new ApiServerProcess(
        `apiserver-${i + 1}`,
        port,
        [
          "--etcd-servers", store.endpoints.join(","),
          "--bind-address", host,
          "--port", String(port),
          "--watch-bookmark-interval", "1s",
          "--log-level", "info",
          ...(opts.flags ?? []),
        ],
        dir,
      ),
  );
  const cluster = new ApiCluster(store, apiservers, dir, kubeconfig);
  try {
    await Promise.all(apiservers.map((a) => a.start()));
    await Promise.all(apiservers.map((a) => a.waitReady()));
    return cluster;
  } catch (error) {
    cluster.markFailed();
    await cluster.destroy();
    throw error;
  }
}

/** Per-describe fixture: a store cluster of `impl` and the apiservers on it. */
export function useApiCluster(impl: Impl, opts: ApiClusterOptions = {}): () => ApiCluster {
  let cluster: ApiCluster | undefined;
  let startupError: unknown;
  beforeAll(async () => {
    try {
      requireKubectl();
      cluster = await startApiCluster(impl, opts);
    } catch (error) {
      startupError = error ?? new Error("apiserver cluster failed to start");
    }
  }, 120_000);
  beforeEach(({ onTestFailed }) => {
    if (startupError !== undefined) throw startupError;
    onTestFailed(() => cluster?.markFailed());
  });
  afterAll(async () => {
    await cluster?.destroy();
  }, 60_000);
  return () => {
    if (cluster === undefined) throw new Error("apiserver cluster not started");
    return cluster;
  };
}
