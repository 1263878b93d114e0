// e2e harness for the control plane: a real 3-member ketch store and real ketch-apiservers (the
// apiserver harness), plus real ketch-scheduler, ketch-controller-manager and ketch-kubelet
// processes pointed at every apiserver with --master. Processes can be killed (SIGKILL),
// stopped (SIGTERM), paused and resumed (SIGSTOP/SIGCONT). Missing builds fail the tests.

import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { freePorts } from '../api/free-port.js';
import { repoRoot, sleep } from '../integration/cluster.js';
import { requireKubectl, startApiCluster, type ApiCluster } from './apiserver/apiserver-harness.js';

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export type ComponentKind = 'scheduler' | 'controller-manager' | 'kubelet';

export function componentEntry(kind: ComponentKind): string {
  return join(repoRoot, 'dist', 'src', 'cmd', `ketch-${kind}.js`);
}

export class ComponentProcess {
  private child: ChildProcess | undefined;
  readonly logPath: string;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  /** Where it serves /metrics (ControlPlaneOptions.metrics). */
  readonly metricsUrl: string | undefined;

  constructor(
    readonly name: string,
    readonly kind: ComponentKind,
    readonly args: readonly string[],
    dir: string,
  ) {
    this.logPath = join(dir, `${name}.log`);
    const at = args.indexOf('--metrics-bind-address');
    this.metricsUrl = at >= 0 ? `http://${args[at + 1] ?? ''}` : undefined;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    const entry = componentEntry(this.kind);
    if (!existsSync(entry)) throw new Error(`${entry} is missing: build first with \`npx tsc -p tsconfig.json\``);
    appendFileSync(this.logPath, `=== harness: start ${new Date().toISOString()}\n`);
    const fd = openSync(this.logPath, 'a');
    try {
      this.child = spawn(process.execPath, [entry, ...this.args], { cwd: repoRoot, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    const child = this.child;
    live.add(child);
    this.exitCode = null;
    this.exitSignal = null;
    child.once('exit', (code, signal) => {
      live.delete(child);
      this.exitCode = code;
      this.exitSignal = signal;
    });
  }

  private async signalAndWait(sig: NodeJS.Signals, timeoutMs: number): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(sig);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  /** SIGTERM, SIGKILL after `timeoutMs`. */
  stop(timeoutMs = 20_000): Promise<void> {
    return this.signalAndWait('SIGTERM', timeoutMs);
  }

  kill(): Promise<void> {
    return this.signalAndWait('SIGKILL', 5000);
  }

  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  log(): string {
    return existsSync(this.logPath) ? readFileSync(this.logPath, 'utf8') : '';
  }

  logTail(bytes = 3000): string {
    const t = this.log();
    return t.length > bytes ? `…${t.slice(-bytes)}` : t;
  }
}

export interface ControlPlaneOptions {
  schedulers?: number;
  controllerManagers?: number;
  /** Simulated nodes in one kubelet process. */
  nodes?: number;
  /** Leader election timing for schedulers and controller managers. */
  leaseDuration?: string;
  renewDeadline?: string;
  retryPeriod?: string;
  extraControllerManagerFlags?: readonly string[];
  extraKubeletFlags?: readonly string[];
  /** More kubelet processes: each runs `nodes` nodes named after `nodeName`. */
  extraKubelets?: readonly { nodeName: string; nodes: number }[];
  /** Extra ketch-apiserver flags (e.g. --log-level debug to log every request's latency). */
  apiserverFlags?: readonly string[];
  /** Every component serves /metrics on a port of its own (--metrics-bind-address). */
  metrics?: boolean;
}

export class ControlPlane {
  private failed = false;

  constructor(
    readonly api: ApiCluster,
    readonly schedulers: ComponentProcess[],
    readonly controllerManagers: ComponentProcess[],
    readonly kubelets: ComponentProcess[],
    readonly dir: string,
  ) {}

  get masters(): string {
    return this.api.apiservers.map((a) => a.url).join(',');
  }

  all(): ComponentProcess[] {
    return [...this.schedulers, ...this.controllerManagers, ...this.kubelets];
  }

  markFailed(): void {
    this.failed = true;
    this.api.markFailed();
  }

  async destroy(): Promise<void> {
    await Promise.all(this.all().map((p) => p.stop(5000).catch(() => p.kill())));
    if (this.failed) {
      const keep = mkdtempSync(join(tmpdir(), 'ketch-control-plane-logs-'));
      for (const p of this.all()) if (existsSync(p.logPath)) writeFileSync(join(keep, `${p.name}.log`), readFileSync(p.logPath));
      console.error(`[control-plane e2e] component logs kept in ${keep}`);
    }
    await this.api.destroy();
  }
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const api = await startApiCluster('ketch', { replicas: 2, flags: opts.apiserverFlags });
  const dir = mkdtempSync(join(tmpdir(), 'ketch-control-plane-'));
  const masters = api.apiservers.map((a) => a.url).join(',');
  const le = ['--leader-elect-lease-duration', opts.leaseDuration ?? '15s', '--leader-elect-renew-deadline', opts.renewDeadline ?? '10s', '--leader-elect-retry-period', opts.retryPeriod ?? '2s'];
  const kubeletSpecs = [{ nodeName: 'node', nodes: opts.nodes ?? 3 }, ...(opts.extraKubelets ?? [])];
  const nSchedulers = opts.schedulers ?? 2;
  const nCms = opts.controllerManagers ?? 2;
  const ports = opts.metrics === true ? await freePorts(nSchedulers + nCms + kubeletSpecs.length) : [];
  const metricsFlags = (): string[] => (opts.metrics === true ? ['--metrics-bind-address', `127.0.0.1:${ports.shift() ?? 0}`] : []);
  const schedulers = Array.from({ length: nSchedulers }, (_, i) => new ComponentProcess(`scheduler-${i + 1}`, 'scheduler', ['--master', masters, ...le, '--log-level', 'info', ...metricsFlags()], dir));
  const cms = Array.from(
    { length: nCms },
    (_, i) => new ComponentProcess(`controller-manager-${i + 1}`, 'controller-manager', ['--master', masters, ...le, '--log-level', 'info', ...metricsFlags(), ...(opts.extraControllerManagerFlags ?? [])], dir),
  );
  const kubelets = kubeletSpecs.map(
    (k, i) => new ComponentProcess(`kubelet-${i + 1}`, 'kubelet', ['--master', masters, '--node-name', k.nodeName, '--nodes', String(k.nodes), '--log-level', 'info', ...metricsFlags(), ...(opts.extraKubeletFlags ?? [])], dir),
  );
  const cp = new ControlPlane(api, schedulers, cms, kubelets, dir);
  try {
    for (const p of cp.all()) p.start();
    return cp;
  } catch (err) {
    cp.markFailed();
    await cp.destroy();
    throw err;
  }
}

export function useControlPlane(opts: ControlPlaneOptions = {}): () => ControlPlane {
  let cp: ControlPlane | undefined;
  let startupError: unknown;
  beforeAll(async () => {
    try {
      requireKubectl();
      cp = await startControlPlane(opts);
    } catch (err) {
      startupError = err ?? new Error('control plane failed to start');
    }
  }, 180_000);
  beforeEach(({ onTestFailed }) => {
    if (startupError !== undefined) throw startupError;
    onTestFailed(() => cp?.markFailed());
  });
  afterAll(async () => {
    await cp?.destroy();
  }, 90_000);
  return () => {
    if (cp === undefined) throw new Error('control plane not started');
    return cp;
  };
}

/** Polls `attempt` until it returns a value (not undefined) or the time is up. */
export async function waitFor<T>(what: string, timeoutMs: number, attempt: () => Promise<T | undefined> | T | undefined, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await attempt();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError === undefined ? '' : ` (last error: ${String(lastError)})`}`);
    await sleep(intervalMs);
  }
}

/** A Deployment of one container with small requests, for kubectl apply -f -. */
export function deploymentYaml(name: string, image: string, replicas: number): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
      - name: c
        image: ${image}
        resources:
          requests: {cpu: 100m, memory: 64Mi}
`;
}
