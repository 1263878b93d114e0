import { describe, expect, it } from 'vitest';
import type { Node, Pod, Taint, Toleration } from '../../../src/kube/client/core-types.js';
import { filterNode, fitErrorMessage, toleratesTaint } from '../../../src/kube/scheduler/filters.js';
import { addPod, newNodeInfo, podRequests } from '../../../src/kube/scheduler/node-info.js';
import { milliValue, parseQuantity, unitValue } from '../../../src/kube/scheduler/quantity.js';
import { scheduleOne } from '../../../src/kube/scheduler/schedule-one.js';
import { scoreLeastAllocated, scoreNodes, scoreSpread } from '../../../src/kube/scheduler/scores.js';
import { SeededRandom } from '../../../src/util/prng.js';

function node(name: string, opts: { cpu?: string; memory?: string; pods?: string; ready?: string; unschedulable?: boolean; labels?: Record<string, string>; taints?: Taint[] } = {}): Node {
  return {
    metadata: { name, labels: opts.labels ?? {} },
    spec: { unschedulable: opts.unschedulable, taints: opts.taints },
    status: {
      allocatable: { cpu: opts.cpu ?? '4', memory: opts.memory ?? '8Gi', pods: opts.pods ?? '110' },
      conditions: [{ type: 'Ready', status: (opts.ready ?? 'True') as 'True' }],
    },
  };
}

function pod(name: string, opts: { cpu?: string; memory?: string; owner?: string; nodeSelector?: Record<string, string>; tolerations?: Toleration[]; phase?: string; hostPort?: number } = {}): Pod {
  const requests: Record<string, string> = {};
  if (opts.cpu !== undefined) requests.cpu = opts.cpu;
  if (opts.memory !== undefined) requests.memory = opts.memory;
  return {
    metadata: { name, namespace: 'default', ownerReferences: opts.owner === undefined ? undefined : [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: opts.owner, uid: `uid-${opts.owner}`, controller: true }] },
    spec: {
      containers: [{ name: 'c', image: 'nginx', resources: { requests }, ports: opts.hostPort === undefined ? undefined : [{ containerPort: 80, hostPort: opts.hostPort }] }],
      nodeSelector: opts.nodeSelector,
      tolerations: opts.tolerations,
    },
    status: opts.phase === undefined ? undefined : { phase: opts.phase as 'Running' },
  };
}

describe('quantities', () => {
  it('parses decimal, binary and exponent suffixes and rounds up like MilliValue/Value', () => {
    expect(milliValue('100m')).toBe(100);
    expect(milliValue('1.5')).toBe(1500);
    expect(milliValue('2')).toBe(2000);
    expect(milliValue('1u')).toBe(1);
    expect(unitValue('1Ki')).toBe(1024);
    expect(unitValue('1.5Gi')).toBe(1.5 * 2 ** 30);
    expect(unitValue('500M')).toBe(500_000_000);
    expect(unitValue('1e3')).toBe(1000);
    expect(unitValue('128974848')).toBe(128974848);
    expect(parseQuantity('0.1')).toBeCloseTo(0.1);
    expect(() => parseQuantity('12 Gi')).toThrow(/quantities must match/);
    expect(() => parseQuantity('abc')).toThrow();
  });
});

describe('filters', () => {
  it('resources: requests against allocatable minus what bound pods request', () => {
    const info = newNodeInfo(node('n1', { cpu: '1', memory: '1Gi' }), [pod('a', { cpu: '600m', memory: '512Mi' })]);
    expect(filterNode(pod('b', { cpu: '400m' }), info)).toEqual([]);
    expect(filterNode(pod('b', { cpu: '401m' }), info)).toEqual(['Insufficient cpu']);
    expect(filterNode(pod('b', { cpu: '500m', memory: '513Mi' }), info)).toEqual(['Insufficient cpu', 'Insufficient memory']);
    // Terminated pods hold nothing.
    addPod(info, pod('done', { cpu: '400m', phase: 'Succeeded' }));
    expect(filterNode(pod('b', { cpu: '400m' }), info)).toEqual([]);
  });

  it('max pods', () => {
    const info = newNodeInfo(node('n1', { pods: '2' }), [pod('a'), pod('b')]);
    expect(filterNode(pod('c'), info)).toEqual(['Too many pods']);
  });

  it('init containers count as the max with the sum of containers', () => {
    const p = pod('a', { cpu: '100m' });
    p.spec.initContainers = [{ name: 'init', resources: { requests: { cpu: '1' } } }];
    expect(podRequests(p).milliCpu).toBe(1000);
  });

  it('readiness, cordon, node selector, host ports', () => {
    expect(filterNode(pod('p'), newNodeInfo(node('n', { ready: 'Unknown' })))).toEqual(['node(s) were not ready']);
    expect(filterNode(pod('p'), newNodeInfo(node('n', { unschedulable: true })))).toEqual(['node(s) were unschedulable']);
    expect(filterNode(pod('p', { tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] }), newNodeInfo(node('n', { unschedulable: true })))).toEqual([]);
    expect(filterNode(pod('p', { nodeSelector: { disk: 'ssd' } }), newNodeInfo(node('n', { labels: { disk: 'hdd' } })))).toEqual(["node(s) didn't match node selector"]);
    expect(filterNode(pod('p', { nodeSelector: { disk: 'ssd' } }), newNodeInfo(node('n', { labels: { disk: 'ssd', zone: 'a' } })))).toEqual([]);
    expect(filterNode(pod('p', { hostPort: 8080 }), newNodeInfo(node('n'), [pod('q', { hostPort: 8080 })]))).toEqual(["node(s) didn't have free ports for the requested pod ports"]);
  });

  it('taints: NoSchedule and NoExecute must be tolerated, PreferNoSchedule need not', () => {
    const tainted = (effect: Taint['effect']): Node => node('n', { taints: [{ key: 'dedicated', value: 'gpu', effect }] });
    expect(filterNode(pod('p'), newNodeInfo(tainted('NoSchedule')))).toEqual(["node(s) had taint {dedicated: gpu}, that the pod didn't tolerate"]);
    expect(filterNode(pod('p'), newNodeInfo(tainted('NoExecute')))).toHaveLength(1);
    expect(filterNode(pod('p'), newNodeInfo(tainted('PreferNoSchedule')))).toEqual([]);
    expect(filterNode(pod('p', { tolerations: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }), newNodeInfo(tainted('NoSchedule')))).toEqual([]);
  });

  it('toleration matching follows v1helper.ToleratesTaint', () => {
    const taint: Taint = { key: 'k', value: 'v', effect: 'NoSchedule' };
    expect(toleratesTaint({ operator: 'Exists' }, taint)).toBe(true);
    expect(toleratesTaint({ key: 'k', operator: 'Exists' }, taint)).toBe(true);
    expect(toleratesTaint({ key: 'k', value: 'v' }, taint)).toBe(true);
    expect(toleratesTaint({ key: 'k', value: 'w' }, taint)).toBe(false);
    expect(toleratesTaint({ key: 'k', operator: 'Exists', effect: 'NoExecute' }, taint)).toBe(false);
    expect(toleratesTaint({ key: 'other', operator: 'Exists' }, taint)).toBe(false);
  });

  it("kube's FitError message", () => {
    expect(fitErrorMessage(3, [['Insufficient cpu'], ["node(s) didn't match node selector"], ["node(s) didn't match node selector"]])).toBe(
      "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match node selector.",
    );
  });
});

describe('scores and selection', () => {
  it('least allocated prefers the emptier node', () => {
    const empty = newNodeInfo(node('a'));
    const busy = newNodeInfo(node('b'), [pod('x', { cpu: '2', memory: '4Gi' })]);
    expect(scoreLeastAllocated(pod('p', { cpu: '1', memory: '1Gi' }), empty)).toBeGreaterThan(scoreLeastAllocated(pod('p', { cpu: '1', memory: '1Gi' }), busy));
    // 4 cpu, 8Gi; pod 1 cpu, 2Gi → (75 + 75) / 2.
    expect(scoreLeastAllocated(pod('p', { cpu: '1', memory: '2Gi' }), empty)).toBe(75);
  });

  it('spread: fewest pods of the same owner scores highest', () => {
    expect(scoreSpread([0, 0, 0])).toEqual([100, 100, 100]);
    expect(scoreSpread([2, 1, 0])).toEqual([0, 50, 100]);
  });

  it('replicas of one owner land on different nodes', () => {
    const infos = ['a', 'b', 'c'].map((n) => newNodeInfo(node(n)));
    const rng = new SeededRandom(7);
    const placed: string[] = [];
    for (let i = 0; i < 3; i++) {
      const p = pod(`web-${i}`, { cpu: '100m', owner: 'web' });
      const r = scheduleOne(p, infos, () => rng.next());
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      placed.push(r.nodeName);
      const info = infos.find((x) => x.node.metadata.name === r.nodeName);
      if (info !== undefined) addPod(info, p);
    }
    expect(new Set(placed).size).toBe(3);
  });

  it('spread outweighs a small difference in load', () => {
    const a = newNodeInfo(node('a'), [pod('w0', { cpu: '100m', owner: 'web' })]);
    const b = newNodeInfo(node('b'), [pod('other', { cpu: '200m' })]);
    const scores = scoreNodes(pod('w1', { cpu: '100m', owner: 'web' }), [a, b]);
    expect(scores[1]).toBeGreaterThan(scores[0] ?? 0);
  });

  it('reports why nothing fits', () => {
    const infos = [newNodeInfo(node('a', { cpu: '1' })), newNodeInfo(node('b', { ready: 'False' }))];
    const r = scheduleOne(pod('big', { cpu: '2' }), infos, () => 0);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.message).toBe('0/2 nodes are available: 1 Insufficient cpu, 1 node(s) were not ready.');
    expect(scheduleOne(pod('p'), [], () => 0)).toMatchObject({ ok: false, message: 'no nodes available to schedule pods' });
  });
});
