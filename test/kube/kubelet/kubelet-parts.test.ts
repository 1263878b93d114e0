import { describe, expect, it } from 'vitest';
import type { Pod } from '../../../src/kube/client/core-types.js';
import { IpAllocator } from '../../../src/kube/kubelet/ip-allocator.js';
import { nodeIp, nodeObject, readyConditions } from '../../../src/kube/kubelet/node-object.js';
import { podStatusFor, readinessDelayMs, type RuntimePod } from '../../../src/kube/kubelet/pod-status.js';

const NOW = new Date('2024-01-01T00:00:10Z');

function pod(): Pod {
  return {
    metadata: { name: 'p', namespace: 'default', uid: 'u1' },
    spec: { nodeName: 'n1', containers: [{ name: 'a', image: 'nginx:1.20', resources: { requests: { cpu: '100m' } } }, { name: 'b', image: 'busybox', readinessProbe: { initialDelaySeconds: 5 } }] },
    status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: '2024-01-01T00:00:00Z' }] },
  };
}

function rt(stage: RuntimePod['stage'], ready = false): RuntimePod {
  return { uid: 'u1', stage, podIp: stage === 'creating' ? undefined : '10.244.0.2', hostIp: '172.16.0.1', startTime: '2024-01-01T00:00:01Z', startedAt: '2024-01-01T00:00:02Z', finishedAt: '2024-01-01T00:00:09Z', ready, containerIds: { a: 'ketch-sim://a', b: 'ketch-sim://b' } };
}

describe('pod IPs', () => {
  it('hands out .2 upward, reuses released addresses, claims known ones, and runs out', () => {
    const a = new IpAllocator('10.244.1.0/29');
    expect([a.allocate(), a.allocate()]).toEqual(['10.244.1.2', '10.244.1.3']);
    a.release('10.244.1.2');
    expect(a.allocate()).toBe('10.244.1.2');
    expect(a.claim('10.244.1.4')).toBe(true);
    expect(a.claim('10.9.9.9')).toBe(false);
    expect([a.allocate(), a.allocate(), a.allocate()]).toEqual(['10.244.1.5', '10.244.1.6', undefined]);
  });
});

describe('node object', () => {
  it('registers capacity = allocatable, Ready and the pressure conditions, labels and addresses', () => {
    const n = nodeObject({ name: 'n1', cpu: '4', memory: '8Gi', maxPods: 110, labels: { zone: 'a' } }, NOW);
    expect(n.status?.capacity).toEqual({ cpu: '4', memory: '8Gi', pods: '110', 'ephemeral-storage': '100Gi' });
    expect(n.status?.allocatable).toEqual(n.status?.capacity);
    expect(n.status?.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`)).toEqual([
      'MemoryPressure=False/KubeletHasSufficientMemory',
      'DiskPressure=False/KubeletHasNoDiskPressure',
      'PIDPressure=False/KubeletHasSufficientPID',
      'Ready=True/KubeletReady',
    ]);
    expect(n.metadata.labels).toMatchObject({ 'kubernetes.io/hostname': 'n1', zone: 'a' });
    expect(n.status?.addresses?.[0]).toEqual({ type: 'InternalIP', address: nodeIp('n1') });
    expect(nodeIp('n1')).toMatch(/^172\.(1[6-9]|2\d|3[01])\.\d+\.\d+$/);
    expect(nodeIp('n1')).not.toBe(nodeIp('n2'));
  });

  it('keeps lastTransitionTime while a condition holds and moves the heartbeat', () => {
    const before = readyConditions(new Date('2024-01-01T00:00:00Z'));
    const after = readyConditions(NOW, before);
    const ready = after.find((c) => c.type === 'Ready');
    expect(ready?.lastTransitionTime).toBe('2024-01-01T00:00:00Z');
    expect(ready?.lastHeartbeatTime).toBe('2024-01-01T00:00:10Z');
    const fromUnknown = readyConditions(NOW, [{ type: 'Ready', status: 'Unknown', lastTransitionTime: '2023-01-01T00:00:00Z' }]);
    expect(fromUnknown.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe('2024-01-01T00:00:10Z');
  });
});

describe('pod status', () => {
  it('ContainerCreating: Pending, no IP, not ready', () => {
    const s = podStatusFor(pod(), rt('creating'), NOW);
    expect(s.phase).toBe('Pending');
    expect(s.podIP).toBeUndefined();
    expect(s.containerStatuses?.map((c) => c.state?.waiting?.reason)).toEqual(['ContainerCreating', 'ContainerCreating']);
    expect(s.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [a b]' });
    // PodScheduled keeps the scheduler's transition time.
    expect(s.conditions?.find((c) => c.type === 'PodScheduled')?.lastTransitionTime).toBe('2024-01-01T00:00:00Z');
    expect(s.qosClass).toBe('Burstable');
  });

  it('Running: pod IP, started containers, Ready once the readiness delay passed', () => {
    const notYet = podStatusFor(pod(), rt('running', false), NOW);
    expect(notYet.phase).toBe('Running');
    expect(notYet.podIP).toBe('10.244.0.2');
    expect(notYet.podIPs).toEqual([{ ip: '10.244.0.2' }]);
    expect(notYet.containerStatuses?.every((c) => c.started === true && c.state?.running?.startedAt === '2024-01-01T00:00:02Z')).toBe(true);
    expect(notYet.conditions?.find((c) => c.type === 'Ready')?.status).toBe('False');
    const ready = podStatusFor(pod(), rt('running', true), NOW);
    expect(ready.conditions?.filter((c) => c.status === 'True').map((c) => c.type).sort()).toEqual(['ContainersReady', 'Initialized', 'PodScheduled', 'Ready']);
    expect(ready.containerStatuses?.map((c) => c.ready)).toEqual([true, true]);
    expect(readinessDelayMs(pod())).toBe(5000);
  });

  it('terminated: containers exited 0, not ready', () => {
    const s = podStatusFor(pod(), rt('terminated'), NOW);
    expect(s.phase).toBe('Succeeded');
    expect(s.containerStatuses?.map((c) => c.state?.terminated?.exitCode)).toEqual([0, 0]);
    expect(s.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'PodCompleted' });
  });
});
