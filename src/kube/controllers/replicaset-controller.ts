// The ReplicaSet controller loop (pkg/controller/replicaset/replica_set.go): keeps as many active
// pods as spec.replicas, adopting matching orphans and releasing pods that stopped matching,
// with expectations so a stale cache never creates or deletes twice, slow-start batches of
// creations, and the status (replicas, ready, available, observedGeneration).

import type { Logger } from 'pino';
import { describeError, isAlreadyExists, isNotFound } from '../client/api-error.js';
import type { ReplicaSet } from '../client/apps-types.js';
import type { Clock } from '../client/clock.js';
import type { Pod } from '../client/core-types.js';
import type { EventRecorder } from '../client/event-recorder.js';
import type { KubeClient } from '../client/kube-client.js';
import type { KubeObject } from '../client/meta-types.js';
import { PODS, REPLICASETS } from '../client/resource-ref.js';
import { objectKey, splitKey, type Informer } from '../informer/informer.js';
import { defaultControllerRateLimiter } from '../informer/rate-limiter.js';
import type { SharedInformers } from '../informer/shared-informers.js';
import { WorkQueue } from '../informer/work-queue.js';
import { getControllerOf, isPodActive, isPodReady, newControllerRef, selectorOf } from './controller-ref.js';
import { ControllerExpectations } from './expectations.js';
import { BY_NAMESPACE, indexByNamespace } from './indexes.js';
import { runWorkers, type SyncResult } from './queue-worker.js';
import { BURST_REPLICAS, calculateReplicaSetStatus, claimObjects, ownerRefsPatch, podFromTemplate, podsToDelete, replicaSetStatusChanged } from './replicaset-sync.js';

export interface ControllerContext {
  client: KubeClient;
  informers: SharedInformers;
  clock: Clock;
  recorder: EventRecorder;
  logger?: Logger;
}

export class ReplicaSetController {
  private readonly queue: WorkQueue<string>;
  private readonly expectations: ControllerExpectations;
  private readonly rsInf: Informer<ReplicaSet>;
  private readonly podInf: Informer<Pod>;
  private readonly log: Logger | undefined;

  constructor(private readonly ctx: ControllerContext) {
    this.queue = new WorkQueue<string>(ctx.clock, defaultControllerRateLimiter<string>(ctx.clock));
    this.expectations = new ControllerExpectations(ctx.clock);
    this.rsInf = ctx.informers.get<ReplicaSet>(REPLICASETS);
    this.podInf = ctx.informers.get<Pod>(PODS);
    indexByNamespace(this.rsInf);
    indexByNamespace(this.podInf);
    this.log = ctx.logger?.child({ controller: 'replicaset' });
    this.rsInf.addHandlers({
      onAdd: (rs) => this.queue.add(objectKey(rs)),
      onUpdate: (_old, rs) => this.queue.add(objectKey(rs)),
      onDelete: (rs) => {
        this.expectations.delete(objectKey(rs));
        this.queue.add(objectKey(rs));
      },
    });
    this.podInf.addHandlers({
      onAdd: (pod) => this.addPod(pod),
      onUpdate: (old, pod) => this.updatePod(old, pod),
      onDelete: (pod) => this.deletePod(pod),
    });
  }

  async run(signal: AbortSignal, workers = 5): Promise<void> {
    if (!(await this.ctx.informers.waitForSync(signal))) return;
    await runWorkers('replicaset', this.queue, workers, (key) => this.sync(key), signal, this.log);
  }

  // ---- event handlers

  private ownerKey(pod: Pod): string | undefined {
    const ref = getControllerOf(pod);
    if (ref === undefined || ref.kind !== 'ReplicaSet') return undefined;
    const rs = this.rsInf.get(pod.metadata.namespace, ref.name);
    if (rs === undefined || rs.metadata.uid !== ref.uid) return undefined;
    return objectKey(rs);
  }

  /** ReplicaSets in the pod's namespace whose selector matches it (for orphans). */
  private matchingReplicaSets(pod: Pod): string[] {
    return this.rsInf
      .byIndex(BY_NAMESPACE, pod.metadata.namespace ?? '')
      .filter((rs) => selectorOf(rs.spec.selector).matches(pod.metadata.labels ?? {}))
      .map((rs) => objectKey(rs));
  }

  private addPod(pod: Pod): void {
    if (pod.metadata.deletionTimestamp !== undefined) {
      this.deletePod(pod);
      return;
    }
    const owner = this.ownerKey(pod);
    if (owner !== undefined) {
      this.expectations.creationObserved(owner);
      this.queue.add(owner);
      return;
    }
    if (getControllerOf(pod) === undefined) for (const key of this.matchingReplicaSets(pod)) this.queue.add(key);
  }

  private updatePod(old: Pod, pod: Pod): void {
    if (old.metadata.resourceVersion === pod.metadata.resourceVersion) return;
    const labelsChanged = JSON.stringify(old.metadata.labels ?? {}) !== JSON.stringify(pod.metadata.labels ?? {});
    if (pod.metadata.deletionTimestamp !== undefined) {
      this.deletePod(pod);
      if (labelsChanged) this.deletePod(old);
      return;
    }
    const oldOwner = this.ownerKey(old);
    const owner = this.ownerKey(pod);
    if (oldOwner !== undefined && oldOwner !== owner) this.queue.add(oldOwner);
    if (owner !== undefined) {
      this.queue.add(owner);
      // Becoming ready starts the minReadySeconds clock: look again when it runs out.
      const rs = this.rsInf.getByKey(owner);
      const minReady = rs?.spec.minReadySeconds ?? 0;
      if (minReady > 0 && !isPodReady(old) && isPodReady(pod)) this.queue.addAfter(owner, minReady * 1000 + 1000);
      return;
    }
    if (labelsChanged || getControllerOf(old) !== undefined) for (const key of this.matchingReplicaSets(pod)) this.queue.add(key);
  }

  private deletePod(pod: Pod): void {
    const owner = this.ownerKey(pod);
    if (owner === undefined) return;
    this.expectations.deletionObserved(owner, objectKey(pod));
    this.queue.add(owner);
  }

  // ---- sync

  private async sync(key: string): Promise<SyncResult | void> {
    const rs = this.rsInf.getByKey(key);
    if (rs === undefined) {
      this.expectations.delete(key);
      return;
    }
    const needsSync = this.expectations.satisfied(key);
    const namespace = rs.metadata.namespace ?? '';
    const candidates = this.podInf.byIndex(BY_NAMESPACE, namespace).filter(isPodActive);
    const claims = claimObjects(rs, selectorOf(rs.spec.selector), candidates);
    const controllerRef = newControllerRef(rs, 'apps/v1', 'ReplicaSet');
    let owned = claims.owned;
    for (const pod of claims.adopt) {
      if (!(await this.patchOwners(pod, [...(pod.metadata.ownerReferences ?? []), controllerRef]))) owned = owned.filter((p) => p !== pod);
    }
    for (const pod of claims.release) {
      await this.patchOwners(pod, (pod.metadata.ownerReferences ?? []).filter((r) => r.uid !== rs.metadata.uid));
    }
    let manageError: string | undefined;
    if (needsSync && rs.metadata.deletionTimestamp === undefined) {
      try {
        await this.manageReplicas(key, rs, owned, controllerRef);
      } catch (err) {
        manageError = describeError(err);
      }
    }
    await this.updateStatus(rs, calculateReplicaSetStatus(rs, owned, manageError, this.ctx.clock.wallTime()));
    if (manageError !== undefined) throw new Error(manageError);
    const minReady = rs.spec.minReadySeconds ?? 0;
    const ready = owned.filter(isPodReady).length;
    if (minReady > 0 && ready === (rs.spec.replicas ?? 1)) return { requeueAfterMs: minReady * 1000 };
  }

  /** Adopts or releases by rewriting ownerReferences (precondition: the version we decided on). */
  private async patchOwners(obj: KubeObject, refs: KubeObject['metadata']['ownerReferences'] & object): Promise<boolean> {
    try {
      await this.ctx.client.patch(PODS, obj.metadata.namespace, obj.metadata.name ?? '', 'merge', ownerRefsPatch(obj, refs));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  private async manageReplicas(key: string, rs: ReplicaSet, pods: Pod[], controllerRef: ReturnType<typeof newControllerRef>): Promise<void> {
    const diff = pods.length - (rs.spec.replicas ?? 1);
    if (diff < 0) {
      const n = Math.min(-diff, BURST_REPLICAS);
      this.expectations.expectCreations(key, n);
      const template = podFromTemplate(rs, controllerRef);
      // slowStartBatch: 1, 2, 4, ... so a failing template costs one request, not hundreds.
      let created = 0;
      let batch = 1;
      let firstError: unknown;
      while (created < n && firstError === undefined) {
        const size = Math.min(batch, n - created);
        const results = await Promise.allSettled(Array.from({ length: size }, () => this.ctx.client.create<Pod>(PODS, rs.metadata.namespace, template)));
        for (const r of results) {
          if (r.status === 'fulfilled') {
            this.ctx.recorder.event(rs, 'Normal', 'SuccessfulCreate', `Created pod: ${r.value.metadata.name ?? ''}`);
          } else {
            this.expectations.creationObserved(key);
            if (!isAlreadyExists(r.reason)) firstError ??= r.reason;
          }
        }
        created += size;
        batch *= 2;
      }
      // Creations never attempted will never be observed.
      for (let i = created; i < n; i++) this.expectations.creationObserved(key);
      if (firstError !== undefined) {
        this.ctx.recorder.event(rs, 'Warning', 'FailedCreate', `Error creating: ${describeError(firstError)}`);
        throw firstError;
      }
      return;
    }
    if (diff > 0) {
      const victims = podsToDelete(pods, Math.min(diff, BURST_REPLICAS));
      this.expectations.expectDeletions(key, victims.map(objectKey));
      const results = await Promise.allSettled(
        victims.map((pod) => this.ctx.client.delete(PODS, pod.metadata.namespace, pod.metadata.name ?? '', { preconditions: { uid: pod.metadata.uid } })),
      );
      let firstError: unknown;
      results.forEach((r, i) => {
        const pod = victims[i] as Pod;
        if (r.status === 'fulfilled') {
          this.ctx.recorder.event(rs, 'Normal', 'SuccessfulDelete', `Deleted pod: ${pod.metadata.name ?? ''}`);
          return;
        }
        this.expectations.deletionObserved(key, objectKey(pod));
        if (!isNotFound(r.reason)) firstError ??= r.reason;
      });
      if (firstError !== undefined) {
        this.ctx.recorder.event(rs, 'Warning', 'FailedDelete', `Error deleting: ${describeError(firstError)}`);
        throw firstError;
      }
    }
  }

  private async updateStatus(rs: ReplicaSet, status: ReturnType<typeof calculateReplicaSetStatus>): Promise<void> {
    if (!replicaSetStatusChanged(rs, status)) return;
    let current = rs;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.ctx.client.update<ReplicaSet>(REPLICASETS, { ...current, status }, { subresource: 'status' });
        return;
      } catch (err) {
        if (attempt >= 1 || isNotFound(err)) throw err;
        const { namespace, name } = splitKey(objectKey(rs));
        current = await this.ctx.client.get<ReplicaSet>(REPLICASETS, namespace, name);
        status.observedGeneration = current.metadata.generation ?? 0;
      }
    }
  }
}
