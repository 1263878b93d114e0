// A garbage collector for the owner kinds this cluster serves (Deployment → ReplicaSet → Pod, and
// Node → its Lease in kube-node-lease): a dependent whose owners are all gone is deleted
// (background propagation); ownerReferences to owners that are gone, on a dependent that still
// has a live owner, are removed. The apiserver already cascades deletes in process; this
// finishes the job when that was interrupted (an apiserver replica died mid-cascade). As kube's
// GC does, an owner missing from the cache is confirmed absent with a live read (by name, then
// uid) before anything is deleted, so a stale or still-syncing cache never destroys objects.

import type { Logger } from 'pino';
import { describeError, isNotFound } from '../client/api-error.js';
import type { KubeObject, OwnerReference } from '../client/meta-types.js';
import { DEPLOYMENTS, LEASES, NODES, PODS, REPLICASETS, type ResourceRef } from '../client/resource-ref.js';
import type { Informer } from '../informer/informer.js';
import { defaultControllerRateLimiter } from '../informer/rate-limiter.js';
import { WorkQueue } from '../informer/work-queue.js';
import { runWorkers } from './queue-worker.js';
import type { ControllerContext } from './replicaset-controller.js';

/** Owner kinds we can look up, by "apiVersion/kind". */
const OWNERS: Record<string, ResourceRef> = {
  'apps/v1/Deployment': DEPLOYMENTS,
  'apps/v1/ReplicaSet': REPLICASETS,
  'v1/Node': NODES,
};

export function ownerResource(ref: OwnerReference): ResourceRef | undefined {
  return OWNERS[`${ref.apiVersion}/${ref.kind}`];
}

export type GcDecision = { action: 'keep' } | { action: 'delete' } | { action: 'dropRefs'; keep: OwnerReference[] };

/** Given which owners exist, what to do with the dependent. */
export function gcDecision(obj: KubeObject, ownerExists: (ref: OwnerReference) => boolean | undefined): GcDecision {
  const refs = obj.metadata.ownerReferences ?? [];
  if (refs.length === 0 || obj.metadata.deletionTimestamp !== undefined) return { action: 'keep' };
  const live: OwnerReference[] = [];
  let dangling = 0;
  for (const ref of refs) {
    const exists = ownerExists(ref);
    // Unknown kinds (undefined) count as alive: we cannot tell.
    if (exists === false) dangling++;
    else live.push(ref);
  }
  if (dangling === 0) return { action: 'keep' };
  if (live.length === 0) return { action: 'delete' };
  return { action: 'dropRefs', keep: live };
}

interface Watched {
  resource: ResourceRef;
  informer: Informer<KubeObject>;
}

export class GarbageCollector {
  private readonly queue: WorkQueue<string>;
  private readonly owners = new Map<string, Informer<KubeObject>>();
  private readonly dependents: Watched[];
  private readonly log: Logger | undefined;
  readonly stats = { deleted: 0, refsDropped: 0 };

  constructor(private readonly ctx: ControllerContext) {
    this.queue = new WorkQueue<string>(ctx.clock, defaultControllerRateLimiter<string>(ctx.clock));
    this.log = ctx.logger?.child({ controller: 'garbagecollector' });
    for (const [key, res] of Object.entries(OWNERS)) this.owners.set(key, ctx.informers.get<KubeObject>(res));
    this.dependents = [
      { resource: REPLICASETS, informer: ctx.informers.get<KubeObject>(REPLICASETS) },
      { resource: PODS, informer: ctx.informers.get<KubeObject>(PODS) },
      { resource: LEASES, informer: ctx.informers.get<KubeObject>(LEASES, 'kube-node-lease') },
    ];
    this.dependents.forEach((d, i) => {
      const enqueue = (o: KubeObject): void => {
        if ((o.metadata.ownerReferences ?? []).length > 0) this.queue.add(`${i}|${o.metadata.namespace ?? ''}|${o.metadata.name ?? ''}`);
      };
      d.informer.addHandlers({ onAdd: enqueue, onUpdate: (_o, n) => enqueue(n) });
    });
    // An owner going away is news for everything that points at it.
    for (const owner of this.owners.values()) {
      owner.addHandlers({
        onDelete: (gone) => {
          this.dependents.forEach((d, i) => {
            for (const o of d.informer.list()) {
              if ((o.metadata.ownerReferences ?? []).some((r) => r.uid === gone.metadata.uid)) this.queue.add(`${i}|${o.metadata.namespace ?? ''}|${o.metadata.name ?? ''}`);
            }
          });
        },
      });
    }
  }

  async run(signal: AbortSignal, workers = 2): Promise<void> {
    if (!(await this.ctx.informers.waitForSync(signal))) return;
    await runWorkers('garbagecollector', this.queue, workers, (key) => this.sync(key), signal, this.log);
  }

  /** Cached answer; undefined when the cache does not know (unknown kind). */
  private cachedOwnerExists(ref: OwnerReference, namespace: string | undefined): boolean | undefined {
    const res = ownerResource(ref);
    if (res === undefined) return undefined;
    const inf = this.owners.get(`${ref.apiVersion}/${ref.kind}`);
    const obj = inf?.get(res.namespaced ? namespace : undefined, ref.name);
    return obj !== undefined && obj.metadata.uid === ref.uid;
  }

  /** Live read: the owner by name, and the same incarnation (uid). */
  private async liveOwnerExists(ref: OwnerReference, namespace: string | undefined): Promise<boolean> {
    const res = ownerResource(ref);
    if (res === undefined) return true;
    try {
      const obj = await this.ctx.client.get<KubeObject>(res, res.namespaced ? namespace : undefined, ref.name);
      return obj.metadata.uid === ref.uid;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  private async sync(key: string): Promise<void> {
    const [idx, namespace, name] = key.split('|') as [string, string, string];
    const dep = this.dependents[Number(idx)];
    if (dep === undefined) return;
    const obj = dep.informer.get(namespace === '' ? undefined : namespace, name);
    if (obj === undefined) return;
    const ns = obj.metadata.namespace;
    const cached = gcDecision(obj, (ref) => this.cachedOwnerExists(ref, ns));
    if (cached.action === 'keep') return;
    // Confirm every owner the cache thinks is gone.
    const live = new Map<string, boolean>();
    for (const ref of obj.metadata.ownerReferences ?? []) {
      if (this.cachedOwnerExists(ref, ns) === false) live.set(ref.uid, await this.liveOwnerExists(ref, ns));
    }
    const decision = gcDecision(obj, (ref) => (live.has(ref.uid) ? live.get(ref.uid) : this.cachedOwnerExists(ref, ns)));
    if (decision.action === 'delete') {
      try {
        await this.ctx.client.delete(dep.resource, ns, name, { propagationPolicy: 'Background', preconditions: { uid: obj.metadata.uid } });
        this.stats.deleted++;
        this.log?.info({ resource: dep.resource.resource, namespace: ns, name }, 'deleted object whose owners are gone');
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    } else if (decision.action === 'dropRefs') {
      try {
        await this.ctx.client.patch(dep.resource, ns, name, 'merge', { metadata: { ownerReferences: decision.keep, resourceVersion: obj.metadata.resourceVersion, uid: obj.metadata.uid } });
        this.stats.refsDropped++;
      } catch (err) {
        this.log?.debug({ key, err: describeError(err) }, 'could not drop dangling owner references');
        throw err;
      }
    }
  }
}
