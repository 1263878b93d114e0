// Score plugins (0-100 each, higher is better), summed with weight 1 as in the default profile:
// least allocated (favour emptier nodes), spread of one owner's pods across nodes, and fewer
// untolerated PreferNoSchedule taints.

import type { Pod } from '../client/core-types.js';
import { tolerates } from './filters.js';
import { allocatable, podRequests, type NodeInfo } from './node-info.js';

export const MAX_NODE_SCORE = 100;

function leastRequested(requested: number, capacity: number): number {
  if (capacity <= 0 || requested > capacity) return 0;
  return ((capacity - requested) * MAX_NODE_SCORE) / capacity;
}

/** NodeResourcesLeastAllocated over cpu and memory, counting this pod (with non-zero defaults). */
export function scoreLeastAllocated(pod: Pod, info: NodeInfo): number {
  const alloc = allocatable(info.node);
  const req = podRequests(pod, true);
  const cpu = leastRequested(info.nonZeroRequested.milliCpu + req.milliCpu, alloc.milliCpu);
  const mem = leastRequested(info.nonZeroRequested.memoryBytes + req.memoryBytes, alloc.memoryBytes);
  return Math.floor((cpu + mem) / 2);
}

/** The controller ownerReference's uid: pods of one ReplicaSet (or other owner) share it. */
export function controllerUid(pod: Pod): string | undefined {
  return pod.metadata.ownerReferences?.find((r) => r.controller === true)?.uid;
}

/** How many pods with the same controller already sit on each node (SelectorSpread's count). */
export function ownerCounts(pod: Pod, infos: readonly NodeInfo[]): number[] {
  const uid = controllerUid(pod);
  return infos.map((info) => (uid === undefined ? 0 : info.pods.filter((p) => controllerUid(p) === uid && p.metadata.deletionTimestamp === undefined).length));
}

/** SelectorSpread normalised: 100 where the owner has fewest pods, 0 where it has the most. */
export function scoreSpread(counts: readonly number[]): number[] {
  const max = Math.max(0, ...counts);
  return counts.map((c) => (max === 0 ? MAX_NODE_SCORE : Math.floor((MAX_NODE_SCORE * (max - c)) / max)));
}

/** TaintToleration's score: fewer untolerated PreferNoSchedule taints is better. */
export function scoreTaints(pod: Pod, infos: readonly NodeInfo[]): number[] {
  const counts = infos.map((info) => (info.node.spec?.taints ?? []).filter((t) => t.effect === 'PreferNoSchedule' && !tolerates(pod.spec.tolerations, t)).length);
  const max = Math.max(0, ...counts);
  return counts.map((c) => (max === 0 ? MAX_NODE_SCORE : Math.floor((MAX_NODE_SCORE * (max - c)) / max)));
}

/** Total score per node, in the order given. */
export function scoreNodes(pod: Pod, infos: readonly NodeInfo[]): number[] {
  const spread = scoreSpread(ownerCounts(pod, infos));
  const taints = scoreTaints(pod, infos);
  return infos.map((info, i) => scoreLeastAllocated(pod, info) + (spread[i] ?? 0) + (taints[i] ?? 0));
}
