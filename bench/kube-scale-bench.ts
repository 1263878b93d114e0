/**
 * `npm run bench:kube -- [--impl ketch,etcd] [--nodes 100] [--pods 3000] [--deployments 30]
 *                        [--kubelets 2] [--timeout 15m] [--no-doc]`
 *
 * The control plane at scale, issue #7's benchmark: a 3-member store (ketch, or etcd 3.4 for the
 * ratio), 2 ketch-apiservers, one ketch-scheduler, one ketch-controller-manager and --nodes
 * simulated nodes split over --kubelets ketch-kubelet processes; then --pods pods through
 * --deployments Deployments created at once. Measured:
 * - time from the first create to every pod Running;
 * - pods scheduled per second (a watch sees spec.nodeName set: first to last binding);
 * - pod startup latency, twice: for the saturation pods (created all at once, so mostly queueing),
 *   and, as Kubernetes' density test measures its SLO (p99 <= 5 s), for --latency-pods bare pods
 *   created one by one at --latency-rate per second once the saturation pods run: from the create
 *   call to Running as a watch on the pods sees it (ms precision);
 * - apiserver latency of single-object mutating calls (POST/PUT/PATCH/DELETE of one object),
 *   server side, from every apiserver's per-request log line (kube's SLO: p99 <= 1 s).
 * Writes bench/results/kube-scale-<time>.json and docs/benchmarks-control-plane.md (--no-doc
 * leaves the page alone).
 */
import { parseBenchArgs } from './cli-args.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { freePorts } from '../test/api/free-port.js';
import { KubeClient } from '../src/kube/client/kube-client.js';
import type { Node, Pod } from '../src/kube/client/core-types.js';
import { DEPLOYMENTS, NODES, PODS } from '../src/kube/client/resource-ref.js';
import { importHarness, repoRoot, snapshotServerBuild, type Cluster, type Impl } from './bench-harness.js';
import { machineCpuSeconds, procCpuSeconds } from './proc-stats.js';
import { percentile, sleep, sortedCopy } from './stats.js';

const args = parseBenchArgs(import.meta.url, {
    impl: { type: 'string', default: 'ketch' },
    nodes: { type: 'string', default: '100' },
    pods: { type: 'string', default: '3000' },
    deployments: { type: 'string', default: '30' },
    kubelets: { type: 'string', default: '2' },
    timeout: { type: 'string', default: '15m' },
    'latency-pods': { type: 'string', default: '100' },
    'latency-rate': { type: 'string', default: '5' },
    'no-doc': { type: 'boolean', default: false },
  });

function positiveInt(flag: string, text: string | undefined): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`kube-scale-bench: --${flag} must be a positive integer, got "${text ?? ''}"\n`);
    process.exit(2);
  }
  return n;
}

function durationMs(text: string): number {
  const m = /^(\d+)(s|m)$/.exec(text);
  if (m === null) {
    process.stderr.write(`kube-scale-bench: --timeout must look like 90s or 15m, got "${text}"\n`);
    process.exit(2);
  }
  return Number(m[1]) * (m[2] === 'm' ? 60_000 : 1000);
}

const impls = String(args.impl)
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '');
for (const impl of impls) {
  if (impl !== 'ketch' && impl !== 'etcd') {
    process.stderr.write(`kube-scale-bench: --impl takes ketch and/or etcd, got "${impl}"\n`);
    process.exit(2);
  }
}
const nodeCount = positiveInt('nodes', args.nodes);
const podCount = positiveInt('pods', args.pods);
const deploymentCount = Math.min(positiveInt('deployments', args.deployments), podCount);
const kubeletCount = Math.min(positiveInt('kubelets', args.kubelets), nodeCount);
const timeoutMs = durationMs(String(args.timeout));
const latencyPodCount = positiveInt('latency-pods', args['latency-pods']);
const latencyRate = positiveInt('latency-rate', args['latency-rate']);

const MUTATING_SLO_MS = 1000;
const STARTUP_SLO_MS = 5000;

const build = snapshotServerBuild();
const harness = await importHarness(build.entry, 'kube-scale-bench');
const cmdDir = dirname(build.entry);

interface Proc {
  name: string;
  child: ChildProcess;
  log: string;
}

function startProc(dir: string, name: string, entry: string, argv: string[]): Proc {
  const log = join(dir, `${name}.log`);
  const fd = openSync(log, 'a');
  try {
    const child = spawn(process.execPath, [join(cmdDir, entry), ...argv], { cwd: repoRoot, stdio: ['ignore', fd, fd] });
    return { name, child, log };
  } finally {
    closeSync(fd);
  }
}

async function stopProc(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.child.once('exit', () => resolve()));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function waitUntil(what: string, limitMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

interface Latency {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

function latency(values: number[]): Latency {
  const s = sortedCopy(values);
  return { count: s.length, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s.length === 0 ? NaN : (s[s.length - 1] as number) };
}

/** Single-object mutating calls from the apiservers' debug request lines (not watches, not collections). */
function mutatingLatencies(logs: readonly string[]): { all: number[]; byVerb: Record<string, number[]> } {
  const all: number[] = [];
  const byVerb: Record<string, number[]> = {};
  for (const file of logs) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line.includes('"msg":"request"')) continue;
      let rec: { method?: string; url?: string; ms?: number; code?: number };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch {
        continue;
      }
      const method = rec.method ?? '';
      if (!['POST', 'PUT', 'PATCH', 'DELETE'].includes(method) || typeof rec.ms !== 'number') continue;
      const path = (rec.url ?? '').split('?')[0] ?? '';
      const parts = path.split('/').filter((p) => p !== '');
      // DELETE of a collection is not a single-object call; a POST names its collection.
      const resourceIdx = parts[0] === 'api' ? 2 : 3;
      const namespaced = parts[resourceIdx] === 'namespaces' && parts.length > resourceIdx + 2;
      const objectDepth = (namespaced ? resourceIdx + 3 : resourceIdx + 1) + 1;
      if (method === 'DELETE' && parts.length < objectDepth) continue;
      const kind = `${method} ${parts.at(-1) === 'status' || parts.at(-1) === 'binding' ? parts.at(-1) : (namespaced ? parts[resourceIdx + 2] : parts[resourceIdx]) ?? '?'}`;
      all.push(rec.ms);
      (byVerb[kind] ??= []).push(rec.ms);
    }
  }
  return { all, byVerb };
}

interface RunResult {
  impl: Impl;
  nodes: number;
  pods: number;
  deployments: number;
  kubelets: number;
  converged: boolean;
  runningAtEnd: number;
  allRunningMs: number | null;
  podsScheduledPerSecond: number;
  podStartupMs: Latency;
  /** The latency phase: pods created one by one at latencyRate/s on a settled cluster. */
  latencyPhase: { pods: number; ratePerSecond: number; startupMs: Latency } | null;
  createdToScheduledMs: Latency;
  scheduledToRunningMs: Latency;
  mutatingMs: Latency;
  mutatingByKind: Record<string, Latency>;
  /** CPU in cores (CPU seconds per wall second) from the first create to the end, by role. */
  cpuCores: Record<string, number>;
  stalledAt?: string;
}

const LATENCY_PREFIX = 'latency-';

function latencyPodBody(name: string): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { bench: 'scale', phase: 'latency' } },
    spec: { containers: [{ name: 'c', image: 'nginx' }] },
  };
}

function deploymentBody(name: string, replicas: number): unknown {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name, bench: 'scale' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
    },
  };
}

/** A 3-member store; on a loaded machine the members may miss the harness's 30 s health check, so try again. */
async function startStore(impl: Impl): Promise<Cluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await harness.startCluster(impl, 3);
    } catch (err) {
      if (attempt >= 3) throw err;
      process.stderr.write(`[${impl}] store did not start (attempt ${attempt}): ${String(err).split('\n')[0] ?? ''}; retrying\n`);
    }
  }
}

async function runImpl(impl: Impl): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), `kube-scale-bench-${impl}-`));
  const store = await startStore(impl);
  const procs: Proc[] = [];
  const client = { current: undefined as KubeClient | undefined };
  const watchStop = new AbortController();
  try {
    const ports = await freePorts(2);
    const apiservers = ports.map((port, i) =>
      startProc(dir, `apiserver-${i + 1}`, 'ketch-apiserver.js', ['--etcd-servers', store.endpoints.join(','), '--bind-address', '127.0.0.1', '--port', String(port), '--log-level', 'debug']),
    );
    procs.push(...apiservers);
    const masters = ports.map((p) => `http://127.0.0.1:${p}`);
    const kube = new KubeClient({ masters, userAgent: 'kube-scale-bench' });
    client.current = kube;
    await waitUntil('the apiservers', 90_000, async () => {
      for (const m of masters) if ((await fetch(`${m}/readyz`)).status !== 200) return false;
      return true;
    });
    const m = masters.join(',');
    /** CPU seconds so far of each role: the store members together, each program, the bench itself, the machine. */
    const cpuByRole = (): Map<string, number> => {
      const out = new Map<string, number>();
      const add = (role: string, pid: number | undefined): void => {
        out.set(role, (out.get(role) ?? 0) + (procCpuSeconds(pid) ?? 0));
      };
      for (const member of store.members) add('store', member.pid);
      for (const p of procs) add(p.name.replace(/-\d+$/, ''), p.child.pid);
      const self = process.cpuUsage();
      out.set('bench', (self.user + self.system) / 1e6);
      out.set('machine', machineCpuSeconds().busy);
      return out;
    };
    const cpuCoresSince = (from: Map<string, number>, seconds: number): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const [role, end] of cpuByRole()) out[role] = Math.round(((end - (from.get(role) ?? 0)) / seconds) * 100) / 100;
      return out;
    };
    procs.push(startProc(dir, 'scheduler', 'ketch-scheduler.js', ['--master', m, '--log-level', 'warn']));
    procs.push(startProc(dir, 'controller-manager', 'ketch-controller-manager.js', ['--master', m, '--log-level', 'warn']));
    const perKubelet = Math.ceil(nodeCount / kubeletCount);
    for (let k = 0, left = nodeCount; left > 0; k++, left -= perKubelet) {
      procs.push(startProc(dir, `kubelet-${k + 1}`, 'ketch-kubelet.js', ['--master', m, '--node-name', `n${k + 1}`, '--nodes', String(Math.min(perKubelet, left)), '--log-level', 'warn']));
    }
    process.stdout.write(`[${impl}] waiting for ${nodeCount} Ready nodes with pod CIDRs\n`);
    await waitUntil(`${nodeCount} Ready nodes with pod CIDRs`, 5 * 60_000, async () => {
      const nodes = (await kube.list<Node>(NODES, undefined)).items;
      return nodes.length === nodeCount && nodes.every((n) => (n.spec?.podCIDR ?? '') !== '' && n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true);
    });

    // A watch records when each pod appears, is bound, and runs (ms, as the client sees them).
    const seen = new Map<string, { created: number; scheduled?: number; running?: number }>();
    let running = 0;
    const watching = (async () => {
      let rv = (await kube.list<Pod>(PODS, 'default', { limit: 1 })).metadata.resourceVersion ?? '';
      while (!watchStop.signal.aborted) {
        for await (const ev of kube.watch<Pod>(PODS, 'default', { resourceVersion: rv, labelSelector: 'bench=scale', allowWatchBookmarks: true, signal: watchStop.signal, timeoutSeconds: 600 })) {
          rv = ev.object.metadata.resourceVersion ?? rv;
          if (ev.type !== 'ADDED' && ev.type !== 'MODIFIED') continue;
          const name = ev.object.metadata.name ?? '';
          const now = Date.now();
          let rec = seen.get(name);
          if (rec === undefined) seen.set(name, (rec = { created: now }));
          if (rec.scheduled === undefined && (ev.object.spec.nodeName ?? '') !== '') rec.scheduled = now;
          if (rec.running === undefined && ev.object.status?.phase === 'Running') {
            rec.running = now;
            if (!name.startsWith(LATENCY_PREFIX)) running++;
          }
        }
      }
    })().catch((err: unknown) => {
      if (!watchStop.signal.aborted) process.stderr.write(`[${impl}] pod watch failed: ${String(err)}\n`);
    });
    await sleep(500);

    const t0 = Date.now();
    const cpu0 = cpuByRole();
    const base = Math.floor(podCount / deploymentCount);
    await Promise.all(
      Array.from({ length: deploymentCount }, (_, i) => kube.create(DEPLOYMENTS, 'default', deploymentBody(`scale-${i + 1}`, base + (i < podCount % deploymentCount ? 1 : 0)))),
    );
    process.stdout.write(`[${impl}] ${deploymentCount} deployments created (${podCount} pods) in ${Date.now() - t0} ms\n`);
    let allRunningMs: number | null = null;
    let lastProgress = { at: Date.now(), running: 0 };
    let stalledAt: string | undefined;
    for (;;) {
      await sleep(1000);
      if (running >= podCount) {
        allRunningMs = Math.max(...[...seen.values()].map((r) => r.running ?? 0)) - t0;
        break;
      }
      if (running !== lastProgress.running) lastProgress = { at: Date.now(), running };
      const created = seen.size;
      const scheduled = [...seen.values()].filter((r) => r.scheduled !== undefined).length;
      if ((Date.now() - t0) % 10_000 < 1000) process.stdout.write(`[${impl}] +${Math.round((Date.now() - t0) / 1000)} s: created ${created}, scheduled ${scheduled}, running ${running}\n`);
      if (Date.now() - t0 > timeoutMs || Date.now() - lastProgress.at > 120_000) {
        stalledAt = `created ${created}, scheduled ${scheduled}, running ${running} of ${podCount} after ${Math.round((Date.now() - t0) / 1000)} s`;
        break;
      }
    }
    const cpuCores = cpuCoresSince(cpu0, (Date.now() - t0) / 1000);

    let latencyPhase: RunResult['latencyPhase'] = null;
    if (allRunningMs !== null) {
      process.stdout.write(`[${impl}] latency phase: ${latencyPodCount} pods at ${latencyRate}/s\n`);
      const sent = new Map<string, number>();
      const creates: Promise<unknown>[] = [];
      for (let i = 1; i <= latencyPodCount; i++) {
        const name = `${LATENCY_PREFIX}${i}`;
        sent.set(name, Date.now());
        creates.push(kube.create(PODS, 'default', latencyPodBody(name)));
        await sleep(1000 / latencyRate);
      }
      await Promise.all(creates);
      await waitUntil('the latency pods to run', 120_000, async () => [...sent.keys()].every((n) => seen.get(n)?.running !== undefined)).catch((err: unknown) => {
        process.stderr.write(`[${impl}] ${String(err)}\n`);
      });
      const startup = [...sent].flatMap(([n, at]) => {
        const r = seen.get(n)?.running;
        return r === undefined ? [] : [r - at];
      });
      latencyPhase = { pods: latencyPodCount, ratePerSecond: latencyRate, startupMs: latency(startup) };
    }
    watchStop.abort();
    await watching;
    const recs = [...seen].filter(([n]) => !n.startsWith(LATENCY_PREFIX)).map(([, r]) => r);
    const sched = sortedCopy(recs.flatMap((r) => (r.scheduled === undefined ? [] : [r.scheduled])));
    const spanS = sched.length < 2 ? 0 : ((sched[sched.length - 1] as number) - (sched[0] as number)) / 1000;
    const lat = mutatingLatencies(apiservers.map((a) => a.log));
    const byKind: Record<string, Latency> = {};
    for (const [k, v] of Object.entries(lat.byVerb).sort((a, b) => b[1].length - a[1].length)) byKind[k] = latency(v);
    return {
      impl,
      nodes: nodeCount,
      pods: podCount,
      deployments: deploymentCount,
      kubelets: kubeletCount,
      converged: allRunningMs !== null,
      runningAtEnd: running,
      allRunningMs,
      podsScheduledPerSecond: spanS > 0 ? Math.round(sched.length / spanS) : NaN,
      latencyPhase,
      podStartupMs: latency(recs.flatMap((r) => (r.running === undefined ? [] : [r.running - r.created]))),
      createdToScheduledMs: latency(recs.flatMap((r) => (r.scheduled === undefined ? [] : [r.scheduled - r.created]))),
      scheduledToRunningMs: latency(recs.flatMap((r) => (r.running === undefined || r.scheduled === undefined ? [] : [r.running - r.scheduled]))),
      mutatingMs: latency(lat.all),
      mutatingByKind: byKind,
      cpuCores,
      stalledAt,
    };
  } finally {
    watchStop.abort();
    client.current?.close();
    await Promise.all(procs.filter((p) => !p.name.startsWith('apiserver')).map(stopProc));
    await Promise.all(procs.filter((p) => p.name.startsWith('apiserver')).map(stopProc));
    await store.destroy();
    if (process.env.KETCH_BENCH_KEEP_LOGS === '1') process.stdout.write(`[${impl}] logs kept in ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

function verdict(value: number, slo: number): string {
  return Number.isFinite(value) ? (value <= slo ? 'met' : 'missed') : 'n/a';
}

function markdown(results: readonly RunResult[], when: string): string {
  const lines = [
    '## Control plane at scale (issue #7)',
    '',
    `\`npm run build && npm run bench:kube -- --impl ${results.map((r) => r.impl).join(',')} --nodes ${nodeCount} --pods ${podCount} --deployments ${deploymentCount} --kubelets ${kubeletCount} --latency-pods ${latencyPodCount} --latency-rate ${latencyRate}\`, ${when}, on the shared 2-core machine (other engineers' builds and tests running: absolute numbers are noisy, compare the rows of one run).`,
    '',
    `${nodeCount} simulated nodes in ${kubeletCount} ketch-kubelet processes, ${podCount} pods through ${deploymentCount} Deployments created at once; 2 ketch-apiservers on a 3-member store, one ketch-scheduler, one ketch-controller-manager. Saturation: the ${podCount} pods created at once, so their startup time is mostly queueing. Latency phase, as Kubernetes' density test measures the pod startup SLO: once those run, ${latencyPodCount} bare pods created one by one at ${latencyRate}/s, timed from the create call to Running as a watch on the pods sees it (ms precision). Mutating latency is the apiservers' own per-request time for single-object POST/PUT/PATCH/DELETE. SLOs are Kubernetes': mutating p99 <= 1 s, pod startup p99 <= 5 s (latency phase).`,
    '',
    '| store | all Running | pods scheduled/s | saturation startup p50 / p99 | created → bound p99 | bound → Running p99 | latency-phase startup p50 / p99 (SLO 5 s) | mutating calls | mutating p50 / p99 (SLO 1 s) |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const lp = r.latencyPhase === null ? 'not run' : `${Math.round(r.latencyPhase.startupMs.p50)} / ${Math.round(r.latencyPhase.startupMs.p99)} ms (${verdict(r.latencyPhase.startupMs.p99, STARTUP_SLO_MS)})`;
    const all = r.allRunningMs === null ? `not reached: ${r.stalledAt ?? ''}` : `${(r.allRunningMs / 1000).toFixed(1)} s`;
    lines.push(
      `| ${r.impl} | ${all} | ${r.podsScheduledPerSecond} | ${Math.round(r.podStartupMs.p50)} / ${Math.round(r.podStartupMs.p99)} ms | ${Math.round(r.createdToScheduledMs.p99)} ms | ${Math.round(r.scheduledToRunningMs.p99)} ms | ${lp} | ${r.mutatingMs.count} | ${Math.round(r.mutatingMs.p50)} / ${Math.round(r.mutatingMs.p99)} ms (${verdict(r.mutatingMs.p99, MUTATING_SLO_MS)}) |`,
    );
  }
  const ketch = results.find((r) => r.impl === 'ketch');
  const etcd = results.find((r) => r.impl === 'etcd');
  if (ketch?.allRunningMs != null && etcd?.allRunningMs != null) {
    lines.push('', `ketch / etcd: all Running ${(ketch.allRunningMs / etcd.allRunningMs).toFixed(2)}×, saturation startup p99 ${(ketch.podStartupMs.p99 / etcd.podStartupMs.p99).toFixed(2)}×, mutating p99 ${(ketch.mutatingMs.p99 / etcd.mutatingMs.p99).toFixed(2)}× (below 1 is ketch faster).`);
  }
  lines.push('', 'Mutating p99 by call (the five most frequent):', '');
  for (const r of results) {
    const top = Object.entries(r.mutatingByKind)
      .slice(0, 5)
      .map(([k, v]) => `${k} ${v.count}× p99 ${Math.round(v.p99)} ms`)
      .join('; ');
    lines.push(`- ${r.impl}: ${top}`);
  }
  lines.push('', 'CPU from the first create to the end, in cores (2 on this machine; "machine" includes everything else running):', '');
  for (const r of results) {
    lines.push(`- ${r.impl}: ${Object.entries(r.cpuCores).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * This bench's page, docs/benchmarks-control-plane.md. Its own file: `npm run bench` regenerates
 * docs/benchmarks.md whole (a section kept there was lost that way).
 */
function writeDocPage(section: string): void {
  const title = '# Benchmarks: the control plane at scale\n\nThe store benchmarks are in [benchmarks.md](benchmarks.md).\n\n';
  writeFileSync(join(repoRoot, 'docs', 'benchmarks-control-plane.md'), title + section);
}

const results: RunResult[] = [];
for (const impl of impls) {
  const r = await runImpl(impl as Impl);
  results.push(r);
  process.stdout.write(`[measured] ${JSON.stringify(r)}\n`);
}
const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const outDir = join(repoRoot, 'bench', 'results');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, `kube-scale-${when.replace(/[:]/g, '-')}.json`), `${JSON.stringify({ when, server: build.description, results }, null, 2)}\n`);
const md = markdown(results, when);
process.stdout.write(`\n${md}`);
if (args['no-doc'] !== true) writeDocPage(md);
process.exit(0);
