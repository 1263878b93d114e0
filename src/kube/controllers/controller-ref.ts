// ownerReferences helpers (metav1.GetControllerOf / NewControllerRef) and the selector adapter
// over the machinery's metav1.LabelSelector matching.

import type { Pod } from '../client/core-types.js';
import type { KubeObject, LabelSelector, OwnerReference } from '../client/meta-types.js';
import type { JsonValue } from '../machinery/json.js';
import { labelSelectorFromObject, type LabelSelector as Selector } from '../machinery/label-selector.js';

export function getControllerOf(obj: KubeObject): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller === true);
}

export function newControllerRef(owner: KubeObject, apiVersion: string, kind: string): OwnerReference {
  return { apiVersion, kind, name: owner.metadata.name ?? '', uid: owner.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

/** metav1.LabelSelectorAsSelector: undefined matches nothing, {} everything; a bad selector matches nothing. */
export function selectorOf(sel: LabelSelector | undefined): Selector {
  try {
    return labelSelectorFromObject(sel as unknown as JsonValue | undefined);
  } catch {
    return labelSelectorFromObject(undefined);
  }
}

export function isPodReady(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}

/** podutil.IsPodAvailable: ready for at least minReadySeconds. */
export function isPodAvailable(pod: Pod, minReadySeconds: number, nowMs: number): boolean {
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return false;
  if (minReadySeconds === 0) return true;
  if (ready.lastTransitionTime === undefined) return false;
  return Date.parse(ready.lastTransitionTime) + minReadySeconds * 1000 < nowMs;
}

/** controller.IsPodActive: not terminated and not being deleted. */
export function isPodActive(pod: Pod): boolean {
  return pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed' && pod.metadata.deletionTimestamp === undefined;
}
