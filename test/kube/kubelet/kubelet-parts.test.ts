import { describe, expect, it } from 'vitest';
import type { Pod } from '../../../src/kube/client/core-types.js';
import { IpAllocator } from '../../../src/kube/kubelet/ip-allocator.js';
import { nodeIp, nodeObject, readyConditions } from '../../../src/kube/kubelet/node-object.js';
import { backoffSeconds, podStatusFor, readinessDelayMs, restarts, simulatedExit, type RuntimePod } from '../../../src/kube/kubelet/pod-status.js';

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

describe('simulated exits and restartPolicy', () => {
  it('reads the exit annotations', () => {
    const p = pod();
    expect(simulatedExit(p)).toBeUndefined();
    p.metadata.annotations = { 'simulation.ketch.dev/exit-after': '2s' };
    expect(simulatedExit(p)).toEqual({ afterMs: 2000, code: 1 });
    p.metadata.annotations['simulation.ketch.dev/exit-code'] = '0';
    expect(simulatedExit(p)).toEqual({ afterMs: 2000, code: 0 });
    p.metadata.annotations['simulation.ketch.dev/exit-after'] = 'soon';
    expect(simulatedExit(p)).toBeUndefined();
  });

  it('restarts per policy with a CrashLoopBackOff of 10 s doubling to 5 minutes', () => {
    const p = pod();
    expect([restarts(p, 0), restarts(p, 1)]).toEqual([true, true]);
    p.spec.restartPolicy = 'OnFailure';
    expect([restarts(p, 0), restarts(p, 1)]).toEqual([false, true]);
    p.spec.restartPolicy = 'Never';
    expect([restarts(p, 0), restarts(p, 1)]).toEqual([false, false]);
    expect([0, 1, 2, 3, 4, 5, 9].map(backoffSeconds)).toEqual([10, 20, 40, 80, 160, 300, 300]);
  });

  it('CrashLoopBackOff: Running phase, waiting with the back-off message, restart count and last state', () => {
    const r: RuntimePod = { ...rt('backoff'), restartCount: 2, backoffSeconds: 40, lastExit: { exitCode: 1, startedAt: '2024-01-01T00:00:02Z', finishedAt: '2024-01-01T00:00:04Z' } };
    const s = podStatusFor(pod(), r, NOW);
    expect(s.phase).toBe('Running');
    const c = s.containerStatuses?.[0];
    expect(c?.restartCount).toBe(2);
    expect(c?.state?.waiting).toEqual({ reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container=a pod=p_default(u1)' });
    expect(c?.lastState?.terminated).toMatchObject({ exitCode: 1, reason: 'Error', finishedAt: '2024-01-01T00:00:04Z' });
    expect(s.conditions?.find((x) => x.type === 'Ready')?.status).toBe('False');
  });

  it('exited for good: Failed on a non-zero code, Succeeded on zero', () => {
    const failed = podStatusFor(pod(), { ...rt('completed'), lastExit: { exitCode: 3, finishedAt: '2024-01-01T00:00:05Z' } }, NOW);
    expect(failed.phase).toBe('Failed');
    expect(failed.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    const ok = podStatusFor(pod(), { ...rt('completed'), lastExit: { exitCode: 0, finishedAt: '2024-01-01T00:00:05Z' } }, NOW);
    expect(ok.phase).toBe('Succeeded');
    expect(ok.containerStatuses?.[0]?.state?.terminated?.reason).toBe('Completed');
  });
});
