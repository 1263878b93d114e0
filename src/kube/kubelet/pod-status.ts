// The status a simulated kubelet reports for a pod at each stage of its simulated life:
// ContainerCreating (Pending), Running (ready at once, or after the readiness probe's initial
// delay), and terminated on deletion. Conditions and container states as the real kubelet
// writes them, so `kubectl get pods` shows READY, STATUS, IP and NODE as users expect.

import type { Container, ContainerStatus, Pod, PodCondition, PodStatus } from '../client/core-types.js';
import { formatTime } from '../client/clock.js';

export type RuntimeStage = 'creating' | 'running' | 'terminated';

export interface RuntimePod {
  uid: string;
  stage: RuntimeStage;
  podIp?: string;
  hostIp: string;
  /** RFC3339 times. */
  startTime: string;
  startedAt?: string;
  finishedAt?: string;
  /** Containers whose readiness delay has passed. */
  ready: boolean;
  readySince?: string;
  containerIds: Record<string, string>;
}

function qosClass(pod: Pod): string {
  const cs = pod.spec.containers ?? [];
  const any = cs.some((c) => Object.keys(c.resources?.requests ?? {}).length > 0 || Object.keys(c.resources?.limits ?? {}).length > 0);
  if (!any) return 'BestEffort';
  const guaranteed = cs.every((c) => {
    const l = c.resources?.limits ?? {};
    const r = c.resources?.requests ?? {};
    return l.cpu !== undefined && l.memory !== undefined && (r.cpu ?? l.cpu) === l.cpu && (r.memory ?? l.memory) === l.memory;
  });
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

function imageId(image: string): string {
  let h = 0;
  for (let i = 0; i < image.length; i++) h = (Math.imul(h, 31) + image.charCodeAt(i)) >>> 0;
  return `ketch-sim://${image}@sha256:${h.toString(16).padStart(8, '0').repeat(8)}`;
}

function condition(type: string, ok: boolean, t: string, previous: readonly PodCondition[], reason?: string, message?: string): PodCondition {
  const status = ok ? 'True' : 'False';
  const prev = previous.find((c) => c.type === type);
  const c: PodCondition = { type, status, lastProbeTime: null, lastTransitionTime: prev?.status === status && prev.lastTransitionTime !== undefined ? prev.lastTransitionTime : t };
  if (!ok && reason !== undefined) {
    c.reason = reason;
    if (message !== undefined) c.message = message;
  }
  return c;
}

function containerStatus(c: Container, rt: RuntimePod): ContainerStatus {
  const image = c.image ?? '';
  const base = { name: c.name, image, imageID: rt.stage === 'creating' ? '' : imageId(image), restartCount: 0 };
  if (rt.stage === 'creating') return { ...base, ready: false, started: false, state: { waiting: { reason: 'ContainerCreating' } } };
  const containerID = rt.containerIds[c.name];
  if (rt.stage === 'terminated') {
    return { ...base, containerID, ready: false, started: false, state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: rt.startedAt, finishedAt: rt.finishedAt, containerID } } };
  }
  return { ...base, containerID, ready: rt.ready, started: true, state: { running: { startedAt: rt.startedAt } } };
}

export function podStatusFor(pod: Pod, rt: RuntimePod, now: Date): PodStatus {
  const t = formatTime(now);
  const previous = pod.status?.conditions ?? [];
  const names = (pod.spec.containers ?? []).map((c) => c.name);
  const running = rt.stage === 'running';
  const containersReady = running && rt.ready;
  const notReadyMessage = `containers with unready status: [${names.join(' ')}]`;
  const notReadyReason = rt.stage === 'terminated' ? 'PodCompleted' : 'ContainersNotReady';
  const status: PodStatus = {
    phase: rt.stage === 'creating' ? 'Pending' : rt.stage === 'running' ? 'Running' : 'Succeeded',
    conditions: [
      condition('Initialized', true, t, previous),
      condition('Ready', containersReady, t, previous, notReadyReason, notReadyMessage),
      condition('ContainersReady', containersReady, t, previous, notReadyReason, notReadyMessage),
      condition('PodScheduled', true, t, previous),
    ],
    hostIP: rt.hostIp,
    startTime: rt.startTime,
    containerStatuses: (pod.spec.containers ?? []).map((c) => containerStatus(c, rt)),
    qosClass: qosClass(pod),
  };
  if (rt.podIp !== undefined) {
    status.podIP = rt.podIp;
    status.podIPs = [{ ip: rt.podIp }];
  }
  return status;
}

/** Milliseconds from container start until ready: the readiness probe's initial delay (max over containers). */
export function readinessDelayMs(pod: Pod): number {
  return Math.max(0, ...(pod.spec.containers ?? []).map((c) => (c.readinessProbe?.initialDelaySeconds ?? 0) * 1000));
}
