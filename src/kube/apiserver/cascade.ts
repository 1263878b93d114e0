// propagationPolicy without a garbage collector. In Kubernetes the controller manager's GC deletes
// dependents; until one runs here, the apiserver does a best-effort version in process, looking
// only where this catalogue's owners have dependents (Deployment → ReplicaSets → Pods):
// - Orphan: ownerReferences to the owner are removed from its dependents before it is deleted.
// - Background: the owner goes at once, its dependents are deleted right after (not crash-safe:
//   if this replica dies meanwhile, a GC controller has to finish the job).
// - Foreground: the owner stays with the foregroundDeletion finalizer until its dependents are
//   gone, then the finalizer is removed and the owner goes.

import { isJsonObject, type JsonObject } from '../machinery/json.js';
import { findResource, type ResourceInfo } from '../machinery/resources.js';
import type { ApiContext } from './api-context.js';
import { finalizersOf, metaOf } from './object-meta.js';
import { DELETE_OBJECT } from './object-store.js';

export type Remover = (info: ResourceInfo, namespace: string, name: string, policy: 'Background' | 'Foreground') => Promise<void>;

const foregroundPollMs = 1000;
const foregroundLimitMs = 10 * 60 * 1000;

function dependentKinds(owner: ResourceInfo): ResourceInfo[] {
  const found = (resource: string, group: string): ResourceInfo[] => {
    const info = findResource(group, group === '' ? 'v1' : 'v1', resource);
    return info === undefined ? [] : [info];
  };
  if (owner.kind === 'Deployment') return found('replicasets', 'apps');
  if (owner.kind === 'ReplicaSet') return found('pods', '');
  return [];
}

function ownedBy(obj: JsonObject, uid: string): boolean {
  const refs = metaOf(obj).ownerReferences;
  return Array.isArray(refs) && refs.some((ref) => isJsonObject(ref) && ref.uid === uid);
}

async function dependentsOf(ctx: ApiContext, ownerInfo: ResourceInfo, owner: JsonObject): Promise<{ info: ResourceInfo; obj: JsonObject }[]> {
  const meta = metaOf(owner);
  const uid = meta.uid;
  const namespace = meta.namespace;
  if (typeof uid !== 'string' || typeof namespace !== 'string') return [];
  const out: { info: ResourceInfo; obj: JsonObject }[] = [];
  for (const info of dependentKinds(ownerInfo)) {
    const page = await ctx.objects.list(info, namespace, { filter: (obj) => ownedBy(obj, uid) });
    for (const obj of page.items) out.push({ info, obj });
  }
  return out;
}

export async function orphanDependents(ctx: ApiContext, ownerInfo: ResourceInfo, owner: JsonObject): Promise<void> {
  const uid = metaOf(owner).uid;
  for (const { info, obj } of await dependentsOf(ctx, ownerInfo, owner)) {
    const meta = metaOf(obj);
    await ctx.objects
      .guaranteedUpdate(info, String(meta.namespace), String(meta.name), (current) => {
        const m = metaOf(current);
        const refs = Array.isArray(m.ownerReferences) ? m.ownerReferences.filter((ref) => !(isJsonObject(ref) && ref.uid === uid)) : [];
        if (refs.length === 0) delete m.ownerReferences;
        else m.ownerReferences = refs;
        return current;
      })
      .catch((error: unknown) => {
        if ((error as { reason?: string }).reason !== 'NotFound') throw error;
      });
  }
}

export function cascadeBackground(ctx: ApiContext, ownerInfo: ResourceInfo, owner: JsonObject, remove: Remover): void {
  if (dependentKinds(ownerInfo).length === 0) return;
  void (async () => {
    for (const { info, obj } of await dependentsOf(ctx, ownerInfo, owner)) {
      const meta = metaOf(obj);
      await remove(info, String(meta.namespace), String(meta.name), 'Background').catch((error: unknown) => {
        if ((error as { reason?: string }).reason !== 'NotFound') throw error;
      });
    }
  })().catch((error: unknown) => ctx.log.warn({ err: error, owner: metaOf(owner).name }, 'background cascade failed; dependents left for a garbage collector'));
}

export function cascadeForeground(ctx: ApiContext, ownerInfo: ResourceInfo, owner: JsonObject, remove: Remover): void {
  const meta = metaOf(owner);
  const namespace = String(meta.namespace);
  const name = String(meta.name);
  void (async () => {
    const deadline = Date.now() + foregroundLimitMs;
    for (;;) {
      const dependents = await dependentsOf(ctx, ownerInfo, owner);
      if (dependents.length === 0) break;
      for (const { info, obj } of dependents) {
        const m = metaOf(obj);
        if (m.deletionTimestamp !== undefined) continue;
        await remove(info, namespace, String(m.name), 'Foreground').catch((error: unknown) => {
          if ((error as { reason?: string }).reason !== 'NotFound') throw error;
        });
      }
      if (Date.now() > deadline) throw new Error('dependents still present after 10 minutes');
      await new Promise((resolve) => setTimeout(resolve, foregroundPollMs));
    }
    await ctx.objects.guaranteedUpdate(ownerInfo, namespace, name, (current) => {
      if (metaOf(current).uid !== meta.uid) return current;
      const finalizers = finalizersOf(current).filter((f) => f !== 'foregroundDeletion');
      if (finalizers.length === 0) return DELETE_OBJECT;
      metaOf(current).finalizers = finalizers;
      return current;
    });
  })().catch((error: unknown) => {
    if ((error as { reason?: string }).reason === 'NotFound') return;
    ctx.log.warn({ err: error, owner: name }, 'foreground cascade failed; the owner keeps its foregroundDeletion finalizer');
  });
}
