// One sync of one Deployment as a pure plan, following kubernetes pkg/controller/deployment
// (sync.go, rolling.go, recreate.go, progress.go) step for step: given the Deployment and the
// ReplicaSets it controls, return the writes kube's controller would make, in order. The loop
// (deployment-controller.ts) executes them; tests read them as transcripts.

import type { Deployment, DeploymentStatus, ReplicaSet } from '../client/apps-types.js';
import type { Pod } from '../client/core-types.js';
import { canonicalJson, computePodTemplateHash } from './pod-template-hash.js';
import { newControllerRef } from './controller-ref.js';
import {
  bySizeNewer,
  bySizeOlder,
  byCreation,
  calculateStatus,
  deploymentComplete,
  deploymentProgressing,
  deploymentTimedOut,
  desiredReplicasAnnotation,
  filterActive,
  findActiveOrLatest,
  findNewReplicaSet,
  findOldReplicaSets,
  getCondition,
  hasProgressDeadline,
  isRollingUpdate,
  isSaturated,
  maxRevision,
  maxSurge,
  maxUnavailable,
  newCondition,
  newRSNewReplicas,
  POD_TEMPLATE_HASH_LABEL,
  progressDeadlineSeconds,
  proportion,
  Reasons,
  removeCondition,
  replicasOf,
  REVISION_ANNOTATION,
  revisionHistoryLimit,
  revisionOf,
  rsReplicas,
  setCondition,
  setNewReplicaSetAnnotations,
  setReplicasAnnotations,
  sumAvailableReplicas,
  sumSpecReplicas,
  sumStatusReplicas,
} from './deployment-util.js';

export type DeploymentAction =
  | { type: 'createReplicaSet'; rs: ReplicaSet }
  | { type: 'updateReplicaSet'; rs: ReplicaSet }
  | { type: 'deleteReplicaSet'; rs: ReplicaSet }
  | { type: 'updateStatus'; status: DeploymentStatus }
  | { type: 'setRevision'; revision: string }
  | { type: 'event'; eventType: 'Normal' | 'Warning'; reason: string; message: string };

export interface DeploymentPlan {
  actions: DeploymentAction[];
  /** Sync again after this long even without news (progress deadline checks). */
  requeueAfterMs?: number;
}

export interface DeploymentSyncInput {
  deployment: Deployment;
  /** The ReplicaSets this Deployment controls (after adoption/release). */
  replicaSets: readonly ReplicaSet[];
  /** Pods by controlling ReplicaSet uid; only Recreate reads them. */
  podsByReplicaSet?: ReadonlyMap<string, readonly Pod[]>;
  now: Date;
}

const clone = <T>(v: T): T => structuredClone(v);

export function planDeploymentSync(input: DeploymentSyncInput): DeploymentPlan {
  return new DeploymentPlanner(input).plan();
}

class DeploymentPlanner {
  private readonly actions: DeploymentAction[] = [];
  private readonly d: Deployment;
  private readonly rsList: ReplicaSet[];
  private readonly originalStatus: string;
  private readonly originalRevision: string | undefined;
  private readonly now: Date;

  constructor(private readonly input: DeploymentSyncInput) {
    this.d = clone(input.deployment);
    this.d.status ??= {};
    this.rsList = input.replicaSets.map(clone);
    this.originalStatus = canonicalJson(input.deployment.status ?? {});
    this.originalRevision = input.deployment.metadata.annotations?.[REVISION_ANNOTATION];
    this.now = input.now;
  }

  plan(): DeploymentPlan {
    const d = this.d;
    const sel = d.spec.selector;
    const selectsAll = sel !== undefined && Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0;
    if (selectsAll) {
      this.event('Warning', 'SelectingAll', 'This deployment is selecting all pods. A non-empty selector is required.');
      if ((d.status?.observedGeneration ?? 0) < (d.metadata.generation ?? 0)) (d.status as DeploymentStatus).observedGeneration = d.metadata.generation;
      return this.finish();
    }
    if (d.metadata.deletionTimestamp !== undefined) {
      this.syncStatusOnly();
      return this.finish();
    }
    this.checkPausedConditions();
    if (d.spec.paused === true) {
      this.sync();
      return this.finish();
    }
    if (this.isScalingEvent()) {
      this.sync();
      return this.finish();
    }
    if (isRollingUpdate(d)) this.rolloutRolling();
    else this.rolloutRecreate();
    return this.finish();
  }

  /** Status and revision writes go last, each at most once. */
  private finish(): DeploymentPlan {
    const status = this.d.status ?? {};
    if (canonicalJson(status) !== this.originalStatus) this.actions.push({ type: 'updateStatus', status: clone(status) });
    const rev = this.d.metadata.annotations?.[REVISION_ANNOTATION];
    if (rev !== undefined && rev !== this.originalRevision) this.actions.push({ type: 'setRevision', revision: rev });
    const plan: DeploymentPlan = { actions: this.actions };
    const requeue = this.stuckRequeueMs(status);
    if (requeue !== undefined) plan.requeueAfterMs = requeue;
    return plan;
  }

  private event(eventType: 'Normal' | 'Warning', reason: string, message: string): void {
    this.actions.push({ type: 'event', eventType, reason, message });
  }

  // ---- new and old ReplicaSets (getAllReplicaSetsAndSyncRevision / getNewReplicaSet)

  private getAll(createIfNotExisted: boolean): { newRS: ReplicaSet | undefined; oldRSs: ReplicaSet[] } {
    const { all: oldRSs } = findOldReplicaSets(this.d, this.rsList);
    const newRS = this.getNewReplicaSet(oldRSs, createIfNotExisted);
    return { newRS, oldRSs };
  }

  private getNewReplicaSet(oldRSs: ReplicaSet[], createIfNotExisted: boolean): ReplicaSet | undefined {
    const d = this.d;
    const existing = findNewReplicaSet(d, this.rsList);
    const newRevision = maxRevision(oldRSs) + 1;
    if (existing !== undefined) {
      const annotationsUpdated = setNewReplicaSetAnnotations(d, existing, newRevision, true);
      const minReady = d.spec.minReadySeconds ?? 0;
      if (annotationsUpdated || (existing.spec.minReadySeconds ?? 0) !== minReady) {
        existing.spec.minReadySeconds = minReady;
        this.actions.push({ type: 'updateReplicaSet', rs: clone(existing) });
        return existing;
      }
      this.setDeploymentRevision(existing.metadata.annotations?.[REVISION_ANNOTATION] ?? '');
      if (hasProgressDeadline(d) && getCondition(d.status, 'Progressing') === undefined) {
        setCondition(d.status as DeploymentStatus, newCondition('Progressing', 'True', Reasons.FoundNewRS, `Found new replica set "${existing.metadata.name ?? ''}"`, this.now));
      }
      return existing;
    }
    if (!createIfNotExisted) return undefined;

    const template = clone(d.spec.template);
    const hash = computePodTemplateHash(template, d.status?.collisionCount);
    template.metadata ??= {};
    template.metadata.labels = { ...(template.metadata.labels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash };
    const selector = clone(d.spec.selector);
    selector.matchLabels = { ...(selector.matchLabels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash };
    const newRS: ReplicaSet = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `${d.metadata.name ?? ''}-${hash}`,
        namespace: d.metadata.namespace,
        ownerReferences: [newControllerRef(d, 'apps/v1', 'Deployment')],
        labels: { ...template.metadata.labels },
      },
      spec: { replicas: 0, minReadySeconds: d.spec.minReadySeconds ?? 0, selector, template },
    };
    newRS.spec.replicas = newRSNewReplicas(d, [...oldRSs, newRS], newRS);
    setNewReplicaSetAnnotations(d, newRS, newRevision, false);
    this.actions.push({ type: 'createReplicaSet', rs: clone(newRS) });
    this.rsList.push(newRS);
    if (rsReplicas(newRS) > 0) this.event('Normal', 'ScalingReplicaSet', `Scaled up replica set ${newRS.metadata.name ?? ''} to ${rsReplicas(newRS)}`);
    this.setDeploymentRevision(String(newRevision));
    if (hasProgressDeadline(d)) {
      setCondition(d.status as DeploymentStatus, newCondition('Progressing', 'True', Reasons.NewReplicaSet, `Created new replica set "${newRS.metadata.name ?? ''}"`, this.now));
    }
    return newRS;
  }

  private setDeploymentRevision(revision: string): void {
    if (revision === '') return;
    const ann = (this.d.metadata.annotations ??= {});
    if (ann[REVISION_ANNOTATION] !== revision) ann[REVISION_ANNOTATION] = revision;
  }

  // ---- scaling

  private scaleReplicaSetAndRecordEvent(rs: ReplicaSet, newScale: number): boolean {
    if (rsReplicas(rs) === newScale) return false;
    return this.scaleReplicaSet(rs, newScale, rsReplicas(rs) < newScale ? 'up' : 'down');
  }

  private scaleReplicaSet(rs: ReplicaSet, newScale: number, operation: string): boolean {
    const d = this.d;
    const sizeNeedsUpdate = rsReplicas(rs) !== newScale;
    const annotationsNeedUpdate = setReplicasAnnotations(clone(rs), replicasOf(d), replicasOf(d) + maxSurge(d));
    if (!sizeNeedsUpdate && !annotationsNeedUpdate) return false;
    rs.spec.replicas = newScale;
    setReplicasAnnotations(rs, replicasOf(d), replicasOf(d) + maxSurge(d));
    this.actions.push({ type: 'updateReplicaSet', rs: clone(rs) });
    if (sizeNeedsUpdate) this.event('Normal', 'ScalingReplicaSet', `Scaled ${operation} replica set ${rs.metadata.name ?? ''} to ${newScale}`);
    return sizeNeedsUpdate;
  }

  private isScalingEvent(): boolean {
    const { newRS, oldRSs } = this.getAll(false);
    for (const rs of filterActive([...oldRSs, newRS])) {
      const desired = desiredReplicasAnnotation(rs);
      if (desired === undefined) continue;
      if (desired !== replicasOf(this.d)) return true;
    }
    return false;
  }

  /** dc.sync: a resize or a paused deployment (no rollout). */
  private sync(): void {
    const { newRS, oldRSs } = this.getAll(false);
    this.scale(newRS, oldRSs);
    if (this.d.spec.paused === true) this.cleanupDeployment(oldRSs);
    this.syncDeploymentStatus([...oldRSs, ...(newRS === undefined ? [] : [newRS])], newRS);
  }

  /** dc.scale: proportional scaling across active ReplicaSets. */
  private scale(newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): void {
    const d = this.d;
    const activeOrLatest = findActiveOrLatest(newRS, oldRSs);
    if (activeOrLatest !== undefined) {
      if (rsReplicas(activeOrLatest) === replicasOf(d)) return;
      this.scaleReplicaSetAndRecordEvent(activeOrLatest, replicasOf(d));
      return;
    }
    if (isSaturated(d, newRS)) {
      for (const old of filterActive(oldRSs)) this.scaleReplicaSetAndRecordEvent(old, 0);
      return;
    }
    if (!isRollingUpdate(d)) return;
    const allRSs = filterActive([...oldRSs, newRS]);
    const allRSsReplicas = sumSpecReplicas(allRSs);
    const allowedSize = replicasOf(d) > 0 ? replicasOf(d) + maxSurge(d) : 0;
    const toAdd = allowedSize - allRSsReplicas;
    let operation = '';
    if (toAdd > 0) {
      allRSs.sort(bySizeNewer);
      operation = 'up';
    } else if (toAdd < 0) {
      allRSs.sort(bySizeOlder);
      operation = 'down';
    }
    let added = 0;
    const nameToSize = new Map<string, number>();
    for (const rs of allRSs) {
      if (toAdd !== 0) {
        const p = proportion(rs, d, toAdd, added);
        nameToSize.set(rs.metadata.name ?? '', rsReplicas(rs) + p);
        added += p;
      } else {
        nameToSize.set(rs.metadata.name ?? '', rsReplicas(rs));
      }
    }
    allRSs.forEach((rs, i) => {
      const name = rs.metadata.name ?? '';
      if (i === 0 && toAdd !== 0) {
        const leftover = toAdd - added;
        nameToSize.set(name, Math.max(0, (nameToSize.get(name) ?? 0) + leftover));
      }
      this.scaleReplicaSet(rs, nameToSize.get(name) ?? 0, operation);
    });
  }

  // ---- rolling update (rolling.go)

  private rolloutRolling(): void {
    const { newRS, oldRSs } = this.getAll(true);
    if (newRS === undefined) return;
    const allRSs = [...oldRSs, newRS];
    if (this.reconcileNewReplicaSet(allRSs, newRS)) {
      this.syncRolloutStatus(allRSs, newRS);
      return;
    }
    if (this.reconcileOldReplicaSets(allRSs, filterActive(oldRSs), newRS)) {
      this.syncRolloutStatus(allRSs, newRS);
      return;
    }
    if (deploymentComplete(this.d, this.d.status ?? {})) this.cleanupDeployment(oldRSs);
    this.syncRolloutStatus(allRSs, newRS);
  }

  private reconcileNewReplicaSet(allRSs: ReplicaSet[], newRS: ReplicaSet): boolean {
    const want = replicasOf(this.d);
    if (rsReplicas(newRS) === want) return false;
    if (rsReplicas(newRS) > want) return this.scaleReplicaSetAndRecordEvent(newRS, want);
    return this.scaleReplicaSetAndRecordEvent(newRS, newRSNewReplicas(this.d, allRSs, newRS));
  }

  private reconcileOldReplicaSets(allRSs: ReplicaSet[], oldRSs: ReplicaSet[], newRS: ReplicaSet): boolean {
    const d = this.d;
    if (sumSpecReplicas(oldRSs) === 0) return false;
    const allPods = sumSpecReplicas(allRSs);
    const minAvailable = replicasOf(d) - maxUnavailable(d);
    const newRSUnavailable = rsReplicas(newRS) - (newRS.status?.availableReplicas ?? 0);
    const maxScaledDown = allPods - minAvailable - newRSUnavailable;
    if (maxScaledDown <= 0) return false;
    const cleaned = this.cleanupUnhealthyReplicas(oldRSs, maxScaledDown);
    const scaledDown = this.scaleDownOldReplicaSetsForRollingUpdate([...oldRSs, newRS], oldRSs);
    return cleaned + scaledDown > 0;
  }

  /** Scales down old ReplicaSets' unavailable pods first: they serve nobody. */
  private cleanupUnhealthyReplicas(oldRSs: ReplicaSet[], maxCleanup: number): number {
    oldRSs.sort(byCreation);
    let total = 0;
    for (const rs of oldRSs) {
      if (total >= maxCleanup) break;
      if (rsReplicas(rs) === 0) continue;
      const available = rs.status?.availableReplicas ?? 0;
      if (rsReplicas(rs) === available) continue;
      const down = Math.min(maxCleanup - total, rsReplicas(rs) - available);
      this.scaleReplicaSetAndRecordEvent(rs, rsReplicas(rs) - down);
      total += down;
    }
    return total;
  }

  private scaleDownOldReplicaSetsForRollingUpdate(allRSs: ReplicaSet[], oldRSs: ReplicaSet[]): number {
    const d = this.d;
    const minAvailable = replicasOf(d) - maxUnavailable(d);
    const available = sumAvailableReplicas(allRSs);
    if (available <= minAvailable) return 0;
    oldRSs.sort(byCreation);
    let total = 0;
    const target = available - minAvailable;
    for (const rs of oldRSs) {
      if (total >= target) break;
      if (rsReplicas(rs) === 0) continue;
      const down = Math.min(rsReplicas(rs), target - total);
      this.scaleReplicaSetAndRecordEvent(rs, rsReplicas(rs) - down);
      total += down;
    }
    return total;
  }

  // ---- recreate (recreate.go)

  private rolloutRecreate(): void {
    let { newRS, oldRSs } = this.getAll(false);
    let allRSs = [...oldRSs, ...(newRS === undefined ? [] : [newRS])];
    let scaledDown = false;
    for (const rs of filterActive(oldRSs)) if (this.scaleReplicaSetAndRecordEvent(rs, 0)) scaledDown = true;
    if (scaledDown || this.oldPodsRunning(newRS, oldRSs)) {
      this.syncRolloutStatus(allRSs, newRS);
      return;
    }
    if (newRS === undefined) {
      ({ newRS, oldRSs } = this.getAll(true));
      allRSs = [...oldRSs, ...(newRS === undefined ? [] : [newRS])];
    }
    if (newRS !== undefined) this.scaleReplicaSetAndRecordEvent(newRS, replicasOf(this.d));
    if (deploymentComplete(this.d, this.d.status ?? {})) this.cleanupDeployment(oldRSs);
    this.syncRolloutStatus(allRSs, newRS);
  }

  private oldPodsRunning(newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): boolean {
    if (sumStatusReplicas(oldRSs) > 0) return true;
    for (const [uid, pods] of this.input.podsByReplicaSet ?? new Map<string, readonly Pod[]>()) {
      if (newRS !== undefined && newRS.metadata.uid === uid) continue;
      for (const pod of pods) if (pod.status?.phase !== 'Failed' && pod.status?.phase !== 'Succeeded') return true;
    }
    return false;
  }

  // ---- history, status, progress

  private cleanupDeployment(oldRSs: ReplicaSet[]): void {
    const limit = revisionHistoryLimit(this.d);
    const alive = oldRSs.filter((rs) => rs.metadata.deletionTimestamp === undefined);
    const diff = alive.length - limit;
    if (diff <= 0) return;
    alive.sort((a, b) => revisionOf(a) - revisionOf(b) || byCreation(a, b));
    for (let i = 0; i < diff; i++) {
      const rs = alive[i] as ReplicaSet;
      if ((rs.status?.replicas ?? 0) !== 0 || rsReplicas(rs) !== 0 || (rs.metadata.generation ?? 0) > (rs.status?.observedGeneration ?? 0) || rs.metadata.deletionTimestamp !== undefined) continue;
      this.actions.push({ type: 'deleteReplicaSet', rs: clone(rs) });
    }
  }

  private syncStatusOnly(): void {
    const { newRS, oldRSs } = this.getAll(false);
    this.syncDeploymentStatus([...oldRSs, ...(newRS === undefined ? [] : [newRS])], newRS);
  }

  private syncDeploymentStatus(allRSs: ReplicaSet[], newRS: ReplicaSet | undefined): void {
    this.d.status = calculateStatus(allRSs, newRS, this.d, this.now);
  }

  private checkPausedConditions(): void {
    const d = this.d;
    if (!hasProgressDeadline(d)) return;
    const cond = getCondition(d.status, 'Progressing');
    if (cond?.reason === Reasons.TimedOut) return;
    const pausedCondExists = cond?.reason === Reasons.PausedDeploy;
    if (d.spec.paused === true && !pausedCondExists) {
      setCondition(d.status as DeploymentStatus, newCondition('Progressing', 'Unknown', Reasons.PausedDeploy, 'Deployment is paused', this.now));
    } else if (d.spec.paused !== true && pausedCondExists) {
      setCondition(d.status as DeploymentStatus, newCondition('Progressing', 'Unknown', Reasons.ResumedDeploy, 'Deployment is resumed', this.now));
    }
  }

  /** syncRolloutStatus (progress.go): Available, Progressing and ReplicaFailure conditions. */
  private syncRolloutStatus(allRSs: ReplicaSet[], newRS: ReplicaSet | undefined): void {
    const d = this.d;
    const newStatus = calculateStatus(allRSs, newRS, d, this.now);
    if (!hasProgressDeadline(d)) removeCondition(newStatus, 'Progressing');
    const currentCond = getCondition(d.status, 'Progressing');
    const isComplete = newStatus.replicas === newStatus.updatedReplicas && currentCond?.reason === Reasons.NewRSAvailable;
    if (hasProgressDeadline(d) && !isComplete) {
      const rsName = newRS?.metadata.name;
      if (deploymentComplete(d, newStatus)) {
        const msg = rsName !== undefined ? `ReplicaSet "${rsName}" has successfully progressed.` : `Deployment "${d.metadata.name ?? ''}" has successfully progressed.`;
        setCondition(newStatus, newCondition('Progressing', 'True', Reasons.NewRSAvailable, msg, this.now));
      } else if (deploymentProgressing(d, newStatus)) {
        const msg = rsName !== undefined ? `ReplicaSet "${rsName}" is progressing.` : `Deployment "${d.metadata.name ?? ''}" is progressing.`;
        const condition = newCondition('Progressing', 'True', Reasons.ReplicaSetUpdated, msg, this.now);
        if (currentCond !== undefined) {
          if (currentCond.status === 'True' && currentCond.lastTransitionTime !== undefined) condition.lastTransitionTime = currentCond.lastTransitionTime;
          removeCondition(newStatus, 'Progressing');
        }
        setCondition(newStatus, condition);
      } else if (deploymentTimedOut(d, newStatus, this.now)) {
        const msg = rsName !== undefined ? `ReplicaSet "${rsName}" has timed out progressing.` : `Deployment "${d.metadata.name ?? ''}" has timed out progressing.`;
        setCondition(newStatus, newCondition('Progressing', 'False', Reasons.TimedOut, msg, this.now));
      }
    }
    const failures = replicaFailures(allRSs, newRS);
    if (failures.length > 0) setCondition(newStatus, failures[0] as NonNullable<DeploymentStatus['conditions']>[number]);
    else removeCondition(newStatus, 'ReplicaFailure');
    d.status = newStatus;
  }

  /** requeueStuckDeployment: check the progress deadline when it would pass. */
  private stuckRequeueMs(status: DeploymentStatus): number | undefined {
    const deadline = progressDeadlineSeconds(this.d);
    if (deadline === undefined) return undefined;
    const cond = getCondition(status, 'Progressing');
    if (cond === undefined || cond.reason === Reasons.NewRSAvailable || cond.reason === Reasons.TimedOut) return undefined;
    if (deploymentComplete(this.d, status)) return undefined;
    const from = Date.parse(cond.lastUpdateTime ?? '');
    if (Number.isNaN(from)) return undefined;
    return Math.max(1000, from + deadline * 1000 - this.now.getTime() + 1000);
  }
}

function replicaFailures(allRSs: readonly ReplicaSet[], newRS: ReplicaSet | undefined): NonNullable<DeploymentStatus['conditions']> {
  const toDeployment = (c: NonNullable<NonNullable<ReplicaSet['status']>['conditions']>[number]) => ({
    type: c.type,
    status: c.status,
    reason: c.reason,
    message: c.message,
    lastUpdateTime: c.lastTransitionTime,
    lastTransitionTime: c.lastTransitionTime,
  });
  const fromNew = (newRS?.status?.conditions ?? []).filter((c) => c.type === 'ReplicaFailure').map(toDeployment);
  if (fromNew.length > 0) return fromNew;
  return allRSs.flatMap((rs) => (rs.status?.conditions ?? []).filter((c) => c.type === 'ReplicaFailure').map(toDeployment));
}
