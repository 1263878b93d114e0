// The ReplicaSet controller's decisions as pure functions (pkg/controller/replicaset and
// controller_ref_manager.go): which objects to adopt or release, which pods to delete first,
// the pod a template stamps out, and the status to report.

import type { ReplicaSet, ReplicaSetCondition, ReplicaSetStatus } from '../client/apps-types.js';
import type { Pod } from '../client/core-types.js';
import { formatTime } from '../client/clock.js';
import type { KubeObject, OwnerReference } from '../client/meta-types.js';
import type { LabelSelector as Selector } from '../machinery/label-selector.js';
import { getControllerOf, isPodAvailable, isPodReady } from './controller-ref.js';

export const BURST_REPLICAS = 500;

export interface Claims<T> {
  /** Ours and matching (including those about to be adopted). */
  owned: T[];
  /** Orphans that match: to be given our controller ownerReference. */
  adopt: T[];
  /** Ours but no longer matching: to have our ownerReference removed. */
  release: T[];
}

/** ClaimObject for every candidate: adopt matching orphans, release non-matching dependents. */
export function claimObjects<T extends KubeObject>(owner: KubeObject, selector: Selector, candidates: readonly T[]): Claims<T> {
  const out: Claims<T> = { owned: [], adopt: [], release: [] };
  const ownerUid = owner.metadata.uid;
  const ownerDeleting = owner.metadata.deletionTimestamp !== undefined;
  for (const obj of candidates) {
    const ref = getControllerOf(obj);
    const matches = selector.matches(obj.metadata.labels ?? {});
    if (ref !== undefined) {
      if (ref.uid !== ownerUid) continue;
      if (matches) out.owned.push(obj);
      else if (!ownerDeleting) out.release.push(obj);
      continue;
    }
    if (ownerDeleting || !matches || obj.metadata.deletionTimestamp !== undefined) continue;
    out.adopt.push(obj);
    out.owned.push(obj);
  }
  return out;
}

/** A merge patch (with a resourceVersion precondition) that sets `refs` as the ownerReferences. */
export function ownerRefsPatch(obj: KubeObject, refs: OwnerReference[]): { metadata: { ownerReferences: OwnerReference[]; resourceVersion?: string; uid?: string } } {
  return { metadata: { ownerReferences: refs, resourceVersion: obj.metadata.resourceVersion, uid: obj.metadata.uid } };
}

/** GetPodFromTemplate: what a ReplicaSet creates. */
export function podFromTemplate(rs: ReplicaSet, controllerRef: OwnerReference): Pod {
  const t = rs.spec.template;
  const meta = t?.metadata ?? {};
  const pod: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${rs.metadata.name ?? ''}-`,
      namespace: rs.metadata.namespace,
      labels: { ...(meta.labels ?? {}) },
      ownerReferences: [controllerRef],
    },
    spec: structuredClone(t?.spec ?? { containers: [] }),
  };
  if (meta.annotations !== undefined) pod.metadata.annotations = { ...meta.annotations };
  if (meta.finalizers !== undefined) pod.metadata.finalizers = [...meta.finalizers];
  return pod;
}

const PHASE_ORDER: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

function readySince(pod: Pod): number {
  const c = pod.status?.conditions?.find((x) => x.type === 'Ready');
  return c?.lastTransitionTime === undefined ? 0 : Date.parse(c.lastTransitionTime) || 0;
}

function restarts(pod: Pod): number {
  return (pod.status?.containerStatuses ?? []).reduce((m, c) => Math.max(m, c.restartCount ?? 0), 0);
}

function createdAt(pod: Pod): number {
  return Date.parse(pod.metadata.creationTimestamp ?? '') || 0;
}

/**
 * getPodsToDelete: the `n` pods to remove first, by ActivePodsWithRanks: unscheduled before
 * scheduled, Pending before Unknown before Running, not ready before ready, pods doubled up on a
 * node before lone ones, ready more recently before longer, more restarts before fewer, newer
 * before older.
 */
export function podsToDelete(pods: readonly Pod[], n: number): Pod[] {
  if (n <= 0) return [];
  const perNode = new Map<string, number>();
  for (const p of pods) {
    const node = p.spec.nodeName ?? '';
    if (node !== '') perNode.set(node, (perNode.get(node) ?? 0) + 1);
  }
  const rank = (p: Pod): number => perNode.get(p.spec.nodeName ?? '') ?? 0;
  const sorted = [...pods].sort((a, b) => {
    const an = a.spec.nodeName ?? '';
    const bn = b.spec.nodeName ?? '';
    if (an !== bn && (an === '' || bn === '')) return an === '' ? -1 : 1;
    const pa = PHASE_ORDER[a.status?.phase ?? 'Pending'] ?? 0;
    const pb = PHASE_ORDER[b.status?.phase ?? 'Pending'] ?? 0;
    if (pa !== pb) return pa - pb;
    if (isPodReady(a) !== isPodReady(b)) return isPodReady(a) ? 1 : -1;
    if (rank(a) !== rank(b)) return rank(b) - rank(a);
    if (isPodReady(a) && isPodReady(b) && readySince(a) !== readySince(b)) return readySince(b) - readySince(a);
    if (restarts(a) !== restarts(b)) return restarts(b) - restarts(a);
    if (createdAt(a) !== createdAt(b)) return createdAt(b) - createdAt(a);
    return 0;
  });
  return sorted.slice(0, n);
}

/** calculateStatus (replica_set_utils.go), observedGeneration included. */
export function calculateReplicaSetStatus(rs: ReplicaSet, pods: readonly Pod[], manageError: string | undefined, now: Date): ReplicaSetStatus {
  const templateLabels = rs.spec.template?.metadata?.labels ?? {};
  let fullyLabeled = 0;
  let ready = 0;
  let available = 0;
  for (const pod of pods) {
    const labels = pod.metadata.labels ?? {};
    if (Object.entries(templateLabels).every(([k, v]) => labels[k] === v)) fullyLabeled++;
    if (isPodReady(pod)) {
      ready++;
      if (isPodAvailable(pod, rs.spec.minReadySeconds ?? 0, now.getTime())) available++;
    }
  }
  let conditions: ReplicaSetCondition[] = (rs.status?.conditions ?? []).map((c) => ({ ...c }));
  const failure = conditions.find((c) => c.type === 'ReplicaFailure');
  if (manageError !== undefined && failure === undefined) {
    const diff = pods.length - (rs.spec.replicas ?? 1);
    const reason = diff < 0 ? 'FailedCreate' : diff > 0 ? 'FailedDelete' : '';
    conditions.push({ type: 'ReplicaFailure', status: 'True', reason, message: manageError, lastTransitionTime: formatTime(now) });
  } else if (manageError === undefined && failure !== undefined) {
    conditions = conditions.filter((c) => c.type !== 'ReplicaFailure');
  }
  const status: ReplicaSetStatus = {
    replicas: pods.length,
    fullyLabeledReplicas: fullyLabeled,
    readyReplicas: ready,
    availableReplicas: available,
    observedGeneration: rs.metadata.generation ?? 0,
  };
  if (conditions.length > 0) status.conditions = conditions;
  return status;
}

/** Whether the computed status differs from what the ReplicaSet reports (updateReplicaSetStatus's check). */
export function replicaSetStatusChanged(rs: ReplicaSet, next: ReplicaSetStatus): boolean {
  const cur = rs.status;
  return (
    (cur?.replicas ?? 0) !== next.replicas ||
    (cur?.fullyLabeledReplicas ?? 0) !== (next.fullyLabeledReplicas ?? 0) ||
    (cur?.readyReplicas ?? 0) !== (next.readyReplicas ?? 0) ||
    (cur?.availableReplicas ?? 0) !== (next.availableReplicas ?? 0) ||
    (rs.metadata.generation ?? 0) !== (cur?.observedGeneration ?? 0) ||
    JSON.stringify(cur?.conditions ?? []) !== JSON.stringify(next.conditions ?? [])
  );
}
