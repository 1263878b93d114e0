// Node health decisions as pure functions (pkg/controller/nodelifecycle): a node whose kubelet
// has not renewed its Lease (or posted status) within the grace period gets Ready=Unknown with
// reason NodeStatusUnknown on every condition it reported; Ready other than True earns the
// not-ready / unreachable taints (NoSchedule and NoExecute), Ready=True loses them; pods that do
// not tolerate a NoExecute taint are evicted once their toleration time runs out.

import type { Node, NodeCondition, Pod, PodCondition, Taint } from '../client/core-types.js';
import { formatTime } from '../client/clock.js';
import { toleratesTaint } from '../scheduler/filters.js';

export const TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable';
export const TAINT_NOT_READY = 'node.kubernetes.io/not-ready';
const MANAGED = new Set([TAINT_UNREACHABLE, TAINT_NOT_READY]);

export function readyStatus(node: Node): 'True' | 'False' | 'Unknown' | undefined {
  return node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
}

/** Every condition the kubelet posted, turned Unknown (as tryUpdateNodeHealth does). */
export function unknownConditions(node: Node, now: Date): NodeCondition[] {
  const t = formatTime(now);
  const current = node.status?.conditions ?? [];
  const types = current.length > 0 ? current.map((c) => c.type) : ['Ready'];
  return types.map((type) => {
    const c = current.find((x) => x.type === type);
    if (c?.status === 'Unknown') return c;
    const next: NodeCondition = { type, status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastTransitionTime: t };
    if (c?.lastHeartbeatTime !== undefined) next.lastHeartbeatTime = c.lastHeartbeatTime;
    return next;
  });
}

/**
 * The node's taints with ours set for its Ready status: Unknown → unreachable, False → not-ready
 * (both effects), True → neither. Keeps foreign taints and the timeAdded of ours that stay.
 */
export function desiredTaints(node: Node, now: Date): Taint[] {
  const ready = readyStatus(node) ?? 'Unknown';
  const key = ready === 'True' ? undefined : ready === 'False' ? TAINT_NOT_READY : TAINT_UNREACHABLE;
  const existing = node.spec?.taints ?? [];
  const out = existing.filter((t) => !MANAGED.has(t.key) || t.key === key);
  if (key !== undefined) {
    for (const effect of ['NoSchedule', 'NoExecute'] as const) {
      if (!out.some((t) => t.key === key && t.effect === effect)) out.push(effect === 'NoExecute' ? { key, effect, timeAdded: formatTime(now) } : { key, effect });
    }
  }
  return out;
}

export function taintsEqual(a: readonly Taint[] | undefined, b: readonly Taint[] | undefined): boolean {
  const norm = (l: readonly Taint[] | undefined): string[] => (l ?? []).map((t) => `${t.key}=${t.value ?? ''}:${t.effect}`).sort();
  return JSON.stringify(norm(a)) === JSON.stringify(norm(b));
}

/**
 * When (ms since epoch) the taint manager evicts `pod` from a node with `taints`, or undefined
 * if never. A pod without any toleration for a NoExecute taint of ours is treated as if the
 * DefaultTolerationSeconds admission plugin had given it one of `defaultTolerationSeconds`;
 * an explicit toleration without tolerationSeconds tolerates forever.
 */
export function evictionTimeMs(pod: Pod, taints: readonly Taint[], defaultTolerationSeconds: number): number | undefined {
  let at: number | undefined;
  for (const taint of taints) {
    if (taint.effect !== 'NoExecute') continue;
    const added = Date.parse(taint.timeAdded ?? '') || 0;
    const matching = (pod.spec.tolerations ?? []).filter((t) => toleratesTaint(t, taint));
    let seconds: number | undefined;
    if (matching.length > 0) {
      if (matching.some((t) => t.tolerationSeconds === undefined || t.tolerationSeconds === null)) continue;
      seconds = Math.max(0, Math.min(...matching.map((t) => t.tolerationSeconds as number)));
    } else if (MANAGED.has(taint.key)) {
      seconds = defaultTolerationSeconds;
    } else {
      seconds = 0;
    }
    const when = added + seconds * 1000;
    at = at === undefined ? when : Math.min(at, when);
  }
  return at;
}

/** The pod's conditions with Ready=False (MarkPodsNotReady), or undefined when it is not Ready. */
export function podNotReadyConditions(pod: Pod, now: Date): PodCondition[] | undefined {
  const conditions = pod.status?.conditions ?? [];
  const ready = conditions.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return undefined;
  return conditions.map((c) => (c.type === 'Ready' ? { ...c, status: 'False', lastTransitionTime: formatTime(now) } : c));
}
