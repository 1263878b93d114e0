// The filter plugins of kube-scheduler's default profile that matter for these nodes, as pure
// functions: each returns why the pod cannot go to the node (kube's reason text) or undefined.

import type { Node, Pod, Taint, Toleration } from '../client/core-types.js';
import { allocatable, hostPorts, podRequests, type NodeInfo } from './node-info.js';

export const TAINT_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';

/** v1helper.ToleratesTaint. */
export function toleratesTaint(t: Toleration, taint: Taint): boolean {
  if (t.effect !== undefined && t.effect !== '' && t.effect !== taint.effect) return false;
  if (t.key !== undefined && t.key !== '' && t.key !== taint.key) return false;
  const op = t.operator ?? 'Equal';
  if (op === 'Exists') return true;
  return (t.value ?? '') === (taint.value ?? '');
}

export function tolerates(tolerations: readonly Toleration[] | undefined, taint: Taint): boolean {
  return (tolerations ?? []).some((t) => toleratesTaint(t, taint));
}

export function nodeReadyCondition(node: Node): string | undefined {
  return node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
}

/** Ready=True. (kube filters not-ready nodes through the not-ready taint; our nodes may lack it.) */
export function filterNodeReady(_pod: Pod, info: NodeInfo): string | undefined {
  return nodeReadyCondition(info.node) === 'True' ? undefined : "node(s) were not ready";
}

/** NodeUnschedulable: a cordoned node takes only pods tolerating its unschedulable taint. */
export function filterUnschedulable(pod: Pod, info: NodeInfo): string | undefined {
  if (info.node.spec?.unschedulable !== true) return undefined;
  return tolerates(pod.spec.tolerations, { key: TAINT_UNSCHEDULABLE, effect: 'NoSchedule' }) ? undefined : 'node(s) were unschedulable';
}

/** NodeResourcesFit: requests against allocatable minus what bound pods request; pod count. */
export function filterResourcesFit(pod: Pod, info: NodeInfo): string[] {
  const reasons: string[] = [];
  const alloc = allocatable(info.node);
  if (info.pods.length + 1 > alloc.pods) reasons.push('Too many pods');
  const req = podRequests(pod);
  if (req.milliCpu > 0 && req.milliCpu > alloc.milliCpu - info.requested.milliCpu) reasons.push('Insufficient cpu');
  if (req.memoryBytes > 0 && req.memoryBytes > alloc.memoryBytes - info.requested.memoryBytes) reasons.push('Insufficient memory');
  return reasons;
}

/** NodeAffinity's nodeSelector part: every label must be on the node. */
export function filterNodeSelector(pod: Pod, info: NodeInfo): string | undefined {
  const sel = pod.spec.nodeSelector;
  if (sel === undefined) return undefined;
  const labels = info.node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(sel)) if (labels[k] !== v) return "node(s) didn't match node selector";
  return undefined;
}

/** TaintToleration: NoSchedule and NoExecute taints must be tolerated. */
export function filterTaints(pod: Pod, info: NodeInfo): string | undefined {
  for (const taint of info.node.spec?.taints ?? []) {
    if (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') continue;
    if (!tolerates(pod.spec.tolerations, taint)) return `node(s) had taint {${taint.key}: ${taint.value ?? ''}}, that the pod didn't tolerate`;
  }
  return undefined;
}

/** NodePorts: a hostPort may be used once per node. */
export function filterHostPorts(pod: Pod, info: NodeInfo): string | undefined {
  for (const hp of hostPorts(pod)) if (info.usedHostPorts.has(hp)) return "node(s) didn't have free ports for the requested pod ports";
  return undefined;
}

/** Every reason the node is unfit for the pod (empty: it fits). */
export function filterNode(pod: Pod, info: NodeInfo): string[] {
  const reasons: string[] = [];
  const one = (r: string | undefined): void => {
    if (r !== undefined) reasons.push(r);
  };
  one(filterNodeReady(pod, info));
  one(filterUnschedulable(pod, info));
  one(filterNodeSelector(pod, info));
  one(filterTaints(pod, info));
  one(filterHostPorts(pod, info));
  reasons.push(...filterResourcesFit(pod, info));
  return reasons;
}

/** kube's FitError text: "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) were not ready." */
export function fitErrorMessage(nodeCount: number, reasonsByNode: readonly string[][]): string {
  const counts = new Map<string, number>();
  for (const reasons of reasonsByNode) for (const r of reasons) counts.set(r, (counts.get(r) ?? 0) + 1);
  const parts = [...counts].map(([r, n]) => `${n} ${r}`).sort();
  if (nodeCount === 0) return 'no nodes available to schedule pods';
  return `0/${nodeCount} nodes are available: ${parts.join(', ')}.`;
}
