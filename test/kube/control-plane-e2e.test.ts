// The control plane end to end, all real processes: a 3-member ketch store, 2 ketch-apiservers,
// 2 ketch-schedulers and 2 ketch-controller-managers (leader-elected), and one ketch-kubelet
// running 3 simulated nodes; driven with the real kubectl (fresh --cache-dir per call).

import { describe, expect, it } from 'vitest';
import { KubeClient } from '../../src/kube/client/kube-client.js';
import type { KubeEvent, Pod } from '../../src/kube/client/core-types.js';
import type { Lease } from '../../src/kube/client/coordination-types.js';
import { EVENTS, LEASES, PODS } from '../../src/kube/client/resource-ref.js';
import { useControlPlane, waitFor, type ControlPlane } from './control-plane-harness.js';

function deploymentYaml(name: string, image: string, replicas: number): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
      - name: c
        image: ${image}
        resources:
          requests: {cpu: 100m, memory: 64Mi}
`;
}

async function pods(cp: ControlPlane, selector: string): Promise<Pod[]> {
  const client = new KubeClient({ masters: cp.masters.split(',') });
  try {
    return (await client.list<Pod>(PODS, 'default', { labelSelector: selector })).items;
  } finally {
    client.close();
  }
}

describe('control plane e2e (ketch store, 2 apiservers, 2 schedulers, 2 controller managers, 3 nodes)', () => {
  const cp = useControlPlane({ schedulers: 2, controllerManagers: 2, nodes: 3 });

  it('registers 3 Ready nodes with leases', async () => {
    const out = await waitFor('3 Ready nodes', 60_000, async () => {
      const text = await cp().api.kubectlOk(['get', 'nodes', '--no-headers']);
      const ready = text.split('\n').filter((l) => / Ready /.test(l));
      return ready.length === 3 ? text : undefined;
    });
    expect(out).toMatch(/node-1/);
    const leases = await cp().api.kubectlOk(['get', 'lease', '-n', 'kube-node-lease', '-o', 'name']);
    expect(leases.trim().split('\n').sort()).toEqual(['lease.coordination.k8s.io/node-1', 'lease.coordination.k8s.io/node-2', 'lease.coordination.k8s.io/node-3']);
  });

  it('a Deployment of 3 replicas becomes available, one pod per node (kubectl rollout status)', async () => {
    await cp().api.kubectlOk(['apply', '-f', '-'], { input: deploymentYaml('web', 'nginx:1.20', 3) });
    const status = await cp().api.kubectl(['rollout', 'status', 'deployment/web', '--timeout=120s'], { timeoutMs: 130_000 });
    expect(status.stdout + status.stderr).toContain('successfully rolled out');
    expect(status.code).toBe(0);
    const list = await pods(cp(), 'app=web');
    expect(list.length).toBe(3);
    expect(list.every((p) => p.status?.phase === 'Running' && p.status.podIP !== undefined)).toBe(true);
    expect(new Set(list.map((p) => p.spec.nodeName)).size).toBe(3);
    const wide = await cp().api.kubectlOk(['get', 'pods', '-l', 'app=web', '-o', 'wide']);
    expect(wide).toMatch(/1\/1\s+Running/);
  });
});

export type { KubeEvent, Lease };
export { EVENTS, LEASES };
