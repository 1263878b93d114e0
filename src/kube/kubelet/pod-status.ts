// The status a simulated kubelet reports for a pod at each stage of its simulated life:
// ContainerCreating (Pending), Running (ready at once, or after the readiness probe's initial
// delay), CrashLoopBackOff between restarts, Succeeded/Failed when its containers exited for
// good (restartPolicy), and terminated on deletion. Conditions and container states as the real
// kubelet writes them, so `kubectl get pods` shows READY, STATUS, RESTARTS and IP as expected.

import type { Container, ContainerStatus, Pod, PodCondition, PodStatus } from '../client/core-types.js';
import { formatTime } from '../client/clock.js';

/**
 * creating → running; running → backoff → running (a restart) or → completed (exited for good);
 * any → terminated (deleted: containers stopped).
 */
export type RuntimeStage = 'creating' | 'running' | 'backoff' | 'completed' | 'terminated';

export interface ExitRecord {
  exitCode: number;
  startedAt?: string;
  finishedAt: string;
}

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
  restartCount?: number;
  /** The last exit (lastState.terminated; for 'completed' also the current state). */
  lastExit?: ExitRecord;
  /** Seconds of the current CrashLoopBackOff. */
  backoffSeconds?: number;
}

/** Simulated container exits, requested through pod annotations. */
export const EXIT_AFTER_ANNOTATION = 'simulation.ketch.dev/exit-after';
export const EXIT_CODE_ANNOTATION = 'simulation.ketch.dev/exit-code';

function exitReason(code: number): string {
  return code === 0 ? 'Completed' : 'Error';
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

function containerStatus(pod: Pod, c: Container, rt: RuntimePod): ContainerStatus {
  const image = c.image ?? '';
  const base: ContainerStatus = { name: c.name, image, imageID: rt.stage === 'creating' ? '' : imageId(image), restartCount: rt.restartCount ?? 0, ready: false };
  if (rt.stage === 'creating') return { ...base, started: false, state: { waiting: { reason: 'ContainerCreating' } } };
  const containerID = rt.containerIds[c.name];
  const last = rt.lastExit;
  const lastState = last === undefined ? {} : { terminated: { exitCode: last.exitCode, reason: exitReason(last.exitCode), startedAt: last.startedAt, finishedAt: last.finishedAt, containerID } };
  switch (rt.stage) {
    case 'terminated':
      return { ...base, containerID, started: false, lastState, state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: rt.startedAt, finishedAt: rt.finishedAt, containerID } } };
    case 'completed':
      return { ...base, containerID, started: false, state: { terminated: { exitCode: last?.exitCode ?? 0, reason: exitReason(last?.exitCode ?? 0), startedAt: last?.startedAt, finishedAt: last?.finishedAt, containerID } } };
    case 'backoff': {
      const message = `back-off ${rt.backoffSeconds ?? 10}s restarting failed container=${c.name} pod=${pod.metadata.name ?? ''}_${pod.metadata.namespace ?? ''}(${pod.metadata.uid ?? ''})`;
      return { ...base, containerID, started: false, lastState, state: { waiting: { reason: 'CrashLoopBackOff', message } } };
    }
    default:
      return { ...base, containerID, ready: rt.ready, started: true, lastState, state: { running: { startedAt: rt.startedAt } } };
  }
}

export function podStatusFor(pod: Pod, rt: RuntimePod, now: Date): PodStatus {
  const t = formatTime(now);
  const previous = pod.status?.conditions ?? [];
  const names = (pod.spec.containers ?? []).map((c) => c.name);
  const running = rt.stage === 'running';
  const containersReady = running && rt.ready;
  const notReadyMessage = `containers with unready status: [${names.join(' ')}]`;
  const finished = rt.stage === 'terminated' || rt.stage === 'completed';
  const notReadyReason = finished ? 'PodCompleted' : 'ContainersNotReady';
  const phase = rt.stage === 'creating' ? 'Pending' : rt.stage === 'running' || rt.stage === 'backoff' ? 'Running' : rt.stage === 'completed' && (rt.lastExit?.exitCode ?? 0) !== 0 ? 'Failed' : 'Succeeded';
  const status: PodStatus = {
    phase,
    conditions: [
      condition('Initialized', true, t, previous),
      condition('Ready', containersReady, t, previous, notReadyReason, notReadyMessage),
      condition('ContainersReady', containersReady, t, previous, notReadyReason, notReadyMessage),
      condition('PodScheduled', true, t, previous),
    ],
    hostIP: rt.hostIp,
    startTime: rt.startTime,
    containerStatuses: (pod.spec.containers ?? []).map((c) => containerStatus(pod, c, rt)),
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

/** The simulated run length and exit code the pod asks for, if any (a bad value is ignored). */
export function simulatedExit(pod: Pod): { afterMs: number; code: number } | undefined {
  const after = pod.metadata.annotations?.[EXIT_AFTER_ANNOTATION];
  if (after === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(after.trim());
  if (m === null) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  const codeText = pod.metadata.annotations?.[EXIT_CODE_ANNOTATION] ?? '1';
  const code = /^\d+$/.test(codeText) ? Number(codeText) : 1;
  return { afterMs: Number(m[1]) * unit, code };
}

/** Whether the kubelet restarts a container that exited with `code` (restartPolicy). */
export function restarts(pod: Pod, code: number): boolean {
  const policy = pod.spec.restartPolicy ?? 'Always';
  return policy === 'Always' || (policy === 'OnFailure' && code !== 0);
}

/** CrashLoopBackOff: 10 s, doubling per restart, capped at 5 minutes. */
export function backoffSeconds(restartCount: number): number {
  return Math.min(300, 10 * 2 ** Math.max(0, restartCount));
}
