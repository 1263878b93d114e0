// Node failure and Services end to end, all real processes (ketch store, 2 apiservers, a
// scheduler, a controller manager, two kubelet processes: "node-1/node-2" and "spare"), with
// node timings shortened by flags (kube's defaults are 40 s grace and 5 min eviction):
// --node-monitor-grace-period 8s, node Leases of 8 s, and pods tolerating unreachable for 5 s.

import { describe, expect, it } from 'vitest';
import type { Endpoints, Node, Pod } from '../../src/kube/client/core-types.js';
import { KubeClient } from '../../src/kube/client/kube-client.js';
import { ENDPOINTS, NODES, PODS } from '../../src/kube/client/resource-ref.js';
import { useControlPlane, waitFor, type ControlPlane } from './control-plane-harness.js';

const APP = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: 3
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      # Shorter than the 300 s the apiserver's DefaultTolerationSeconds would add.
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 5}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 5}
      containers:
      - name: c
        image: nginx:1.20
        ports:
        - {name: http, containerPort: 8080}
---
apiVersion: v1
kind: Service
metadata:
  name: app
spec:
  selector: {app: app}
  ports:
  - {name: web, port: 80, targetPort: http}
`;

async function withClient<T>(cp: ControlPlane, fn: (c: KubeClient) => Promise<T>): Promise<T> {
  const client = new KubeClient({ masters: cp.masters.split(',') });
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

const appPods = (cp: ControlPlane): Promise<Pod[]> => withClient(cp, async (c) => (await c.list<Pod>(PODS, 'default', { labelSelector: 'app=app' })).items);
const endpointIps = (cp: ControlPlane): Promise<string[]> =>
  withClient(cp, async (c) => {
    const ep = await c.get<Endpoints>(ENDPOINTS, 'default', 'app');
    return (ep.subsets ?? []).flatMap((s) => (s.addresses ?? []).map((a) => a.ip)).sort();
  });
const node = (cp: ControlPlane, name: string): Promise<Node> => withClient(cp, (c) => c.get<Node>(NODES, undefined, name));

async function rolloutStatus(cp: ControlPlane): Promise<void> {
  const r = await cp.api.kubectl(['rollout', 'status', 'deployment/app', '--timeout=120s'], { timeoutMs: 130_000 });
  if (r.code !== 0) throw new Error(`rollout status: ${r.stdout}\n${r.stderr}`);
}

function liveIps(pods: Pod[]): string[] {
  return pods.filter((p) => p.metadata.deletionTimestamp === undefined && p.status?.phase === 'Running').map((p) => p.status?.podIP ?? '').sort();
}

let evictedUid: string | undefined;

describe('node failure and endpoints e2e (short node timings)', () => {
  const cp = useControlPlane({
    schedulers: 1,
    controllerManagers: 1,
    nodes: 2,
    extraKubelets: [{ nodeName: 'spare', nodes: 1 }],
    extraKubeletFlags: ['--node-lease-duration-seconds', '8'],
    extraControllerManagerFlags: ['--node-monitor-grace-period', '8s', '--node-monitor-period', '1s'],
  });

  it('a Service gets the ready pods as endpoints, with named target ports resolved, and follows scaling', async () => {
    await waitFor('3 Ready nodes', 60_000, async () => ((await cp().api.kubectlOk(['get', 'nodes', '--no-headers'])).split('\n').filter((l) => / Ready /.test(l)).length === 3 ? true : undefined));
    await cp().api.kubectlOk(['apply', '-f', '-'], { input: APP });
    await rolloutStatus(cp());
    const ips = liveIps(await appPods(cp()));
    expect(ips.length).toBe(3);
    // Pod IPs come from each node's pod CIDR (node IPAM).
    expect(ips.every((ip) => ip.startsWith('10.244.'))).toBe(true);
    await waitFor('endpoints to list the 3 pods', 30_000, async () => (JSON.stringify(await endpointIps(cp())) === JSON.stringify(ips) ? true : undefined));
    const ep = await withClient(cp(), (c) => c.get<Endpoints>(ENDPOINTS, 'default', 'app'));
    expect(ep.subsets?.[0]?.ports).toEqual([{ name: 'web', port: 8080, protocol: 'TCP' }]);
    const kubectl = await cp().api.kubectlOk(['get', 'endpoints', 'app']);
    expect(kubectl).toMatch(/10\.244\.\d+\.\d+:8080/);

    await cp().api.kubectlOk(['scale', 'deployment/app', '--replicas=1']);
    await waitFor('endpoints to shrink to 1', 60_000, async () => ((await endpointIps(cp())).length === 1 ? true : undefined));
    await cp().api.kubectlOk(['scale', 'deployment/app', '--replicas=3']);
    await rolloutStatus(cp());
    await waitFor('endpoints back to 3', 60_000, async () => ((await endpointIps(cp())).length === 3 ? true : undefined));
  });

  it('simulated exits follow restartPolicy: CrashLoopBackOff and restarts, Failed, Completed', async () => {
    const podYaml = (name: string, policy: string, code: number): string =>
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  annotations: {simulation.ketch.dev/exit-after: 1s, simulation.ketch.dev/exit-code: "${code}"}\nspec:\n  restartPolicy: ${policy}\n  containers:\n  - {name: c, image: busybox}\n---\n`;
    await cp().api.kubectlOk(['apply', '-f', '-'], { input: podYaml('crasher', 'Always', 1) + podYaml('oneshot', 'Never', 3) + podYaml('finisher', 'OnFailure', 0) });
    const get = (name: string): Promise<Pod> => withClient(cp(), (c) => c.get<Pod>(PODS, 'default', name));
    await waitFor('oneshot to fail', 30_000, async () => ((await get('oneshot')).status?.phase === 'Failed' ? true : undefined));
    await waitFor('finisher to succeed', 30_000, async () => ((await get('finisher')).status?.phase === 'Succeeded' ? true : undefined));
    const table = await cp().api.kubectlOk(['get', 'pods', 'oneshot', 'finisher', '--no-headers']);
    expect(table).toMatch(/oneshot\s+0\/1\s+Error\s/);
    expect(table).toMatch(/finisher\s+0\/1\s+Completed\s/);
    await waitFor('crasher to back off', 30_000, async () => ((await get('crasher')).status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff' ? true : undefined));
    expect(await cp().api.kubectlOk(['get', 'pod', 'crasher', '--no-headers'])).toMatch(/crasher\s+0\/1\s+CrashLoopBackOff\s/);
    const restarted = await waitFor('crasher to restart', 40_000, async () => {
      const p = await get('crasher');
      return (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 ? p : undefined;
    });
    expect(restarted.status?.containerStatuses?.[0]?.lastState?.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    expect(await cp().api.kubectlOk(['describe', 'pod', 'crasher'])).toMatch(/Warning\s+BackOff\s.*Back-off restarting failed container c/);
    await cp().api.kubectlOk(['delete', 'pod', 'crasher', 'oneshot', 'finisher']);
  });

  it('a dead node goes NotReady with taints, its pod leaves the endpoints, is evicted and replaced elsewhere', async () => {
    const pods = await appPods(cp());
    const onSpare = pods.find((p) => p.spec.nodeName === 'spare' && p.metadata.deletionTimestamp === undefined);
    expect(onSpare, `a pod on "spare" (spread over 3 nodes): ${pods.map((p) => p.spec.nodeName).join(',')}`).toBeDefined();
    const deadIp = onSpare?.status?.podIP ?? '';
    evictedUid = onSpare?.metadata.uid;
    const spareKubelet = cp().kubelets[1];
    const killedAt = Date.now();
    await spareKubelet?.kill();

    await waitFor('node spare to be Ready=Unknown', 40_000, async () => ((await node(cp(), 'spare')).status?.conditions?.find((c) => c.type === 'Ready')?.status === 'Unknown' ? true : undefined), 200);
    const notReadyMs = Date.now() - killedAt;
    const taints = await waitFor('the unreachable taints on spare', 20_000, async () => {
      const t = ((await node(cp(), 'spare')).spec?.taints ?? []).map((x) => `${x.key}:${x.effect}`).sort();
      return t.length > 0 ? t : undefined;
    }, 200);
    expect(taints).toEqual(['node.kubernetes.io/unreachable:NoExecute', 'node.kubernetes.io/unreachable:NoSchedule']);
    expect(await cp().api.kubectlOk(['get', 'node', 'spare', '--no-headers'])).toMatch(/NotReady/);
    await waitFor('the lost pod to leave the endpoints', 30_000, async () => (!(await endpointIps(cp())).includes(deadIp) ? true : undefined), 200);

    await waitFor('the lost pod to be evicted', 40_000, async () => ((await appPods(cp())).find((p) => p.metadata.uid === onSpare?.metadata.uid)?.metadata.deletionTimestamp !== undefined ? true : undefined), 200);
    const evictedMs = Date.now() - killedAt;
    await rolloutStatus(cp());
    const replacedMs = Date.now() - killedAt;
    const live = (await appPods(cp())).filter((p) => p.metadata.deletionTimestamp === undefined);
    expect(live.length).toBe(3);
    expect(live.every((p) => p.spec.nodeName !== 'spare')).toBe(true);
    await waitFor('endpoints to list the 3 live pods', 30_000, async () => (JSON.stringify(await endpointIps(cp())) === JSON.stringify(liveIps(live)) ? true : undefined));
    console.log(`[measured] kill -9 of a node's kubelet: NotReady after ${notReadyMs} ms (grace 8 s), evicted after ${evictedMs} ms (+5 s), replacement available after ${replacedMs} ms`);
    expect(notReadyMs).toBeLessThan(8_000 + 1_000 + 2_000 + 10_000);

    // New work converges on the nodes left, none of it on the tainted one.
    const createdAt = Date.now();
    await cp().api.kubectlOk(['create', 'deployment', 'after-node-kill', '--image=nginx', '--replicas=2']);
    const rollout = await cp().api.kubectl(['rollout', 'status', 'deployment/after-node-kill', '--timeout=120s'], { timeoutMs: 130_000 });
    expect(rollout.code, rollout.stdout + rollout.stderr).toBe(0);
    console.log(`[measured] with node spare dead, a new deployment rolled out in ${Date.now() - createdAt} ms`);
    const fresh = await withClient(cp(), async (c) => (await c.list<Pod>(PODS, 'default', { labelSelector: 'app=after-node-kill' })).items);
    expect(fresh.filter((p) => p.status?.phase === 'Running').length).toBe(2);
    expect(fresh.every((p) => p.spec.nodeName !== 'spare')).toBe(true);
    await cp().api.kubectlOk(['delete', 'deployment', 'after-node-kill']);
  });

  it('the node comes back: Ready again, taints removed, the evicted pod finally deleted by its kubelet', async () => {
    const spareKubelet = cp().kubelets[1];
    spareKubelet?.start();
    await waitFor('node spare Ready again without taints', 60_000, async () => {
      const n = await node(cp(), 'spare');
      const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      return ready && (n.spec?.taints ?? []).length === 0 ? true : undefined;
    });
    expect(evictedUid).toBeDefined();
    await waitFor('the evicted pod to be deleted', 60_000, async () => ((await appPods(cp())).some((p) => p.metadata.uid === evictedUid) ? undefined : true));
    expect((await appPods(cp())).filter((p) => p.metadata.deletionTimestamp === undefined).length).toBe(3);
  });

  it('a deleted node\'s pods are force-deleted by the pod GC', async () => {
    await cp().api.kubectlOk(['apply', '-f', '-'], { input: 'apiVersion: v1\nkind: Pod\nmetadata: {name: pinned}\nspec:\n  nodeName: spare\n  containers:\n  - {name: c, image: nginx}\n' });
    await waitFor('the pinned pod to run', 30_000, async () => ((await withClient(cp(), (c) => c.get<Pod>(PODS, 'default', 'pinned'))).status?.phase === 'Running' ? true : undefined));
    await cp().kubelets[1]?.kill();
    await cp().api.kubectlOk(['delete', 'node', 'spare']);
    const deletedAt = Date.now();
    await waitFor('the pod GC to delete the pinned pod', 90_000, async () => {
      try {
        await withClient(cp(), (c) => c.get<Pod>(PODS, 'default', 'pinned'));
        return undefined;
      } catch {
        return true;
      }
    }, 1000);
    console.log(`[measured] pod on a deleted node force-deleted after ${Date.now() - deletedAt} ms (two 20 s pod GC passes)`);
    expect(cp().controllerManagers[0]?.log()).toMatch(/node spare no longer exists.*force-deleted pod|force-deleted pod.*node spare no longer exists/);
  });
});
