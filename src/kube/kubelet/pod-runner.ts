// The simulated container runtime of a kubelet process (one or many nodes): watches pods bound to
// its nodes and takes each through its life, writing status back as a kubelet does:
//   bound → Pending/ContainerCreating → (start delay) Running with a pod IP from the node's pod
//   CIDR, containers started (ready at once, or after the readiness probe's initial delay)
//   containers exit (only when asked to by the simulation.ketch.dev/exit-after annotation) →
//   restarted after CrashLoopBackOff per restartPolicy, or the pod ends Succeeded/Failed
//   deletionTimestamp set → containers stopped (within the grace period) → status written →
//   DELETE with gracePeriodSeconds=0 and the pod's uid as precondition.
// Pods found Running with an IP after a kubelet restart are taken over as they are.

import type { Logger } from 'pino';
import { describeError, isConflict, isNotFound } from '../client/api-error.js';
import { formatTime, type Clock } from '../client/clock.js';
import type { Node, Pod } from '../client/core-types.js';
import { EventRecorder, EventWriteSlots } from '../client/event-recorder.js';
import type { KubeClient } from '../client/kube-client.js';
import { NODES, PODS } from '../client/resource-ref.js';
import { runWorkers, type SyncResult } from '../controllers/queue-worker.js';
import { Informer, objectKey } from '../informer/informer.js';
import { ItemExponentialRateLimiter } from '../informer/rate-limiter.js';
import { WorkQueue } from '../informer/work-queue.js';
import { IpAllocator } from './ip-allocator.js';
import { nodeIp, type SimNodeSpec } from './node-object.js';
import { backoffSeconds, podStatusFor, readinessDelayMs, restarts, simulatedExit, type RuntimePod } from './pod-status.js';

export interface PodRunnerOptions {
  /** Simulated image pull + container start time. */
  startDelayMs: number;
  /** Simulated time containers take to stop (capped by the pod's grace period). */
  stopDelayMs: number;
  /** Pods synced at once; default 8 per node, at least 16, at most 512 (a kubelet works on every pod at once). */
  workers?: number;
}

/** Concurrent event writes of the whole process (all nodes): events must not starve status writes. */
const EVENT_WRITE_SLOTS = 16;

function defaultWorkers(nodes: number): number {
  return Math.min(512, Math.max(16, 8 * nodes));
}

export const DEFAULT_POD_RUNNER: PodRunnerOptions = { startDelayMs: 500, stopDelayMs: 200 };

interface Tracked extends RuntimePod {
  key: string;
  startAtMs: number;
  readyAtMs?: number;
  terminateAtMs?: number;
  exitAtMs?: number;
  restartAtMs?: number;
  /** The pod finished: its IP went back to the pool (the status still shows it). */
  ipReleased?: boolean;
  /** Status last written, to avoid rewriting an unchanged one. */
  written?: string;
  /** resourceVersion our last status write produced: older copies in the cache are not news. */
  writtenRv?: number;
}

interface SimNode {
  spec: SimNodeSpec;
  allocator: IpAllocator | undefined;
  pods: Map<string, Tracked>;
  recorder: EventRecorder;
}

export class PodRunner {
  private readonly nodes = new Map<string, SimNode>();
  private readonly queue: WorkQueue<string>;
  private readonly podInf: Informer<Pod>;
  private readonly nodeInf: Informer<Node>;
  private readonly log: Logger | undefined;
  readonly stats = { started: 0, terminated: 0, statusWrites: 0 };

  constructor(
    private readonly client: KubeClient,
    private readonly clock: Clock,
    specs: readonly SimNodeSpec[],
    private readonly opts: PodRunnerOptions = DEFAULT_POD_RUNNER,
    logger?: Logger,
  ) {
    this.log = logger?.child({ component: 'pod-runner' });
    const eventSlots = new EventWriteSlots(EVENT_WRITE_SLOTS);
    for (const spec of specs) {
      this.nodes.set(spec.name, {
        spec,
        allocator: spec.podCidr === undefined ? undefined : new IpAllocator(spec.podCidr),
        pods: new Map(),
        recorder: new EventRecorder(client, { component: 'kubelet', instance: spec.name, host: spec.name }, clock, logger, eventSlots),
      });
    }
    this.queue = new WorkQueue<string>(clock, new ItemExponentialRateLimiter<string>(200, 10_000));
    // One node: let the server filter (as a kubelet does); many: one stream for all of them.
    const only = specs.length === 1 ? specs[0]?.name : undefined;
    this.podInf = new Informer<Pod>({ client, resource: PODS, clock, logger, fieldSelector: only === undefined ? undefined : `spec.nodeName=${only}` });
    this.nodeInf = new Informer<Node>({ client, resource: NODES, clock, logger, fieldSelector: only === undefined ? undefined : `metadata.name=${only}` });
    const onPod = (pod: Pod): void => {
      if (this.nodes.has(pod.spec.nodeName ?? '')) this.queue.add(objectKey(pod));
    };
    this.podInf.addHandlers({ onAdd: onPod, onUpdate: (_o, p) => onPod(p), onDelete: onPod });
    this.nodeInf.addHandlers({
      onAdd: (n) => this.nodeChanged(n),
      onUpdate: (_o, n) => this.nodeChanged(n),
    });
  }

  async run(signal: AbortSignal, workers = this.opts.workers ?? defaultWorkers(this.nodes.size)): Promise<void> {
    const informers = [this.podInf.run(signal), this.nodeInf.run(signal)];
    if ((await this.podInf.waitForSync(signal)) && (await this.nodeInf.waitForSync(signal))) {
      await runWorkers('kubelet', this.queue, workers, (key) => this.sync(key), signal, this.log);
    }
    await Promise.all(informers);
    await Promise.all([...this.nodes.values()].map((n) => n.recorder.flush()));
  }

  /** The event recorder of one of this process's nodes. */
  recorderFor(nodeName: string): EventRecorder | undefined {
    return this.nodes.get(nodeName)?.recorder;
  }

  /** How many of a node's pods are in each runtime stage (metrics). */
  podStages(nodeName: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const p of this.nodes.get(nodeName)?.pods.values() ?? []) out.set(p.stage, (out.get(p.stage) ?? 0) + 1);
    return out;
  }

  /** Pods on each node that the runtime holds (for tests and logs). */
  runningPods(nodeName: string): number {
    return [...(this.nodes.get(nodeName)?.pods.values() ?? [])].filter((p) => p.stage === 'running').length;
  }

  private nodeChanged(node: Node): void {
    const sim = this.nodes.get(node.metadata.name ?? '');
    const cidr = node.spec?.podCIDR;
    if (sim === undefined || sim.allocator !== undefined || cidr === undefined || cidr === '') return;
    try {
      sim.allocator = new IpAllocator(cidr);
    } catch (err) {
      this.log?.error({ node: sim.spec.name, cidr, err: describeError(err) }, 'unusable pod CIDR');
      return;
    }
    this.log?.info({ node: sim.spec.name, podCIDR: cidr }, 'pod CIDR assigned');
    for (const t of sim.pods.values()) this.queue.add(t.key);
  }

  private async sync(key: string): Promise<SyncResult | void> {
    const pod = this.podInf.getByKey(key);
    if (pod === undefined) {
      this.forgetKey(key);
      return;
    }
    const sim = this.nodes.get(pod.spec.nodeName ?? '');
    if (sim === undefined) return;
    const uid = pod.metadata.uid ?? '';
    // A pod of the same name replaced another: the old one is gone.
    for (const t of sim.pods.values()) if (t.key === key && t.uid !== uid) this.forget(sim, t);
    const t = sim.pods.get(uid);
    if (pod.metadata.deletionTimestamp !== undefined) return this.terminate(pod, sim, t);
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
    const nowMs = this.clock.nowMs();
    const wall = this.clock.wallTime();
    if (t === undefined) {
      if (this.adopt(pod, sim)) return;
      const fresh: Tracked = { key, uid, stage: 'creating', hostIp: nodeIp(sim.spec.name), startTime: formatTime(wall), ready: false, containerIds: {}, startAtMs: nowMs + this.opts.startDelayMs };
      sim.pods.set(uid, fresh);
      await this.writeStatus(pod, fresh);
      return { requeueAfterMs: this.opts.startDelayMs };
    }
    if (t.stage === 'creating') {
      if (nowMs < t.startAtMs) return { requeueAfterMs: t.startAtMs - nowMs };
      if (sim.allocator === undefined) {
        this.log?.debug({ node: sim.spec.name, pod: key }, 'waiting for the node pod CIDR');
        return { requeueAfterMs: 1000 };
      }
      const ip = sim.allocator.allocate();
      if (ip === undefined) {
        sim.recorder.event(pod, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: no IP addresses available in range set: ${sim.allocator.cidr}`);
        return { requeueAfterMs: 5000 };
      }
      t.podIp = ip;
      for (const c of pod.spec.containers ?? []) t.containerIds[c.name] = `ketch-sim://${uid.slice(0, 8)}-${c.name}`;
      this.stats.started++;
      return this.startContainers(pod, sim, t);
    }
    if (t.stage === 'running' && t.exitAtMs !== undefined && nowMs >= t.exitAtMs) return this.containersExited(pod, sim, t);
    if (t.stage === 'backoff') {
      if (t.restartAtMs !== undefined && nowMs < t.restartAtMs) return { requeueAfterMs: t.restartAtMs - nowMs };
      t.restartCount = (t.restartCount ?? 0) + 1;
      return this.startContainers(pod, sim, t);
    }
    if (t.stage === 'completed') {
      await this.writeStatus(pod, t);
      return;
    }
    const next: number | undefined = t.exitAtMs === undefined ? undefined : t.exitAtMs - nowMs;
    if (t.stage === 'running' && !t.ready && t.readyAtMs !== undefined) {
      if (nowMs < t.readyAtMs) return { requeueAfterMs: Math.min(t.readyAtMs - nowMs, next ?? Infinity) };
      t.ready = true;
    }
    // Running: keep the server's copy right (another writer may have changed it). A copy older
    // than our last write is the watch catching up, not a change.
    const reported = pod.status;
    if (Number(pod.metadata.resourceVersion ?? 0) < (t.writtenRv ?? 0)) return next === undefined ? undefined : { requeueAfterMs: Math.max(0, next) };
    if (reported?.phase !== 'Running' || reported.podIP !== t.podIp || (reported.conditions?.find((c) => c.type === 'Ready')?.status === 'True') !== t.ready) {
      t.written = undefined;
      await this.writeStatus(pod, t);
    }
    if (next !== undefined) return { requeueAfterMs: Math.max(0, next) };
  }

  /** Containers (re)start now: events, status, and the timers for readiness and a simulated exit. */
  private async startContainers(pod: Pod, sim: SimNode, t: Tracked): Promise<SyncResult | void> {
    const nowMs = this.clock.nowMs();
    t.stage = 'running';
    t.startedAt = formatTime(this.clock.wallTime());
    const delay = readinessDelayMs(pod);
    t.ready = delay === 0;
    t.readyAtMs = nowMs + delay;
    const exit = simulatedExit(pod);
    t.exitAtMs = exit === undefined ? undefined : nowMs + exit.afterMs;
    for (const c of pod.spec.containers ?? []) {
      sim.recorder.event(pod, 'Normal', 'Pulled', `Container image "${c.image ?? ''}" already present on machine`);
      sim.recorder.event(pod, 'Normal', 'Created', `Created container ${c.name}`);
      sim.recorder.event(pod, 'Normal', 'Started', `Started container ${c.name}`);
    }
    await this.writeStatus(pod, t);
    const waits = [t.ready ? Infinity : delay, exit?.afterMs ?? Infinity];
    const wait = Math.min(...waits);
    return Number.isFinite(wait) ? { requeueAfterMs: wait } : undefined;
  }

  /** The simulated containers exited: restart after a back-off, or finish the pod (restartPolicy). */
  private async containersExited(pod: Pod, sim: SimNode, t: Tracked): Promise<SyncResult | void> {
    const code = simulatedExit(pod)?.code ?? 0;
    t.lastExit = { exitCode: code, startedAt: t.startedAt, finishedAt: formatTime(this.clock.wallTime()) };
    t.ready = false;
    t.exitAtMs = undefined;
    if (restarts(pod, code)) {
      const seconds = backoffSeconds(t.restartCount ?? 0);
      t.stage = 'backoff';
      t.backoffSeconds = seconds;
      t.restartAtMs = this.clock.nowMs() + seconds * 1000;
      for (const c of pod.spec.containers ?? []) sim.recorder.event(pod, 'Warning', 'BackOff', `Back-off restarting failed container ${c.name} in pod ${pod.metadata.name ?? ''}_${pod.metadata.namespace ?? ''}(${pod.metadata.uid ?? ''})`);
      await this.writeStatus(pod, t);
      return { requeueAfterMs: seconds * 1000 };
    }
    t.stage = 'completed';
    await this.writeStatus(pod, t);
    // The sandbox is gone; the pod keeps its status (and reported IP) until it is deleted.
    if (t.podIp !== undefined) sim.allocator?.release(t.podIp);
    t.ipReleased = true;
  }

  /** A pod already Running here with an IP of this node (the kubelet restarted): keep it as is. */
  private adopt(pod: Pod, sim: SimNode): boolean {
    const ip = pod.status?.podIP;
    if (pod.status?.phase !== 'Running' || ip === undefined || sim.allocator === undefined || !sim.allocator.claim(ip)) return false;
    const running = pod.status.containerStatuses?.[0]?.state?.running?.startedAt;
    const ready = pod.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    const containerIds: Record<string, string> = {};
    for (const c of pod.status.containerStatuses ?? []) if (c.containerID !== undefined) containerIds[c.name] = c.containerID;
    sim.pods.set(pod.metadata.uid ?? '', {
      key: objectKey(pod),
      uid: pod.metadata.uid ?? '',
      stage: 'running',
      podIp: ip,
      hostIp: pod.status.hostIP ?? nodeIp(sim.spec.name),
      startTime: pod.status.startTime ?? formatTime(this.clock.wallTime()),
      startedAt: running,
      ready,
      containerIds,
      startAtMs: this.clock.nowMs(),
      readyAtMs: ready ? undefined : this.clock.nowMs() + readinessDelayMs(pod),
    });
    this.log?.info({ pod: objectKey(pod), ip }, 'took over a running pod');
    return true;
  }

  private async terminate(pod: Pod, sim: SimNode, t: Tracked | undefined): Promise<SyncResult | void> {
    const nowMs = this.clock.nowMs();
    if (t !== undefined && (t.stage === 'running' || t.stage === 'backoff')) {
      if (t.terminateAtMs === undefined) {
        const graceMs = (pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30) * 1000;
        t.terminateAtMs = nowMs + Math.min(graceMs, this.opts.stopDelayMs);
        for (const c of pod.spec.containers ?? []) sim.recorder.event(pod, 'Normal', 'Killing', `Stopping container ${c.name}`);
      }
      if (nowMs < t.terminateAtMs) return { requeueAfterMs: t.terminateAtMs - nowMs };
      t.stage = 'terminated';
      t.ready = false;
      t.finishedAt = formatTime(this.clock.wallTime());
      await this.writeStatus(pod, t);
    }
    // Containers are gone (or never started): let the apiserver drop the pod now.
    try {
      await this.client.delete(PODS, pod.metadata.namespace, pod.metadata.name ?? '', { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } });
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
    this.stats.terminated++;
    if (t !== undefined) this.forget(sim, t);
  }

  private async writeStatus(pod: Pod, t: Tracked): Promise<void> {
    const status = podStatusFor(pod, t, this.clock.wallTime());
    const text = JSON.stringify(status);
    if (text === t.written) return;
    try {
      const written = await this.client.patch<Pod>(PODS, pod.metadata.namespace, pod.metadata.name ?? '', 'merge', { status }, { subresource: 'status' });
      this.stats.statusWrites++;
      t.written = text;
      t.writtenRv = Number(written.metadata.resourceVersion ?? 0);
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
  }

  private forget(sim: SimNode, t: Tracked): void {
    if (t.podIp !== undefined && t.ipReleased !== true) sim.allocator?.release(t.podIp);
    sim.pods.delete(t.uid);
  }

  private forgetKey(key: string): void {
    for (const sim of this.nodes.values()) for (const t of [...sim.pods.values()]) if (t.key === key) this.forget(sim, t);
  }
}
