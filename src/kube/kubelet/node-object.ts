// The Node a simulated kubelet registers and the status it reports: capacity and allocatable
// from the flags, the four kubelet conditions with their reasons, addresses and nodeInfo.

import { formatTime } from '../client/clock.js';
import type { Node, NodeCondition } from '../client/core-types.js';

export interface SimNodeSpec {
  name: string;
  cpu: string;
  memory: string;
  maxPods: number;
  /** A fixed pod CIDR (--pod-cidr); otherwise the controller manager's node IPAM assigns one. */
  podCidr?: string;
  labels?: Record<string, string>;
}

export const KUBELET_VERSION = 'v1.20.2-ketch';

/** A stable fake InternalIP per node name (addresses are informational here). */
export function nodeIp(name: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return `172.${16 + (h % 16)}.${(h >>> 4) & 255}.${((h >>> 12) % 254) + 1}`;
}

export function readyConditions(now: Date, previous: readonly NodeCondition[] = []): NodeCondition[] {
  const t = formatTime(now);
  const make = (type: string, status: 'True' | 'False', reason: string, message: string): NodeCondition => {
    const prev = previous.find((c) => c.type === type);
    return { type, status, lastHeartbeatTime: t, lastTransitionTime: prev?.status === status && prev.lastTransitionTime !== undefined ? prev.lastTransitionTime : t, reason, message };
  };
  return [
    make('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
    make('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
    make('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
    make('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
  ];
}

export function nodeStatus(spec: SimNodeSpec, now: Date, previous: readonly NodeCondition[] = []): NonNullable<Node['status']> {
  const resources = { cpu: spec.cpu, memory: spec.memory, pods: String(spec.maxPods), 'ephemeral-storage': '100Gi' };
  return {
    capacity: { ...resources },
    allocatable: { ...resources },
    conditions: readyConditions(now, previous),
    addresses: [
      { type: 'InternalIP', address: nodeIp(spec.name) },
      { type: 'Hostname', address: spec.name },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
    nodeInfo: {
      machineID: spec.name,
      systemUUID: spec.name,
      bootID: spec.name,
      kernelVersion: 'ketch-simulated',
      osImage: 'Ketch simulated node',
      containerRuntimeVersion: 'ketch-sim://0.1.0',
      kubeletVersion: KUBELET_VERSION,
      kubeProxyVersion: KUBELET_VERSION,
      operatingSystem: 'linux',
      architecture: 'amd64',
    },
  };
}

export function nodeObject(spec: SimNodeSpec, now: Date): Node {
  const node: Node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: spec.name,
      labels: {
        'kubernetes.io/hostname': spec.name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/os': 'linux',
        'beta.kubernetes.io/arch': 'amd64',
        'node.kubernetes.io/instance-type': 'ketch-simulated',
        ...(spec.labels ?? {}),
      },
    },
    spec: {},
    status: nodeStatus(spec, now),
  };
  if (spec.podCidr !== undefined) node.spec = { podCIDR: spec.podCidr, podCIDRs: [spec.podCidr] };
  return node;
}
