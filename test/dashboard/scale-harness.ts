// A local cluster for the dashboard at scale, shared by the scale e2e test and the measurement
// probe: `ketch-cluster up` with 3 store members, an apiserver, a scheduler, a controller manager
// and 2 kubelets simulating `nodes` nodes, the dashboard server on it, and Deployments to fill it.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { freePorts } from '../api/free-port.js';

const run = promisify(execFile);
export const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cmd', 'ketch-cluster.js');
export const CHROMIUM = '/usr/bin/chromium';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function until<T>(what: string, timeoutMs: number, f: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(500);
  }
}

interface ViewNodes {
  kube: { nodes: { ready: string; pods: Record<string, number> }[]; unscheduled: { pods: Record<string, number> } };
}

export interface ScaleCluster {
  readonly dir: string;
  readonly apiUrl: string;
  readonly storeUrls: readonly string[];
  readonly dashboardUrl: string;
  /** The dashboard server's pid. */
  readonly dashboardPid: number;
  /** Nodes the dashboard shows Ready. */
  readyNodes(): Promise<number>;
  /** Pods the dashboard shows Running (summed over nodes). */
  runningPods(): Promise<number>;
  /** `pods` pods through Deployments of at most 100 replicas, created at once. */
  createPods(pods: number): Promise<void>;
  destroy(): Promise<void>;
}

export async function startScaleCluster(nodes: number): Promise<ScaleCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'ketch-dashboard-scale-'));
  const stateDir = join(dir, 'state');
  const cli = async (...args: string[]): Promise<string> => (await run(process.execPath, [CLI, ...args, '--state-dir', stateDir], { cwd: dir, timeout: 600_000 })).stdout;
  const p = await freePorts(7);
  const apiUrl = `http://127.0.0.1:${p[6]}`;
  writeFileSync(
    join(dir, 'scale.yaml'),
    [
      'name: dash-scale',
      'members:',
      ...[0, 1, 2].map((i) => `  - { name: store-${i + 1}, kind: store, clientPort: ${p[2 * i]}, peerPort: ${p[2 * i + 1]} }`),
      `  - { name: apiserver-1, kind: apiserver, port: ${p[6]} }`,
      '  - { name: scheduler-1, kind: scheduler }',
      '  - { name: controller-manager-1, kind: controller-manager }',
      `  - { name: worker-a, kind: kubelet, nodes: ${Math.ceil(nodes / 2)} }`,
      ...(nodes > 1 ? [`  - { name: worker-b, kind: kubelet, nodes: ${Math.floor(nodes / 2)} }`] : []),
      '',
    ].join('\n'),
  );
  let dashboard: ChildProcess | undefined;
  const destroy = async (): Promise<void> => {
    if (dashboard?.exitCode === null) {
      dashboard.kill('SIGCONT');
      dashboard.kill('SIGTERM');
      await new Promise((r) => dashboard?.once('exit', r));
    }
    await cli('down').catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await cli('up', '-f', 'scale.yaml', '--detach');
    dashboard = spawn(process.execPath, [CLI, 'dashboard', '--port', '0', '--state-dir', stateDir], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const child = dashboard;
    const dashboardUrl = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`the dashboard did not print its URL within 30 s: ${out}`)), 30_000);
      child.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
        if (m !== null) {
          clearTimeout(timer);
          resolve(m[1] as string);
        }
      });
      child.once('exit', (code) => reject(new Error(`the dashboard exited with ${code}`)));
    });
    const view = async (): Promise<ViewNodes> => (await (await fetch(`${dashboardUrl}api/view`)).json()) as ViewNodes;
    return {
      dir,
      apiUrl,
      storeUrls: [0, 1, 2].map((i) => `http://127.0.0.1:${p[2 * i]}`),
      dashboardUrl,
      dashboardPid: child.pid as number,
      readyNodes: async () => (await view()).kube.nodes.filter((n) => n.ready === 'True').length,
      runningPods: async () => (await view()).kube.nodes.reduce((n, node) => n + (node.pods.Running ?? 0), 0),
      createPods: async (pods) => {
        const deployments = Math.max(1, Math.ceil(pods / 100));
        for (let d = 0; d < deployments; d++) {
          const replicas = Math.floor(pods / deployments) + (d < pods % deployments ? 1 : 0);
          const res = await fetch(`${apiUrl}/apis/apps/v1/namespaces/default/deployments`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              metadata: { name: `d${d}` },
              spec: { replicas, selector: { matchLabels: { app: `d${d}` } }, template: { metadata: { labels: { app: `d${d}` } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
            }),
          });
          if (res.status !== 201) throw new Error(`creating deployment d${d}: ${res.status} ${await res.text()}`);
        }
      },
      destroy,
    };
  } catch (error) {
    await destroy();
    throw error;
  }
}
