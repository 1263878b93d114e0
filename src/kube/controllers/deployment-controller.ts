// The Deployment controller loop: for each Deployment, claim its ReplicaSets (adopt matching
// orphans, release those that stopped matching), compute kube's plan (deployment-sync.ts) and
// execute it in order. Any failed write (a conflict on a stale cache, say) stops the plan and
// requeues the Deployment with backoff; the next sync recomputes from fresh state.

import type { Logger } from 'pino';
import { isAlreadyExists, isNotFound } from '../client/api-error.js';
import type { Deployment, ReplicaSet } from '../client/apps-types.js';
import type { Pod } from '../client/core-types.js';
import type { OwnerReference } from '../client/meta-types.js';
import { DEPLOYMENTS, PODS, REPLICASETS } from '../client/resource-ref.js';
import { objectKey, type Informer } from '../informer/informer.js';
import { defaultControllerRateLimiter } from '../informer/rate-limiter.js';
import { WorkQueue } from '../informer/work-queue.js';
import { getControllerOf, newControllerRef, selectorOf } from './controller-ref.js';
import { planDeploymentSync, type DeploymentAction } from './deployment-sync.js';
import { equalIgnoreHash, REVISION_ANNOTATION } from './deployment-util.js';
import { BY_NAMESPACE, indexByNamespace } from './indexes.js';
import { runWorkers, type SyncResult } from './queue-worker.js';
import type { ControllerContext } from './replicaset-controller.js';
import { claimObjects, ownerRefsPatch } from './replicaset-sync.js';

export class DeploymentController {
  private readonly queue: WorkQueue<string>;
  private readonly dInf: Informer<Deployment>;
  private readonly rsInf: Informer<ReplicaSet>;
  private readonly podInf: Informer<Pod>;
  private readonly log: Logger | undefined;

  constructor(private readonly ctx: ControllerContext) {
    this.queue = new WorkQueue<string>(ctx.clock, defaultControllerRateLimiter<string>(ctx.clock));
    this.dInf = ctx.informers.get<Deployment>(DEPLOYMENTS);
    this.rsInf = ctx.informers.get<ReplicaSet>(REPLICASETS);
    this.podInf = ctx.informers.get<Pod>(PODS);
    indexByNamespace(this.dInf);
    indexByNamespace(this.rsInf);
    indexByNamespace(this.podInf);
    this.log = ctx.logger?.child({ controller: 'deployment' });
    this.dInf.addHandlers({
      onAdd: (d) => this.queue.add(objectKey(d)),
      onUpdate: (_old, d) => this.queue.add(objectKey(d)),
      onDelete: (d) => this.queue.add(objectKey(d)),
    });
    this.rsInf.addHandlers({
      onAdd: (rs) => this.enqueueFor(rs),
      onUpdate: (old, rs) => {
        const oldRef = getControllerOf(old);
        const ref = getControllerOf(rs);
        if (oldRef !== undefined && oldRef.uid !== ref?.uid) this.enqueueFor(old);
        this.enqueueFor(rs);
      },
      onDelete: (rs) => this.enqueueFor(rs),
    });
    // Recreate waits for old pods to be gone: their deletion is news.
    this.podInf.addHandlers({
      onDelete: (pod) => {
        const ref = getControllerOf(pod);
        if (ref?.kind !== 'ReplicaSet') return;
        const rs = this.rsInf.get(pod.metadata.namespace, ref.name);
        if (rs !== undefined) this.enqueueFor(rs, true);
      },
    });
  }

  async run(signal: AbortSignal, workers = 5): Promise<void> {
    if (!(await this.ctx.informers.waitForSync(signal))) return;
    await runWorkers('deployment', this.queue, workers, (key) => this.sync(key), signal, this.log);
  }

  /** Enqueues the ReplicaSet's controlling Deployment, or for an orphan every Deployment selecting it. */
  private enqueueFor(rs: ReplicaSet, onlyRecreate = false): void {
    const ref = getControllerOf(rs);
    if (ref !== undefined) {
      if (ref.kind !== 'Deployment') return;
      const d = this.dInf.get(rs.metadata.namespace, ref.name);
      if (d === undefined || d.metadata.uid !== ref.uid) return;
      if (onlyRecreate && d.spec.strategy?.type !== 'Recreate') return;
      this.queue.add(objectKey(d));
      return;
    }
    if (onlyRecreate) return;
    for (const d of this.dInf.byIndex(BY_NAMESPACE, rs.metadata.namespace ?? '')) {
      if (selectorOf(d.spec.selector).matches(rs.metadata.labels ?? {})) this.queue.add(objectKey(d));
    }
  }

  private async sync(key: string): Promise<SyncResult | void> {
    const d = this.dInf.getByKey(key);
    if (d === undefined) return;
    const ns = d.metadata.namespace ?? '';
    const claims = claimObjects(d, selectorOf(d.spec.selector), this.rsInf.byIndex(BY_NAMESPACE, ns));
    const ref = newControllerRef(d, 'apps/v1', 'Deployment');
    let owned = claims.owned;
    for (const rs of claims.adopt) {
      if (!(await this.patchOwners(rs, [...(rs.metadata.ownerReferences ?? []), ref]))) owned = owned.filter((x) => x !== rs);
    }
    for (const rs of claims.release) await this.patchOwners(rs, (rs.metadata.ownerReferences ?? []).filter((r) => r.uid !== d.metadata.uid));

    let podsByReplicaSet: Map<string, Pod[]> | undefined;
    if (d.spec.strategy?.type === 'Recreate') {
      podsByReplicaSet = new Map();
      const uids = new Set(owned.map((rs) => rs.metadata.uid));
      for (const pod of this.podInf.byIndex(BY_NAMESPACE, ns)) {
        const pref = getControllerOf(pod);
        if (pref === undefined || !uids.has(pref.uid)) continue;
        const list = podsByReplicaSet.get(pref.uid) ?? [];
        list.push(pod);
        podsByReplicaSet.set(pref.uid, list);
      }
    }
    const plan = planDeploymentSync({ deployment: d, replicaSets: owned, podsByReplicaSet, now: this.ctx.clock.wallTime() });
    await this.execute(d, plan.actions);
    if (plan.requeueAfterMs !== undefined) return { requeueAfterMs: plan.requeueAfterMs };
  }

  private async patchOwners(rs: ReplicaSet, refs: OwnerReference[]): Promise<boolean> {
    try {
      await this.ctx.client.patch(REPLICASETS, rs.metadata.namespace, rs.metadata.name ?? '', 'merge', ownerRefsPatch(rs, refs));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  private async execute(d: Deployment, actions: DeploymentAction[]): Promise<void> {
    const { client, recorder } = this.ctx;
    const ns = d.metadata.namespace;
    // A ReplicaSet updated twice in one plan: the second write carries the first's new version.
    const versions = new Map<string, string | undefined>();
    for (const a of actions) {
      switch (a.type) {
        case 'createReplicaSet': {
          try {
            const created = await client.create<ReplicaSet>(REPLICASETS, ns, a.rs);
            versions.set(created.metadata.name ?? '', created.metadata.resourceVersion);
          } catch (err) {
            if (!isAlreadyExists(err)) {
              recorder.event(d, 'Warning', 'FailedCreate', `Failed to create new replica set "${a.rs.metadata.name ?? ''}": ${(err as Error).message}`);
              throw err;
            }
            await this.handleCollision(d, a.rs);
            throw err;
          }
          break;
        }
        case 'updateReplicaSet': {
          const name = a.rs.metadata.name ?? '';
          const rs = { ...a.rs, metadata: { ...a.rs.metadata } };
          if (versions.has(name)) rs.metadata.resourceVersion = versions.get(name);
          const updated = await client.update<ReplicaSet>(REPLICASETS, rs);
          versions.set(name, updated.metadata.resourceVersion);
          break;
        }
        case 'deleteReplicaSet':
          try {
            await client.delete(REPLICASETS, ns, a.rs.metadata.name ?? '', { preconditions: { uid: a.rs.metadata.uid } });
          } catch (err) {
            if (!isNotFound(err)) throw err;
          }
          break;
        case 'updateStatus':
          await client.update<Deployment>(DEPLOYMENTS, { ...d, status: a.status }, { subresource: 'status' });
          break;
        case 'setRevision':
          await client.patch(DEPLOYMENTS, ns, d.metadata.name ?? '', 'merge', { metadata: { annotations: { [REVISION_ANNOTATION]: a.revision } } });
          break;
        case 'event':
          recorder.event(d, a.eventType, a.reason, a.message);
          break;
      }
    }
  }

  /**
   * The new ReplicaSet's name is taken. Ours with the same template: the cache was just behind.
   * Someone else's (or another template hashing alike): bump status.collisionCount so the next
   * hash differs, as kube does.
   */
  private async handleCollision(d: Deployment, wanted: ReplicaSet): Promise<void> {
    let existing: ReplicaSet;
    try {
      existing = await this.ctx.client.get<ReplicaSet>(REPLICASETS, d.metadata.namespace, wanted.metadata.name ?? '');
    } catch {
      return;
    }
    const ref = getControllerOf(existing);
    if (ref?.uid === d.metadata.uid && equalIgnoreHash(existing.spec.template, d.spec.template)) return;
    const status = { ...(d.status ?? {}), collisionCount: (d.status?.collisionCount ?? 0) + 1 };
    this.log?.info({ deployment: objectKey(d), replicaSet: wanted.metadata.name, collisionCount: status.collisionCount }, 'pod-template-hash collision');
    await this.ctx.client.update<Deployment>(DEPLOYMENTS, { ...d, status }, { subresource: 'status' });
  }
}
