// Pure decisions of the ReplicaSet, Endpoints, node lifecycle and node IPAM controllers.

import { describe, expect, it } from 'vitest';
import type { ReplicaSet } from '../../../src/kube/client/apps-types.js';
import type { Node, Pod, Service } from '../../../src/kube/client/core-types.js';
import { ManualClock } from '../manual-clock.js';
import { isPodAvailable, selectorOf } from '../../../src/kube/controllers/controller-ref.js';
import { desiredSubsets, findPort, subsetsEqual } from '../../../src/kube/controllers/endpoints-sync.js';
import { ControllerExpectations, EXPECTATIONS_TIMEOUT_MS } from '../../../src/kube/controllers/expectations.js';
import { gcDecision, ownerResource } from '../../../src/kube/controllers/garbage-collector.js';
import { orphanedPods } from '../../../src/kube/controllers/pod-gc-controller.js';
import { allocateNodeCidr, parseCidr } from '../../../src/kube/controllers/node-ipam.js';
import { desiredTaints, evictionTimeMs, podNotReadyConditions, unknownConditions } from '../../../src/kube/controllers/node-lifecycle.js';
import { calculateReplicaSetStatus, claimObjects, podFromTemplate, podsToDelete } from '../../../src/kube/controllers/replicaset-sync.js';

const T0 = '2024-01-01T00:00:00Z';

function rs(): ReplicaSet {
  return {
    metadata: { name: 'web-abc', namespace: 'default', uid: 'rs-uid', generation: 2 },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web', 'pod-template-hash': 'abc' }, annotations: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
    },
  };
}

function pod(name: string, o: { labels?: Record<string, string>; owner?: string; node?: string; phase?: string; ready?: boolean; readySince?: string; created?: string; ip?: string; restarts?: number; deleting?: boolean } = {}): Pod {
  return {
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      labels: o.labels ?? { app: 'web', 'pod-template-hash': 'abc' },
      creationTimestamp: o.created ?? T0,
      ownerReferences: o.owner === undefined ? undefined : [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'x', uid: o.owner, controller: true }],
      deletionTimestamp: o.deleting === true ? T0 : undefined,
    },
    spec: { nodeName: o.node, containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }] },
    status: {
      phase: (o.phase ?? 'Running') as 'Running',
      podIP: o.ip,
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True', lastTransitionTime: o.readySince ?? T0 }],
      containerStatuses: [{ name: 'c', ready: true, restartCount: o.restarts ?? 0, image: 'nginx', imageID: '' }],
    },
  };
}

describe('ReplicaSet decisions', () => {
  it('claims: adopts matching orphans, keeps its own, releases non-matching, leaves others alone', () => {
    const owner = rs();
    const c = claimObjects(owner, selectorOf(owner.spec.selector), [
      pod('mine', { owner: 'rs-uid' }),
      pod('orphan'),
      pod('theirs', { owner: 'other' }),
      pod('drifted', { owner: 'rs-uid', labels: { app: 'db' } }),
      pod('orphan-other-labels', { labels: { app: 'db' } }),
      pod('orphan-deleting', { deleting: true }),
    ]);
    expect(c.owned.map((p) => p.metadata.name)).toEqual(['mine', 'orphan']);
    expect(c.adopt.map((p) => p.metadata.name)).toEqual(['orphan']);
    expect(c.release.map((p) => p.metadata.name)).toEqual(['drifted']);
  });

  it('a deleting owner adopts and releases nothing', () => {
    const owner = rs();
    owner.metadata.deletionTimestamp = T0;
    const c = claimObjects(owner, selectorOf(owner.spec.selector), [pod('orphan'), pod('drifted', { owner: 'rs-uid', labels: { app: 'db' } })]);
    expect(c).toEqual({ owned: [], adopt: [], release: [] });
  });

  it('pods from the template carry labels, annotations, generateName and the controller reference', () => {
    const p = podFromTemplate(rs(), { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'rs-uid', controller: true, blockOwnerDeletion: true });
    expect(p.metadata).toEqual({
      generateName: 'web-abc-',
      namespace: 'default',
      labels: { app: 'web', 'pod-template-hash': 'abc' },
      annotations: { a: 'b' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'rs-uid', controller: true, blockOwnerDeletion: true }],
    });
    expect(p.spec.containers[0]?.image).toBe('nginx');
  });

  it('deletes unscheduled, then pending, then not-ready, then doubled-up, then newest pods first', () => {
    const pods = [
      pod('running-old', { node: 'n1', created: '2024-01-01T00:00:00Z' }),
      pod('running-new', { node: 'n2', created: '2024-01-02T00:00:00Z' }),
      pod('doubled-a', { node: 'n3' }),
      pod('doubled-b', { node: 'n3' }),
      pod('not-ready', { node: 'n4', ready: false }),
      pod('pending', { node: 'n5', phase: 'Pending', ready: false }),
      pod('unscheduled', { phase: 'Pending', ready: false }),
    ];
    expect(podsToDelete(pods, 7).map((p) => p.metadata.name)).toEqual(['unscheduled', 'pending', 'not-ready', 'doubled-a', 'doubled-b', 'running-new', 'running-old']);
    expect(podsToDelete(pods, 0)).toEqual([]);
  });

  it('status counts replicas, fully labeled, ready and available (minReadySeconds)', () => {
    const r = rs();
    r.spec.minReadySeconds = 30;
    const now = new Date('2024-01-01T00:01:00Z');
    const status = calculateReplicaSetStatus(r, [pod('a', { readySince: '2024-01-01T00:00:00Z' }), pod('b', { readySince: '2024-01-01T00:00:45Z' }), pod('c', { ready: false }), pod('d', { labels: { app: 'web' } })], undefined, now);
    expect(status).toEqual({ replicas: 4, fullyLabeledReplicas: 3, readyReplicas: 3, availableReplicas: 2, observedGeneration: 2 });
    const failed = calculateReplicaSetStatus(r, [], 'pods "x" is forbidden', now);
    expect(failed.conditions).toEqual([{ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: 'pods "x" is forbidden', lastTransitionTime: '2024-01-01T00:01:00Z' }]);
    expect(isPodAvailable(pod('x'), 0, 0)).toBe(true);
  });

  it('expectations hold a controller back until its creations and deletions are observed, or expire', async () => {
    const clock = new ManualClock();
    const e = new ControllerExpectations(clock);
    expect(e.satisfied('k')).toBe(true);
    e.expectCreations('k', 2);
    expect(e.satisfied('k')).toBe(false);
    e.creationObserved('k');
    expect(e.satisfied('k')).toBe(false);
    e.creationObserved('k');
    expect(e.satisfied('k')).toBe(true);
    e.expectDeletions('k', ['default/a', 'default/b']);
    e.deletionObserved('k', 'default/a');
    e.deletionObserved('k', 'default/a');
    expect(e.satisfied('k')).toBe(false);
    await clock.advance(EXPECTATIONS_TIMEOUT_MS + 1);
    expect(e.satisfied('k')).toBe(true);
  });
});

describe('Endpoints', () => {
  const svc: Service = { metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'metrics', port: 9090 }] } };

  it('ready pods are addresses, unready ones notReadyAddresses; pods without IP or deleting are left out', () => {
    const subsets = desiredSubsets(svc, [pod('b', { ip: '10.0.0.2', node: 'n1' }), pod('a', { ip: '10.0.0.1', node: 'n2' }), pod('u', { ip: '10.0.0.3', ready: false }), pod('noip'), pod('gone', { ip: '10.0.0.9', deleting: true })]);
    expect(subsets).toEqual([
      {
        addresses: [
          { ip: '10.0.0.1', nodeName: 'n2', targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: 'uid-a', resourceVersion: undefined } },
          { ip: '10.0.0.2', nodeName: 'n1', targetRef: { kind: 'Pod', namespace: 'default', name: 'b', uid: 'uid-b', resourceVersion: undefined } },
        ],
        notReadyAddresses: [{ ip: '10.0.0.3', targetRef: { kind: 'Pod', namespace: 'default', name: 'u', uid: 'uid-u', resourceVersion: undefined } }],
        ports: [
          { name: 'http', port: 8080, protocol: 'TCP' },
          { name: 'metrics', port: 9090, protocol: 'TCP' },
        ],
      },
    ]);
    expect(desiredSubsets(svc, [])).toEqual([]);
  });

  it('resolves named target ports per pod and compares without resourceVersion churn', () => {
    expect(findPort(pod('a'), { port: 80, targetPort: 'http' })).toBe(8080);
    expect(findPort(pod('a'), { port: 80, targetPort: 'nope' })).toBeUndefined();
    expect(findPort(pod('a'), { port: 80 })).toBe(80);
    const a = desiredSubsets(svc, [pod('a', { ip: '10.0.0.1' })]);
    const b = structuredClone(a);
    if (b[0]?.addresses?.[0]?.targetRef !== undefined) b[0].addresses[0].targetRef.resourceVersion = '99';
    expect(subsetsEqual(a, b)).toBe(true);
    expect(subsetsEqual(a, [])).toBe(false);
  });
});

describe('node lifecycle', () => {
  const now = new Date('2024-01-01T00:10:00Z');
  function node(ready: 'True' | 'False' | 'Unknown', taints: Node['spec'] = {}): Node {
    return {
      metadata: { name: 'n1' },
      spec: taints,
      status: { conditions: [{ type: 'Ready', status: ready, reason: 'KubeletReady', lastHeartbeatTime: T0 }, { type: 'MemoryPressure', status: 'False' }] },
    };
  }

  it('marks every condition Unknown with NodeStatusUnknown, keeping the last heartbeat', () => {
    expect(unknownConditions(node('True'), now)).toEqual([
      { type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastTransitionTime: '2024-01-01T00:10:00Z', lastHeartbeatTime: T0 },
      { type: 'MemoryPressure', status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastTransitionTime: '2024-01-01T00:10:00Z' },
    ]);
  });

  it('taints follow Ready: Unknown → unreachable, False → not-ready, True → none; foreign taints stay', () => {
    const foreign = { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' as const };
    expect(desiredTaints(node('Unknown', { taints: [foreign] }), now)).toEqual([
      foreign,
      { key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' },
      { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute', timeAdded: '2024-01-01T00:10:00Z' },
    ]);
    expect(desiredTaints(node('False'), now).map((t) => `${t.key}:${t.effect}`)).toEqual(['node.kubernetes.io/not-ready:NoSchedule', 'node.kubernetes.io/not-ready:NoExecute']);
    const tainted = node('True', { taints: [foreign, { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] });
    expect(desiredTaints(tainted, now)).toEqual([foreign]);
    // An existing taint keeps its timeAdded.
    const old = { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' as const, timeAdded: T0 };
    expect(desiredTaints(node('Unknown', { taints: [old] }), now)).toContainEqual(old);
  });

  it('evicts after the toleration (default for pods without one), never for a toleration without seconds', () => {
    const taint = { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' as const, timeAdded: T0 };
    const added = Date.parse(T0);
    expect(evictionTimeMs(pod('p'), [taint], 300)).toBe(added + 300_000);
    const tolerant = pod('q');
    tolerant.spec.tolerations = [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 5 }];
    expect(evictionTimeMs(tolerant, [taint], 300)).toBe(added + 5000);
    tolerant.spec.tolerations = [{ operator: 'Exists' }];
    expect(evictionTimeMs(tolerant, [taint], 300)).toBeUndefined();
    expect(evictionTimeMs(pod('r'), [{ key: 'custom', effect: 'NoExecute', timeAdded: T0 }], 300)).toBe(added);
  });
});

describe('pods on a lost node', () => {
  it('are marked not ready (other conditions kept); pods already not ready are left alone', () => {
    const now = new Date('2024-01-01T00:10:00Z');
    expect(podNotReadyConditions(pod('a'), now)).toEqual([{ type: 'Ready', status: 'False', lastTransitionTime: '2024-01-01T00:10:00Z' }]);
    expect(podNotReadyConditions(pod('b', { ready: false }), now)).toBeUndefined();
  });
});

describe('node IPAM', () => {
  it('hands out the lowest free block', () => {
    expect(parseCidr('10.244.0.0/16')).toEqual({ base: (10 << 24 | 244 << 16) >>> 0, bits: 16 });
    expect(allocateNodeCidr('10.244.0.0/16', 24, new Set())).toBe('10.244.0.0/24');
    expect(allocateNodeCidr('10.244.0.0/16', 24, new Set(['10.244.0.0/24', '10.244.2.0/24']))).toBe('10.244.1.0/24');
    expect(allocateNodeCidr('10.0.0.0/30', 30, new Set(['10.0.0.0/30']))).toBeUndefined();
    expect(() => parseCidr('10.0.0/8')).toThrow(/invalid CIDR/);
  });
});

describe('garbage collection', () => {
  const dep = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd1', controller: true };
  const node = { apiVersion: 'v1', kind: 'Node', name: 'n1', uid: 'n1' };
  const crd = { apiVersion: 'example.com/v1', kind: 'Widget', name: 'w', uid: 'w1' };
  const obj = (refs: (typeof dep | typeof node | typeof crd)[], deleting = false) => ({ metadata: { name: 'x', ownerReferences: refs, deletionTimestamp: deleting ? T0 : undefined } });
  const exists = (live: string[]) => (r: { uid: string; apiVersion: string; kind: string }) => (ownerResource(r as never) === undefined ? undefined : live.includes(r.uid));

  it('deletes when every owner is gone, drops only dangling references otherwise, keeps the rest', () => {
    expect(gcDecision(obj([dep]), exists([]))).toEqual({ action: 'delete' });
    expect(gcDecision(obj([dep]), exists(['d1']))).toEqual({ action: 'keep' });
    expect(gcDecision(obj([dep, node]), exists(['n1']))).toEqual({ action: 'dropRefs', keep: [node] });
    expect(gcDecision(obj([]), exists([]))).toEqual({ action: 'keep' });
    expect(gcDecision(obj([dep], true), exists([]))).toEqual({ action: 'keep' });
  });

  it('never collects because of an owner kind it cannot look up', () => {
    expect(gcDecision(obj([crd]), exists([]))).toEqual({ action: 'keep' });
    expect(gcDecision(obj([crd, dep]), exists([]))).toEqual({ action: 'dropRefs', keep: [crd] });
  });
});

describe('pod GC', () => {
  it('force-deletes pods of a node missing two passes in a row, and unscheduled terminating pods', () => {
    const onGone = pod('a', { node: 'gone' });
    const onLive = pod('b', { node: 'live' });
    const unscheduledDeleting = pod('c', { deleting: true });
    const unscheduled = pod('d');
    const exists = (n: string): boolean => n === 'live';
    const first = orphanedPods([onGone, onLive, unscheduledDeleting, unscheduled], exists, new Set());
    expect(first.orphans).toEqual([]);
    expect([...first.missingNodes]).toEqual(['gone']);
    expect(first.unscheduledTerminating.map((p) => p.metadata.name)).toEqual(['c']);
    const second = orphanedPods([onGone, onLive], exists, first.missingNodes);
    expect(second.orphans.map((p) => p.metadata.name)).toEqual(['a']);
  });
});
