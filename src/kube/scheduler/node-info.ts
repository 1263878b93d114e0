// What the scheduler knows about one node: the Node and the pods bound to it, with their summed
// requests (kube-scheduler's framework.NodeInfo). Terminated pods hold no resources.

import type { Node, Pod, ResourceList } from '../client/core-types.js';
import { milliValue, unitValue } from './quantity.js';

export interface Resources {
  milliCpu: number;
  memoryBytes: number;
}

/** Requests assumed for a container that declares none, for scoring only (kube's non-zero defaults). */
export const DEFAULT_MILLI_CPU_REQUEST = 100;
export const DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024;

export interface NodeInfo {
  node: Node;
  pods: Pod[];
  requested: Resources;
  /** Requests with the non-zero defaults applied, for least-allocated scoring. */
  nonZeroRequested: Resources;
  usedHostPorts: Set<string>;
}

function fromList(list: ResourceList | undefined): Resources {
  return {
    milliCpu: list?.cpu === undefined ? 0 : milliValue(list.cpu),
    memoryBytes: list?.memory === undefined ? 0 : unitValue(list.memory),
  };
}

/** The pod's effective request: sum over containers, at least the largest init container (computePodResourceRequest). */
export function podRequests(pod: Pod, nonZero = false): Resources {
  const sum: Resources = { milliCpu: 0, memoryBytes: 0 };
  for (const c of pod.spec.containers ?? []) {
    const r = fromList(c.resources?.requests);
    if (nonZero) {
      if (c.resources?.requests?.cpu === undefined) r.milliCpu = DEFAULT_MILLI_CPU_REQUEST;
      if (c.resources?.requests?.memory === undefined) r.memoryBytes = DEFAULT_MEMORY_REQUEST;
    }
    sum.milliCpu += r.milliCpu;
    sum.memoryBytes += r.memoryBytes;
  }
  for (const c of pod.spec.initContainers ?? []) {
    const r = fromList(c.resources?.requests);
    sum.milliCpu = Math.max(sum.milliCpu, r.milliCpu);
    sum.memoryBytes = Math.max(sum.memoryBytes, r.memoryBytes);
  }
  const overhead = pod.spec.overhead as ResourceList | undefined;
  if (overhead !== undefined) {
    const o = fromList(overhead);
    sum.milliCpu += o.milliCpu;
    sum.memoryBytes += o.memoryBytes;
  }
  return sum;
}

export function allocatable(node: Node): Resources & { pods: number } {
  const a = node.status?.allocatable ?? node.status?.capacity;
  return { ...fromList(a), pods: a?.pods === undefined ? 0 : unitValue(a.pods) };
}

export function isTerminal(pod: Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

function hostPorts(pod: Pod): string[] {
  const out: string[] = [];
  for (const c of pod.spec.containers ?? []) {
    for (const p of c.ports ?? []) if (p.hostPort !== undefined && p.hostPort > 0) out.push(`${p.protocol ?? 'TCP'}/${p.hostPort}`);
  }
  return out;
}

export function newNodeInfo(node: Node, pods: readonly Pod[] = []): NodeInfo {
  const info: NodeInfo = { node, pods: [], requested: { milliCpu: 0, memoryBytes: 0 }, nonZeroRequested: { milliCpu: 0, memoryBytes: 0 }, usedHostPorts: new Set() };
  for (const p of pods) addPod(info, p);
  return info;
}

export function addPod(info: NodeInfo, pod: Pod): void {
  if (isTerminal(pod)) return;
  info.pods.push(pod);
  const r = podRequests(pod);
  const nz = podRequests(pod, true);
  info.requested.milliCpu += r.milliCpu;
  info.requested.memoryBytes += r.memoryBytes;
  info.nonZeroRequested.milliCpu += nz.milliCpu;
  info.nonZeroRequested.memoryBytes += nz.memoryBytes;
  for (const hp of hostPorts(pod)) info.usedHostPorts.add(hp);
}

export { hostPorts };
