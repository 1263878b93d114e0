// The control plane end to end, all real processes: a 3-member ketch store, 2 ketch-apiservers,
// 2 ketch-schedulers and 2 ketch-controller-managers (leader-elected), and one ketch-kubelet
// running 3 simulated nodes; driven with the real kubectl (fresh --cache-dir per call).

import { describe, expect, it } from 'vitest';
import type { ReplicaSet } from '../../src/kube/client/apps-types.js';
import { KubeClient } from '../../src/kube/client/kube-client.js';
import type { KubeEvent, Pod } from '../../src/kube/client/core-types.js';
import type { Lease } from '../../src/kube/client/coordination-types.js';
import { EVENTS, LEASES, PODS, REPLICASETS } from '../../src/kube/client/resource-ref.js';
import { deploymentYaml, useControlPlane, waitFor, type ComponentProcess, type ControlPlane } from './control-plane-harness.js';

async function withClient<T>(cp: ControlPlane, fn: (c: KubeClient) => Promise<T>): Promise<T> {
  const client = new KubeClient({ masters: cp.masters.split(',') });
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** Runs a failover step; the process it stopped is started again even when the step fails, so later tests keep their standby. */
async function restartedAfter(p: ComponentProcess, step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } finally {
    if (!p.running) p.start();
  }
}

/** Creates a Deployment and waits for its rollout; returns the milliseconds that took. */
async function converge(cp: ControlPlane, name: string, replicas: number, server = 0): Promise<number> {
  const start = Date.now();
  await cp.api.kubectlOk(['apply', '-f', '-'], { input: deploymentYaml(name, 'nginx:1.20', replicas), server });
  await rolloutStatus(cp, name, server);
  return Date.now() - start;
}

const pods = (cp: ControlPlane, selector: string): Promise<Pod[]> => withClient(cp, async (c) => (await c.list<Pod>(PODS, 'default', { labelSelector: selector })).items);
const replicaSets = (cp: ControlPlane, selector: string): Promise<ReplicaSet[]> => withClient(cp, async (c) => (await c.list<ReplicaSet>(REPLICASETS, 'default', { labelSelector: selector })).items);

async function holder(cp: ControlPlane, name: string): Promise<Lease['spec']> {
  return withClient(cp, async (c) => (await c.get<Lease>(LEASES, 'kube-system', name)).spec);
}

/** The process whose log names the identity (pino's base field). */
function processOf(procs: readonly ComponentProcess[], identity: string): ComponentProcess {
  const p = procs.find((x) => x.log().includes(`"identity":"${identity}"`));
  if (p === undefined) throw new Error(`no process logs identity ${identity}`);
  return p;
}

async function rolloutStatus(cp: ControlPlane, name: string, server = 0): Promise<void> {
  const status = await cp.api.kubectl(['rollout', 'status', `deployment/${name}`, '--timeout=120s'], { timeoutMs: 130_000, server });
  if (status.code !== 0 || !status.stdout.includes('successfully rolled out')) throw new Error(`rollout status ${name}: exit ${status.code}\n${status.stdout}\n${status.stderr}`);
}

/** Scheduled events by reporting instance, in the order the store recorded them. */
async function scheduledEvents(cp: ControlPlane): Promise<KubeEvent[]> {
  const all = await withClient(cp, async (c) => (await c.listAll<KubeEvent>(EVENTS, undefined, {})).items);
  return all.filter((e) => e.reason === 'Scheduled').sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
}

/** Each instance's Scheduled events form one unbroken run: no two schedulers took turns binding. */
function instanceRuns(events: readonly KubeEvent[]): string[] {
  const runs: string[] = [];
  for (const e of events) if (runs.at(-1) !== e.reportingInstance) runs.push(e.reportingInstance ?? '?');
  return runs;
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
    const desc = await cp().api.kubectlOk(['describe', 'pod', list[0]?.metadata.name ?? '']);
    expect(desc).toMatch(/Scheduled\s.*default-scheduler\s+Successfully assigned default\/web-/);
    expect(desc).toMatch(/Started\s.*Started container c/);
  });

  it('an image change creates a new ReplicaSet and rolls; a replicas change does not; history and undo work', async () => {
    const api = cp().api;
    const before = await replicaSets(cp(), 'app=web');
    expect(before.length).toBe(1);
    const rev1 = before[0]?.metadata.name ?? '';
    expect(rev1).toMatch(/^web-[456789bcdf]+$/);
    expect(before[0]?.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('1');

    await api.kubectlOk(['set', 'image', 'deployment/web', 'c=nginx:1.21']);
    await rolloutStatus(cp(), 'web');
    let rss = await replicaSets(cp(), 'app=web');
    expect(rss.length).toBe(2);
    const rev2 = rss.find((r) => r.metadata.name !== rev1);
    expect(rev2?.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('2');
    expect(rev2?.spec.replicas).toBe(3);
    expect(rss.find((r) => r.metadata.name === rev1)?.spec.replicas).toBe(0);
    let running = (await pods(cp(), 'app=web')).filter((p) => p.metadata.deletionTimestamp === undefined);
    expect(running.map((p) => p.spec.containers[0]?.image)).toEqual(['nginx:1.21', 'nginx:1.21', 'nginx:1.21']);

    await api.kubectlOk(['scale', 'deployment/web', '--replicas=5']);
    await rolloutStatus(cp(), 'web');
    rss = await replicaSets(cp(), 'app=web');
    expect(rss.length).toBe(2);
    expect(rss.find((r) => r.metadata.name === rev2?.metadata.name)?.spec.replicas).toBe(5);

    const history = await api.kubectlOk(['rollout', 'history', 'deployment/web']);
    expect(history).toMatch(/REVISION\s+CHANGE-CAUSE/);
    expect(history).toMatch(/^1\s/m);
    expect(history).toMatch(/^2\s/m);

    await api.kubectlOk(['rollout', 'undo', 'deployment/web']);
    await rolloutStatus(cp(), 'web');
    rss = await replicaSets(cp(), 'app=web');
    expect(rss.length).toBe(2);
    const reused = rss.find((r) => r.metadata.name === rev1);
    expect(reused?.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('3');
    expect(reused?.spec.replicas).toBe(5);
    running = (await pods(cp(), 'app=web')).filter((p) => p.metadata.deletionTimestamp === undefined);
    expect(new Set(running.map((p) => p.spec.containers[0]?.image))).toEqual(new Set(['nginx:1.20']));
    const after = await api.kubectlOk(['rollout', 'history', 'deployment/web']);
    expect(after).toMatch(/^2\s/m);
    expect(after).toMatch(/^3\s/m);
    expect(after).not.toMatch(/^1\s/m);
    await api.kubectlOk(['scale', 'deployment/web', '--replicas=3']);
    await rolloutStatus(cp(), 'web');
  });

  it('scaling to 5 and to 2 adds and removes pods; a deleted pod is replaced', async () => {
    const api = cp().api;
    const live = async (): Promise<Pod[]> => (await pods(cp(), 'app=web')).filter((p) => p.metadata.deletionTimestamp === undefined);
    const allRunning = (list: Pod[], n: number): boolean => list.length === n && list.every((p) => p.status?.phase === 'Running');
    await api.kubectlOk(['scale', 'deployment/web', '--replicas=5']);
    await rolloutStatus(cp(), 'web');
    await waitFor('5 running pods', 30_000, async () => (allRunning(await live(), 5) ? true : undefined));
    await api.kubectlOk(['scale', 'deployment/web', '--replicas=2']);
    await rolloutStatus(cp(), 'web');
    // Scaled-down pods are terminated by their kubelet and disappear.
    await waitFor('2 pods left', 30_000, async () => {
      const all = await pods(cp(), 'app=web');
      return all.length === 2 && allRunning(all, 2) ? true : undefined;
    });
    const victim = (await live())[0]?.metadata.name ?? '';
    const deletedAt = Date.now();
    await api.kubectlOk(['delete', 'pod', victim, '--wait=false']);
    const replaced = await waitFor('a replacement pod Running', 30_000, async () => {
      const list = await live();
      return allRunning(list, 2) && !list.some((p) => p.metadata.name === victim) ? list : undefined;
    }, 100);
    console.log(`[measured] deleted pod replaced (new pod Running) in ${Date.now() - deletedAt} ms`);
    expect(replaced.map((p) => p.metadata.name)).not.toContain(victim);
    await waitFor('the deleted pod to be gone', 30_000, async () => ((await pods(cp(), 'app=web')).some((p) => p.metadata.name === victim) ? undefined : true));
  });

  it('kill -9 of the active scheduler: a standby takes the lease within lease duration + retry and schedules', async () => {
    const first = await holder(cp(), 'kube-scheduler');
    const active = processOf(cp().schedulers, first?.holderIdentity ?? '');
    const killedAt = Date.now();
    await restartedAfter(active, async () => {
      await active.kill();
      const next = await waitFor('another scheduler to take the lease', 40_000, async () => {
        const h = await holder(cp(), 'kube-scheduler');
        return h?.holderIdentity !== first?.holderIdentity && (h?.holderIdentity ?? '') !== '' ? h : undefined;
      }, 100);
      const handoverMs = Date.now() - killedAt;
      const convergedMs = await converge(cp(), 'after-kill', 2);
      console.log(`[measured] scheduler handover after kill -9: ${handoverMs} ms (lease 15 s, retry 2 s, jitter 1.2); new deployment rolled out ${convergedMs} ms later`);
      expect(handoverMs).toBeLessThan(15_000 + 2 * 2_000 * 2.2 + 5_000);
      expect(next?.leaseTransitions).toBe((first?.leaseTransitions ?? 0) + 1);
    });
  });

  it('SIGTERM of the active scheduler releases the lease: a standby takes over within about one retry period', async () => {
    const first = await holder(cp(), 'kube-scheduler');
    const active = processOf(cp().schedulers, first?.holderIdentity ?? '');
    // The standby must be campaigning (the one restarted in the previous test may still be starting).
    await waitFor('a standby to observe the leader', 30_000, () => (cp().schedulers.filter((p) => p !== active && p.running && p.log().includes('new leader observed')).length > 0 ? true : undefined));
    const stoppedAt = Date.now();
    await restartedAfter(active, async () => {
      const stopping = active.stop();
      const next = await waitFor('another scheduler to take the released lease', 20_000, async () => {
        const h = await holder(cp(), 'kube-scheduler');
        return h?.holderIdentity !== first?.holderIdentity && (h?.holderIdentity ?? '') !== '' ? h : undefined;
      }, 50);
      const handoverMs = Date.now() - stoppedAt;
      await stopping;
      const convergedMs = await converge(cp(), 'after-term', 2);
      console.log(`[measured] scheduler handover after SIGTERM: ${handoverMs} ms (retry period 2 s, jitter up to 2.4 s); new deployment rolled out ${convergedMs} ms later`);
      expect(handoverMs).toBeLessThan(2_000 * 2.2 + 3_000);
      expect(active.exitCode).toBe(0);
      expect(next?.holderIdentity).not.toBe(first?.holderIdentity);
    });
  });

  it('a scheduler paused (SIGSTOP) past its lease does not bind after it resumes', async () => {
    const first = await holder(cp(), 'kube-scheduler');
    const active = processOf(cp().schedulers, first?.holderIdentity ?? '');
    await waitFor('a standby to observe the leader', 30_000, () => (cp().schedulers.filter((p) => p !== active && p.running && p.log().includes('new leader observed')).length > 0 ? true : undefined));
    active.pause();
    const pausedAt = Date.now();
    try {
      // Work queued while the leader is frozen: it must be done by the new leader only.
      await cp().api.kubectlOk(['apply', '-f', '-'], { input: deploymentYaml('during-pause', 'nginx:1.20', 3) });
      const next = await waitFor('another scheduler to take the lease', 40_000, async () => {
        const h = await holder(cp(), 'kube-scheduler');
        return h?.holderIdentity !== first?.holderIdentity && (h?.holderIdentity ?? '') !== '' ? h : undefined;
      }, 100);
      console.log(`[measured] scheduler handover while the leader is paused: ${Date.now() - pausedAt} ms`);
      await rolloutStatus(cp(), 'during-pause');
      expect(next?.holderIdentity).not.toBe(first?.holderIdentity);
    } finally {
      active.resume();
    }
    // Give the resumed process time to (not) act, then create more work.
    await new Promise((r) => setTimeout(r, 5000));
    await cp().api.kubectlOk(['apply', '-f', '-'], { input: deploymentYaml('after-pause', 'nginx:1.20', 3) });
    await rolloutStatus(cp(), 'after-pause');
    const events = await scheduledEvents(cp());
    const resumedEvents = events.filter((e) => e.reportingInstance === first?.holderIdentity && Date.parse(e.eventTime ?? '') > pausedAt);
    expect(resumedEvents).toEqual([]);
    expect(active.log()).toMatch(/leader election lost|does not hold/);
  });

  it('kill -9 of the active controller manager: a standby takes over and new work converges', async () => {
    const first = await holder(cp(), 'kube-controller-manager');
    const active = processOf(cp().controllerManagers, first?.holderIdentity ?? '');
    const killedAt = Date.now();
    await restartedAfter(active, async () => {
      await active.kill();
      await waitFor('another controller manager to take the lease', 40_000, async () => {
        const h = await holder(cp(), 'kube-controller-manager');
        return h?.holderIdentity !== first?.holderIdentity && (h?.holderIdentity ?? '') !== '' ? h : undefined;
      }, 100);
      const handoverMs = Date.now() - killedAt;
      const convergedMs = await converge(cp(), 'after-cm-kill', 2);
      console.log(`[measured] controller-manager handover after kill -9: ${handoverMs} ms; new deployment rolled out ${convergedMs} ms later`);
    });
  });

  it('kill -9 of the store leader: the store elects another, the control plane keeps its leaders and new work converges', async () => {
    const store = cp().api.store;
    const before = await store.leader();
    const killedAt = Date.now();
    await before.member.kill();
    try {
      const after = await store.leader(30_000);
      const electedMs = Date.now() - killedAt;
      expect(after.member).not.toBe(before.member);
      expect(after.term).toBeGreaterThan(before.term);
      const convergedMs = await converge(cp(), 'after-store-kill', 2);
      console.log(`[measured] kill -9 of the store leader: new store leader after ${electedMs} ms; new deployment rolled out ${convergedMs} ms later (${Date.now() - killedAt} ms after the kill)`);
      expect((await pods(cp(), 'app=after-store-kill')).filter((p) => p.status?.phase === 'Running').length).toBe(2);
    } finally {
      await before.member.start();
    }
    await store.waitHealthy(60_000);
  });

  it('kill -9 of one apiserver: every component fails over to the other and new work converges', async () => {
    const victim = cp().api.apiservers[0];
    if (victim === undefined) throw new Error('no apiserver');
    const leases = async (): Promise<string> => (await withClient(cp(), async (c) => [await c.get<Lease>(LEASES, 'kube-system', 'kube-scheduler'), await c.get<Lease>(LEASES, 'kube-system', 'kube-controller-manager')])).map((l) => `${l.spec?.holderIdentity}@${l.spec?.renewTime}`).join(' ');
    const killedAt = Date.now();
    await victim.kill();
    try {
      // Through the surviving apiserver (index 1): the components' clients must find it themselves.
      const convergedMs = await converge(cp(), 'after-apiserver-kill', 2, 1);
      console.log(`[measured] kill -9 of one apiserver: new deployment (created through the survivor) rolled out in ${convergedMs} ms, ${Date.now() - killedAt} ms after the kill`);
      // Leaders keep renewing through the other apiserver.
      const renewedBefore = await leases();
      await waitFor('both leases renewed through the surviving apiserver', 30_000, async () => {
        const now = await leases();
        const [s0, c0] = renewedBefore.split(' ');
        const [s1, c1] = now.split(' ');
        return s1 !== s0 && c1 !== c0 ? true : undefined;
      }, 500);
    } finally {
      await victim.start();
      // A restarted apiserver bootstraps through the store before it is ready: slow on a loaded machine.
      await victim.waitReady(120_000);
    }
  });

  it('a ReplicaSet adopts a matching orphan pod and releases a pod relabelled out of its selector', async () => {
    await withClient(cp(), (c) =>
      c.create(REPLICASETS, 'default', {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: { name: 'adopter', namespace: 'default' },
        spec: { replicas: 2, selector: { matchLabels: { app: 'adopt' } }, template: { metadata: { labels: { app: 'adopt' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
      }),
    );
    const rs = await waitFor('2 running pods', 30_000, async () => {
      const list = await pods(cp(), 'app=adopt');
      return list.filter((p) => p.status?.phase === 'Running').length === 2 ? withClient(cp(), (c) => c.get<ReplicaSet>(REPLICASETS, 'default', 'adopter')) : undefined;
    });
    // An orphan that matches: adopted, then one pod too many is deleted.
    await cp().api.kubectlOk(['apply', '-f', '-'], { input: 'apiVersion: v1\nkind: Pod\nmetadata: {name: stray, labels: {app: adopt}}\nspec:\n  containers:\n  - {name: c, image: nginx}\n' });
    await waitFor('the RS to adopt and settle at 2', 30_000, async () => {
      const live = (await pods(cp(), 'app=adopt')).filter((p) => p.metadata.deletionTimestamp === undefined);
      const owned = live.filter((p) => p.metadata.ownerReferences?.some((r) => r.controller === true && r.uid === rs.metadata.uid));
      return live.length === 2 && owned.length === 2 ? true : undefined;
    });
    // A pod relabelled out of the selector: released (no owner) and replaced.
    const victim = (await pods(cp(), 'app=adopt')).find((p) => p.metadata.deletionTimestamp === undefined && p.status?.phase === 'Running');
    await cp().api.kubectlOk(['label', 'pod', victim?.metadata.name ?? '', 'app=free', '--overwrite']);
    await waitFor('the release and a replacement', 30_000, async () => {
      const freed = (await pods(cp(), 'app=free'))[0];
      const live = (await pods(cp(), 'app=adopt')).filter((p) => p.metadata.deletionTimestamp === undefined);
      return freed !== undefined && (freed.metadata.ownerReferences ?? []).length === 0 && live.length === 2 ? true : undefined;
    });
    await cp().api.kubectlOk(['delete', 'rs', 'adopter']);
    await cp().api.kubectlOk(['delete', 'pod', '-l', 'app=free']);
  });

  it('deleting a namespace removes its Deployment, ReplicaSets and running pods, then the namespace', async () => {
    const api = cp().api;
    await api.kubectlOk(['create', 'namespace', 'doomed']);
    await api.kubectlOk(['apply', '-n', 'doomed', '-f', '-'], { input: deploymentYaml('inner', 'nginx:1.20', 2) });
    const status = await api.kubectl(['rollout', 'status', '-n', 'doomed', 'deployment/inner', '--timeout=120s'], { timeoutMs: 130_000 });
    expect(status.code).toBe(0);
    const deletedAt = Date.now();
    await api.kubectlOk(['delete', 'namespace', 'doomed', '--wait=false']);
    await waitFor('the namespace to be gone', 90_000, async () => {
      const r = await api.kubectl(['get', 'namespace', 'doomed']);
      return r.code !== 0 && /NotFound/.test(r.stderr) ? true : undefined;
    }, 500);
    console.log(`[measured] namespace with a running Deployment deleted in ${Date.now() - deletedAt} ms`);
    const left = await withClient(cp(), async (c) => (await c.list<Pod>(PODS, 'doomed')).items.length);
    expect(left).toBe(0);
  });

  it('an unschedulable pod gets FailedScheduling with the reasons and PodScheduled=False', async () => {
    await cp().api.kubectlOk(['apply', '-f', '-'], {
      input: 'apiVersion: v1\nkind: Pod\nmetadata: {name: huge, labels: {run: huge}}\nspec:\n  containers:\n  - {name: c, image: nginx, resources: {requests: {cpu: "100"}}}\n',
    });
    const pod = await waitFor('the PodScheduled=False condition', 30_000, async () => {
      const p = (await pods(cp(), 'run=huge'))[0];
      return p?.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False') !== undefined ? p : undefined;
    });
    expect(pod.spec.nodeName ?? '').toBe('');
    expect(pod.status?.conditions?.find((c) => c.type === 'PodScheduled')).toMatchObject({ reason: 'Unschedulable', message: '0/3 nodes are available: 3 Insufficient cpu.' });
    const desc = await cp().api.kubectlOk(['describe', 'pod', 'huge']);
    expect(desc).toMatch(/Warning\s+FailedScheduling\s.*0\/3 nodes are available: 3 Insufficient cpu\./);
    await cp().api.kubectlOk(['delete', 'pod', 'huge']);
  });

  it('the garbage collector deletes a ReplicaSet whose owner does not exist, and its pods', async () => {
    await withClient(cp(), (c) =>
      c.create(REPLICASETS, 'default', {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: { name: 'orphaned', namespace: 'default', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'ghost', uid: '00000000-0000-0000-0000-000000000000', controller: true }] },
        spec: { replicas: 2, selector: { matchLabels: { app: 'orphaned' } }, template: { metadata: { labels: { app: 'orphaned' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
      }),
    );
    await waitFor('the ReplicaSet and its pods to be collected', 60_000, async () => ((await replicaSets(cp(), 'app=orphaned')).length === 0 && (await pods(cp(), 'app=orphaned')).length === 0 ? true : undefined), 500);
    // The collector logs after its DELETE returns, which can be after the poll above saw the RS gone.
    const gcLog = await waitFor('the garbage collector to log the deletion', 10_000, () => {
      const text = cp().controllerManagers.map((p) => p.log()).join('\n');
      return /"name":"orphaned".*deleted object whose owners are gone/.test(text) ? text : undefined;
    });
    expect(gcLog).toMatch(/"name":"orphaned".*deleted object whose owners are gone/);
  });

  it("never two schedulers binding at once: each instance's Scheduled events form one unbroken run", async () => {
    const events = await scheduledEvents(cp());
    const runs = instanceRuns(events);
    // At least the handovers above: kill -9, SIGTERM, SIGSTOP.
    expect(runs.length).toBeGreaterThanOrEqual(3);
    expect(new Set(runs).size).toBe(runs.length);
    // Every pod was bound exactly once.
    const perPod = new Map<string, number>();
    for (const e of events) perPod.set(e.involvedObject.uid ?? '', (perPod.get(e.involvedObject.uid ?? '') ?? 0) + 1);
    expect([...perPod.values()].every((n) => n === 1)).toBe(true);
  });
});
