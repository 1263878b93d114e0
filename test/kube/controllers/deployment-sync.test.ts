// The deployment planner against a small simulated world: the planner's writes are applied to
// in-memory ReplicaSets, whose pods become available on the next step (as if a ReplicaSet
// controller and kubelets ran in between). Checks kube's observable rollout behaviour: names,
// revisions, surge/unavailability bounds at every step, scaling without a new ReplicaSet,
// rollback reusing the old ReplicaSet, history cleanup, and rollout-status conditions.

import { describe, expect, it } from 'vitest';
import type { Deployment, ReplicaSet } from '../../../src/kube/client/apps-types.js';
import { planDeploymentSync, type DeploymentAction } from '../../../src/kube/controllers/deployment-sync.js';
import { computePodTemplateHash, safeEncodeString } from '../../../src/kube/controllers/pod-template-hash.js';
import { equalIgnoreHash, resolveFenceposts, scaledValue } from '../../../src/kube/controllers/deployment-util.js';

function deployment(image: string, replicas = 3, extra: Partial<Deployment['spec']> = {}): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', uid: 'dep-uid', generation: 1, annotations: {} },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image }] } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
      ...extra,
    },
    status: {},
  };
}

/** A world in which ReplicaSets' pods exist and are available one step after being asked for. */
class World {
  rs: ReplicaSet[] = [];
  events: string[] = [];
  clock = Date.UTC(2024, 0, 1);
  private uid = 0;
  maxTotal = 0;
  minAvailable = Infinity;

  constructor(public d: Deployment) {}

  /** One sync, then pods catch up with the ReplicaSets' spec. Returns the actions. */
  step(availableNow = true): DeploymentAction[] {
    this.clock += 1000;
    const plan = planDeploymentSync({ deployment: this.d, replicaSets: this.rs, now: new Date(this.clock) });
    for (const a of plan.actions) this.apply(a);
    this.observeBounds();
    if (availableNow) {
      for (const rs of this.rs) {
        const n = rs.spec.replicas ?? 1;
        rs.status = { replicas: n, readyReplicas: n, availableReplicas: n, observedGeneration: rs.metadata.generation ?? 1 };
      }
    }
    return plan.actions;
  }

  private observeBounds(): void {
    // Pods that exist right now: a scale-down removes pods at once, a scale-up only adds them later.
    const existing = this.rs.reduce((n, rs) => n + Math.min(rs.spec.replicas ?? 1, rs.status?.replicas ?? 0), 0);
    const total = this.rs.reduce((n, rs) => n + Math.max(rs.spec.replicas ?? 1, rs.status?.replicas ?? 0), 0);
    const available = this.rs.reduce((n, rs) => n + Math.min(rs.spec.replicas ?? 1, rs.status?.availableReplicas ?? 0), 0);
    this.maxTotal = Math.max(this.maxTotal, total);
    if (existing > 0) this.minAvailable = Math.min(this.minAvailable, available);
  }

  private apply(a: DeploymentAction): void {
    switch (a.type) {
      case 'createReplicaSet': {
        const rs = structuredClone(a.rs);
        rs.metadata.uid = `rs-${++this.uid}`;
        rs.metadata.creationTimestamp = new Date(this.clock).toISOString();
        rs.metadata.generation = 1;
        rs.status = { replicas: 0 };
        this.rs.push(rs);
        break;
      }
      case 'updateReplicaSet': {
        const i = this.rs.findIndex((x) => x.metadata.name === a.rs.metadata.name);
        const prev = this.rs[i] as ReplicaSet;
        this.rs[i] = { ...structuredClone(a.rs), status: prev.status };
        break;
      }
      case 'deleteReplicaSet':
        this.rs = this.rs.filter((x) => x.metadata.name !== a.rs.metadata.name);
        break;
      case 'updateStatus':
        this.d = { ...this.d, status: structuredClone(a.status) };
        break;
      case 'setRevision':
        this.d = { ...this.d, metadata: { ...this.d.metadata, annotations: { ...this.d.metadata.annotations, 'deployment.kubernetes.io/revision': a.revision } } };
        break;
      case 'event':
        this.events.push(`${a.reason}: ${a.message}`);
        break;
    }
  }

  /** Steps until a sync makes no writes; returns how many steps it took. */
  settle(limit = 50): number {
    for (let i = 1; i <= limit; i++) {
      const actions = this.step();
      if (actions.length === 0) return i;
    }
    throw new Error('did not settle');
  }

  update(fn: (d: Deployment) => void): void {
    const d = structuredClone(this.d);
    fn(d);
    d.metadata.generation = (d.metadata.generation ?? 1) + 1;
    this.d = d;
    this.maxTotal = 0;
    this.minAvailable = Infinity;
  }

  byName(): Record<string, { replicas: number; revision: string | undefined; history: string | undefined }> {
    const out: Record<string, { replicas: number; revision: string | undefined; history: string | undefined }> = {};
    for (const rs of this.rs) out[rs.metadata.name ?? ''] = { replicas: rs.spec.replicas ?? 1, revision: rs.metadata.annotations?.['deployment.kubernetes.io/revision'], history: rs.metadata.annotations?.['deployment.kubernetes.io/revision-history'] };
    return out;
  }

  condition(type: string): { status: string; reason?: string } | undefined {
    return this.d.status?.conditions?.find((c) => c.type === type);
  }
}

/** What `kubectl rollout status` waits for (REFERENCE.md C5). */
function rolloutDone(d: Deployment): boolean {
  const s = d.status ?? {};
  const n = d.spec.replicas ?? 1;
  return (d.metadata.generation ?? 0) <= (s.observedGeneration ?? 0) && s.updatedReplicas === n && s.replicas === s.updatedReplicas && s.availableReplicas === s.updatedReplicas;
}

describe('pod-template-hash', () => {
  it('is stable, uses the safe alphabet, and changes with the template or the collision count', () => {
    const t = deployment('nginx:1.20').spec.template;
    const h = computePodTemplateHash(t);
    expect(h).toMatch(/^[456789bcdf]{1,10}$/);
    expect(computePodTemplateHash(structuredClone(t))).toBe(h);
    // Key order does not matter.
    expect(computePodTemplateHash({ spec: t.spec, metadata: t.metadata })).toBe(h);
    expect(computePodTemplateHash(deployment('nginx:1.21').spec.template)).not.toBe(h);
    expect(computePodTemplateHash(t, 1)).not.toBe(h);
    // Digits 0-9 are char codes 48-57: mod 27 they pick 4..9 then b..f, hence kube's familiar "5d59d67564".
    expect(safeEncodeString('0123456789')).toBe('456789bcdf');
  });

  it('equalIgnoreHash ignores only the pod-template-hash label', () => {
    const a = deployment('x').spec.template;
    const b = structuredClone(a);
    b.metadata = { labels: { app: 'web', 'pod-template-hash': 'abc' } };
    expect(equalIgnoreHash(a, b)).toBe(true);
    b.metadata.labels = { app: 'web2', 'pod-template-hash': 'abc' };
    expect(equalIgnoreHash(a, b)).toBe(false);
    // What kubectl rollout undo sends: Go's zero metav1.Time as null, and empty lists.
    const undo = structuredClone(a);
    (undo.metadata as Record<string, unknown>).creationTimestamp = null;
    (undo.spec.containers[0] as Record<string, unknown>).args = [];
    expect(equalIgnoreHash(a, undo)).toBe(true);
    expect(computePodTemplateHash(undo)).toBe(computePodTemplateHash(a));
  });
});

describe('surge and unavailability', () => {
  it('rounds surge up and unavailable down; both zero means one unavailable', () => {
    expect(scaledValue('25%', 3, true)).toBe(1);
    expect(scaledValue('25%', 3, false)).toBe(0);
    expect(scaledValue(2, 3, false)).toBe(2);
    expect(resolveFenceposts(deployment('x', 3))).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    expect(resolveFenceposts(deployment('x', 3, { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } } }))).toEqual({ maxSurge: 0, maxUnavailable: 1 });
    expect(resolveFenceposts(deployment('x', 10))).toEqual({ maxSurge: 3, maxUnavailable: 2 });
  });
});

describe('deployment sync', () => {
  it('a new deployment creates <name>-<hash> at revision 1 and completes', () => {
    const w = new World(deployment('nginx:1.20'));
    const first = w.step();
    const hash = computePodTemplateHash(w.d.spec.template);
    expect(first.map((a) => a.type)).toEqual(['createReplicaSet', 'event', 'updateStatus', 'setRevision']);
    const created = first[0] as Extract<DeploymentAction, { type: 'createReplicaSet' }>;
    expect(created.rs.metadata.name).toBe(`web-${hash}`);
    expect(created.rs.spec.replicas).toBe(3);
    expect(created.rs.metadata.annotations).toEqual({ 'deployment.kubernetes.io/revision': '1', 'deployment.kubernetes.io/desired-replicas': '3', 'deployment.kubernetes.io/max-replicas': '4' });
    expect(created.rs.metadata.ownerReferences).toEqual([{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'dep-uid', controller: true, blockOwnerDeletion: true }]);
    expect(created.rs.spec.selector.matchLabels).toEqual({ app: 'web', 'pod-template-hash': hash });
    expect(created.rs.spec.template?.metadata?.labels).toEqual({ app: 'web', 'pod-template-hash': hash });
    expect(w.events).toEqual([`ScalingReplicaSet: Scaled up replica set web-${hash} to 3`]);
    expect(w.condition('Progressing')).toMatchObject({ status: 'True', reason: 'NewReplicaSetCreated' });
    expect(w.d.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('1');
    w.settle();
    expect(w.d.status).toMatchObject({ observedGeneration: 1, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3, unavailableReplicas: 0 });
    expect(w.condition('Available')).toMatchObject({ status: 'True', reason: 'MinimumReplicasAvailable' });
    expect(w.condition('Progressing')).toMatchObject({ status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "web-${hash}" has successfully progressed.` });
    expect(rolloutDone(w.d)).toBe(true);
  });

  it('an image change rolls through a new ReplicaSet within maxSurge/maxUnavailable', () => {
    const w = new World(deployment('nginx:1.20', 4));
    w.settle();
    const oldName = w.rs[0]?.metadata.name ?? '';
    w.update((d) => (d.spec.template.spec.containers[0] as { image: string }).image = 'nginx:1.21');
    const steps = w.settle();
    const newName = `web-${computePodTemplateHash(w.d.spec.template)}`;
    expect(steps).toBeGreaterThan(2);
    expect(w.byName()).toEqual({
      [oldName]: { replicas: 0, revision: '1', history: undefined },
      [newName]: { replicas: 4, revision: '2', history: undefined },
    });
    // 4 replicas, 25%: at most 5 pods, at least 3 available at any time.
    expect(w.maxTotal).toBeLessThanOrEqual(5);
    expect(w.minAvailable).toBeGreaterThanOrEqual(3);
    expect(w.events).toContain(`ScalingReplicaSet: Scaled up replica set ${newName} to 1`);
    expect(w.events).toContain(`ScalingReplicaSet: Scaled down replica set ${oldName} to 0`);
    expect(w.d.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('2');
    expect(rolloutDone(w.d)).toBe(true);
    expect(w.condition('Progressing')?.reason).toBe('NewReplicaSetAvailable');
  });

  it('a rollout waits for new pods to become available before taking old ones away (maxUnavailable 0)', () => {
    const w = new World(deployment('a', 3));
    w.settle();
    w.update((d) => (d.spec.template.spec.containers[0] as { image: string }).image = 'b');
    w.step(false);
    // New pods never become available: the old ReplicaSet keeps all 3.
    for (let i = 0; i < 5; i++) w.step(false);
    const old = w.rs.find((rs) => rs.metadata.annotations?.['deployment.kubernetes.io/revision'] === '1');
    expect(old?.spec.replicas).toBe(3);
    expect(rolloutDone(w.d)).toBe(false);
  });

  it('a replicas change scales the current ReplicaSet and creates no new one', () => {
    const w = new World(deployment('nginx:1.20', 3));
    w.settle();
    const name = w.rs[0]?.metadata.name ?? '';
    w.update((d) => (d.spec.replicas = 5));
    w.settle();
    expect(w.rs.length).toBe(1);
    expect(w.byName()[name]).toEqual({ replicas: 5, revision: '1', history: undefined });
    expect(w.rs[0]?.metadata.annotations?.['deployment.kubernetes.io/desired-replicas']).toBe('5');
    expect(w.events.at(-1)).toBe(`ScalingReplicaSet: Scaled up replica set ${name} to 5`);
    w.update((d) => (d.spec.replicas = 2));
    w.settle();
    expect(w.byName()[name]?.replicas).toBe(2);
    expect(rolloutDone(w.d)).toBe(true);
  });

  it('rollback (kubectl rollout undo puts the old template back) reuses the old ReplicaSet at a new revision', () => {
    const w = new World(deployment('v1', 3));
    w.settle();
    const v1 = w.rs[0]?.metadata.name ?? '';
    const v1Template = structuredClone(w.d.spec.template);
    w.update((d) => (d.spec.template.spec.containers[0] as { image: string }).image = 'v2');
    w.settle();
    w.update((d) => (d.spec.template = structuredClone(v1Template)));
    w.settle();
    expect(w.rs.length).toBe(2);
    expect(w.byName()[v1]).toEqual({ replicas: 3, revision: '3', history: '1' });
    expect(w.d.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('3');
    expect(rolloutDone(w.d)).toBe(true);
  });

  it('copies change-cause to the new ReplicaSet (rollout history shows it)', () => {
    const d = deployment('v1', 1);
    d.metadata.annotations = { 'kubernetes.io/change-cause': 'kubectl set image ...', 'kubectl.kubernetes.io/last-applied-configuration': '{}' };
    const w = new World(d);
    w.settle();
    expect(w.rs[0]?.metadata.annotations?.['kubernetes.io/change-cause']).toBe('kubectl set image ...');
    expect(w.rs[0]?.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration']).toBeUndefined();
  });

  it('revisionHistoryLimit deletes the oldest scaled-down ReplicaSets', () => {
    const w = new World(deployment('v1', 2, { revisionHistoryLimit: 1 }));
    w.settle();
    for (const image of ['v2', 'v3', 'v4']) {
      w.update((d) => (d.spec.template.spec.containers[0] as { image: string }).image = image);
      w.settle();
    }
    const revisions = w.rs.map((rs) => rs.metadata.annotations?.['deployment.kubernetes.io/revision']).sort();
    expect(revisions).toEqual(['3', '4']);
  });

  it('Recreate scales old pods to zero before creating new ones', () => {
    const w = new World(deployment('v1', 3, { strategy: { type: 'Recreate' } }));
    w.settle();
    w.update((d) => (d.spec.template.spec.containers[0] as { image: string }).image = 'v2');
    const first = w.step();
    expect(first.filter((a) => a.type === 'createReplicaSet')).toEqual([]);
    expect(w.rs[0]?.spec.replicas).toBe(0);
    w.settle();
    expect(w.rs.map((rs) => rs.spec.replicas).sort()).toEqual([0, 3]);
    expect(rolloutDone(w.d)).toBe(true);
  });

  it('a paused deployment is only scaled, and gets the DeploymentPaused condition', () => {
    const w = new World(deployment('v1', 2));
    w.settle();
    w.update((d) => {
      d.spec.paused = true;
      (d.spec.template.spec.containers[0] as { image: string }).image = 'v2';
    });
    w.settle();
    expect(w.rs.length).toBe(1);
    expect(w.condition('Progressing')).toMatchObject({ status: 'Unknown', reason: 'DeploymentPaused' });
  });

  it('reports a rollout stuck past its progress deadline', () => {
    const w = new World(deployment('v1', 2, { progressDeadlineSeconds: 10 }));
    w.settle();
    w.update((d) => (d.spec.template.spec.containers[0] as { image: string }).image = 'v2');
    for (let i = 0; i < 15; i++) w.step(false);
    expect(w.condition('Progressing')).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded' });
  });
});
