// Metrics and events of the control plane, all real processes (a 3-member ketch store, 2
// apiservers, 2 leader-elected schedulers, a controller manager, a kubelet with 2 nodes, each
// component serving /metrics): every component's metrics are there and move; the apiserver's
// request counters move with kubectl; a deployment's story and a scheduler failover can be read
// with `kubectl get events` / `kubectl describe`; a failing loop cannot flood the store with events.

import { describe, expect, it } from 'vitest';
import { realClock } from '../../src/kube/client/clock.js';
import type { KubeEvent } from '../../src/kube/client/core-types.js';
import { EventRecorder } from '../../src/kube/client/event-recorder.js';
import { KubeClient } from '../../src/kube/client/kube-client.js';
import { EVENTS } from '../../src/kube/client/resource-ref.js';
import { has, scrape, sumOf, type ParsedMetrics } from '../prometheus-text.js';
import { deploymentYaml, useControlPlane, waitFor, type ComponentProcess, type ControlPlane } from './control-plane-harness.js';

const metricsOf = (p: ComponentProcess): Promise<ParsedMetrics> => scrape(`${p.metricsUrl ?? ''}/metrics`);

/** The scheduler whose leader_election_master_status is 1 (exactly one must say so). */
async function leadingScheduler(cp: ControlPlane, among = cp.schedulers): Promise<ComponentProcess> {
  return waitFor('one leading scheduler', 60_000, async () => {
    const leading: ComponentProcess[] = [];
    for (const s of among) {
      if (!s.running) continue;
      const m = await metricsOf(s);
      if (sumOf(m, 'leader_election_master_status', { name: 'kube-scheduler' }) === 1) leading.push(s);
    }
    return leading.length === 1 ? leading[0] : undefined;
  });
}

async function rollout(cp: ControlPlane, name: string, replicas: number): Promise<void> {
  await cp.api.kubectlOk(['apply', '-f', '-'], { input: deploymentYaml(name, 'nginx:1.20', replicas) });
  const status = await cp.api.kubectl(['rollout', 'status', `deployment/${name}`, '--timeout=120s'], { timeoutMs: 130_000 });
  if (status.code !== 0) throw new Error(`rollout status ${name}: ${status.stdout}\n${status.stderr}`);
}

async function events(cp: ControlPlane, namespace?: string): Promise<KubeEvent[]> {
  const client = new KubeClient({ masters: cp.masters.split(',') });
  try {
    return (await client.listAll<KubeEvent>(EVENTS, namespace, {})).items;
  } finally {
    client.close();
  }
}

describe('control plane metrics and events (2 schedulers, 1 controller manager, 2 nodes)', () => {
  const cp = useControlPlane({ schedulers: 2, controllerManagers: 1, nodes: 2, leaseDuration: '6s', renewDeadline: '4s', retryPeriod: '1s', metrics: true });

  it('every component serves /metrics and /healthz with kube\'s names and types', async () => {
    await leadingScheduler(cp());
    for (const p of cp().all()) {
      // A component opens its metrics port during its start; on a slow machine a moment after the scheduler leads.
      const health = await waitFor(`${p.name} listening on ${p.metricsUrl ?? ''}`, 30_000, () => fetch(`${p.metricsUrl ?? ''}/healthz`));
      expect({ name: p.name, status: health.status, body: await health.text() }).toEqual({ name: p.name, status: 200, body: 'ok' });
      const m = await metricsOf(p);
      expect(m.types.get('process_resident_memory_bytes'), p.name).toBe('gauge');
      if (p.kind !== 'kubelet') expect(m.types.get('leader_election_master_status'), p.name).toBe('gauge');
    }
    const s = await metricsOf(cp().schedulers[0] as ComponentProcess);
    expect({
      attempts: s.types.get('scheduler_schedule_attempts_total'),
      attempt: s.types.get('scheduler_scheduling_attempt_duration_seconds'),
      e2e: s.types.get('scheduler_e2e_scheduling_duration_seconds'),
      pending: s.types.get('scheduler_pending_pods'),
    }).toEqual({ attempts: 'counter', attempt: 'histogram', e2e: 'histogram', pending: 'gauge' });
    expect(has(s, 'scheduler_pending_pods', { queue: 'unschedulable' })).toBe(true);
    const cm = await waitFor('controller manager leading', 30_000, async () => {
      const m = await metricsOf(cp().controllerManagers[0] as ComponentProcess);
      return sumOf(m, 'leader_election_master_status', { name: 'kube-controller-manager' }) === 1 ? m : undefined;
    });
    expect({
      depth: cm.types.get('workqueue_depth'),
      adds: cm.types.get('workqueue_adds_total'),
      queue: cm.types.get('workqueue_queue_duration_seconds'),
      work: cm.types.get('workqueue_work_duration_seconds'),
      retries: cm.types.get('workqueue_retries_total'),
    }).toEqual({ depth: 'gauge', adds: 'counter', queue: 'histogram', work: 'histogram', retries: 'counter' });
    const k = await metricsOf(cp().kubelets[0] as ComponentProcess);
    expect(has(k, 'kubelet_node_name', { node: 'node-1' }) && has(k, 'kubelet_node_name', { node: 'node-2' })).toBe(true);
    // The first heartbeat (get, 404, create) may still be in flight right after start on a loaded
    // machine; it must land within a few renew periods.
    await waitFor('node-1 lease renewed', 30_000, async () => {
      const renewed = sumOf(await metricsOf(cp().kubelets[0] as ComponentProcess), 'ketch_kubelet_node_lease_renewals_total', { node: 'node-1' });
      return renewed > 0 ? renewed : undefined;
    });
  });

  it('apiserver request counters and latencies move with kubectl requests', async () => {
    const url = `${cp().api.url(0)}/metrics`;
    const pods = { verb: 'LIST', resource: 'pods', group: '', version: 'v1', scope: 'namespace', code: '200' };
    const before = await scrape(url);
    for (let i = 0; i < 3; i++) await cp().api.kubectlOk(['get', 'pods']);
    const after = await scrape(url);
    expect(sumOf(after, 'apiserver_request_total', pods) - sumOf(before, 'apiserver_request_total', pods)).toBeGreaterThanOrEqual(3);
    const { code: _code, ...durationLabels } = pods;
    expect(sumOf(after, 'apiserver_request_duration_seconds_count', durationLabels) - sumOf(before, 'apiserver_request_duration_seconds_count', durationLabels)).toBeGreaterThanOrEqual(3);
    // kube's buckets (5 ms to 60 s), and the store timed under etcd_request_duration_seconds.
    expect(has(after, 'apiserver_request_duration_seconds_bucket', { le: '0.005' }) && has(after, 'apiserver_request_duration_seconds_bucket', { le: '60' })).toBe(true);
    expect(sumOf(after, 'etcd_request_duration_seconds_count', { operation: 'list', type: 'pods' })).toBeGreaterThan(0);
    expect(has(after, 'apiserver_current_inflight_requests', { request_kind: 'mutating' })).toBe(true);
    // A mutating request with a non-2xx code is counted under its code.
    const missing = await cp().api.kubectl(['delete', 'configmap', 'no-such-configmap']);
    expect(missing.code).not.toBe(0);
    const afterDelete = await scrape(url);
    expect(sumOf(afterDelete, 'apiserver_request_total', { verb: 'DELETE', resource: 'configmaps', code: '404' })).toBeGreaterThanOrEqual(1);
  });

  it('a deployment\'s story is in kubectl get events and describe; scheduler, workqueue and kubelet metrics move', async () => {
    const leader = await leadingScheduler(cp());
    const attemptsBefore = sumOf(await metricsOf(leader), 'scheduler_schedule_attempts_total', { result: 'scheduled' });
    await rollout(cp(), 'story', 2);
    const text = await waitFor('the deployment\'s events', 30_000, async () => {
      const out = await cp().api.kubectlOk(['get', 'events']);
      return ['ScalingReplicaSet', 'SuccessfulCreate', 'Scheduled', 'Pulled', 'Created', 'Started'].every((r) => out.includes(r)) ? out : undefined;
    });
    expect(text).toMatch(/deployment\/story\s+Scaled up replica set story-[a-z0-9]+ to 2/);
    const describeDeploy = await cp().api.kubectlOk(['describe', 'deployment', 'story']);
    expect(describeDeploy).toMatch(/ScalingReplicaSet\s+.*deployment-controller\s+Scaled up replica set story-/);
    const pod = (await cp().api.kubectlOk(['get', 'pods', '-l', 'app=story', '-o', 'jsonpath={.items[0].metadata.name}'])).trim();
    const describePod = await waitFor('pod events in describe', 20_000, async () => {
      const out = await cp().api.kubectlOk(['describe', 'pod', pod]);
      return out.includes('Started') ? out : undefined;
    });
    expect(describePod).toMatch(/Scheduled\s+.*default-scheduler\s+Successfully assigned default\/story-[a-z0-9-]+ to node-[12]/);
    expect(describePod).toMatch(/Started\s+.*kubelet\s+Started container c/);
    let last = '';
    const describeNode = await waitFor('node events in describe', 20_000, async () => {
      const out = await cp().api.kubectlOk(['describe', 'node', 'node-1']);
      last = out;
      return ['Starting', 'RegisteredNode'].every((r) => out.includes(r)) ? out : undefined;
    }).catch(async (err: unknown) => {
      const about = (await events(cp())).filter((e) => e.involvedObject.name === 'node-1').map((e) => ({ ns: e.metadata.namespace, reason: e.reason, io: e.involvedObject }));
      throw new Error(`${String(err)}\nevents about node-1: ${JSON.stringify(about)}\ndescribe ends: ${last.slice(-600)}`);
    });
    expect(describeNode).toMatch(/Starting\s+.*kubelet\s+Starting kubelet\./);
    expect(describeNode).toMatch(/RegisteredNode\s+.*node-controller\s+Node node-1 event: Registered Node node-1 in Controller/);
    const s = await metricsOf(leader);
    expect(sumOf(s, 'scheduler_schedule_attempts_total', { result: 'scheduled' }) - attemptsBefore).toBeGreaterThanOrEqual(2);
    expect(sumOf(s, 'scheduler_scheduling_attempt_duration_seconds_count', { result: 'scheduled' })).toBeGreaterThanOrEqual(2);
    const cm = await metricsOf(cp().controllerManagers[0] as ComponentProcess);
    expect(sumOf(cm, 'workqueue_adds_total', { name: 'deployment' })).toBeGreaterThan(0);
    expect(sumOf(cm, 'workqueue_work_duration_seconds_count', { name: 'replicaset' })).toBeGreaterThan(0);
    const k = await metricsOf(cp().kubelets[0] as ComponentProcess);
    expect(sumOf(k, 'kubelet_running_pods')).toBeGreaterThanOrEqual(2);
  });

  it('killing the leading scheduler: the other becomes master, LeaderElection events on the Lease tell who, new pods get Scheduled', async () => {
    const first = await leadingScheduler(cp());
    const other = cp().schedulers.find((s) => s !== first) as ComponentProcess;
    const started = Date.now();
    await first.kill();
    try {
      await leadingScheduler(cp(), [other]);
      console.log(`[events e2e] scheduler kill -9 -> new master_status=1 in ${Date.now() - started} ms`);
      const leaseEvents = await waitFor('two LeaderElection events', 30_000, async () => {
        const evs = (await events(cp(), 'kube-system')).filter((e) => e.reason === 'LeaderElection' && e.involvedObject.kind === 'Lease' && e.involvedObject.name === 'kube-scheduler');
        const became = evs.filter((e) => (e.message ?? '').endsWith(' became leader'));
        return new Set(became.map((e) => e.reportingInstance)).size >= 2 ? evs : undefined;
      });
      for (const e of leaseEvents) expect(e.message).toBe(`${e.reportingInstance ?? ''} ${e.message?.endsWith('stopped leading') === true ? 'stopped leading' : 'became leader'}`);
      const shown = await cp().api.kubectlOk(['get', 'events', '-n', 'kube-system', '--field-selector', 'reason=LeaderElection']);
      expect(shown).toMatch(/lease\/kube-scheduler\s+\S+_[0-9a-f-]+ became leader/);
      await rollout(cp(), 'after-failover', 1);
      const scheduled = await waitFor('Scheduled by the new leader', 20_000, async () => {
        const evs = (await events(cp(), 'default')).filter((e) => e.reason === 'Scheduled' && e.involvedObject.name?.startsWith('after-failover-') === true);
        return evs.length > 0 ? evs : undefined;
      });
      const newLeader = leaseEvents.filter((e) => e.message?.endsWith('became leader') === true).map((e) => e.reportingInstance);
      expect(newLeader).toContain(scheduled[0]?.reportingInstance);
    } finally {
      if (!first.running) first.start();
    }
  });

  it('a loop that keeps failing cannot flood the store: 25 events per object, similar ones combined', async () => {
    const client = new KubeClient({ masters: cp().masters.split(',') });
    const recorder = new EventRecorder(client, { component: 'flood-test', instance: 'flood-test' }, realClock);
    const target = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'flooded', namespace: 'default', uid: 'flood-uid-1' } };
    try {
      for (let i = 0; i < 100; i++) recorder.event(target, 'Warning', 'FailedSync', `attempt ${i} failed`);
      await recorder.flush();
      const stored = (await events(cp(), 'default')).filter((e) => e.involvedObject.uid === 'flood-uid-1');
      // 25 tokens: 10 distinct messages, then one combined event counting the other 15.
      expect(recorder.dropped).toBe(75);
      expect(stored.length).toBe(11);
      const combined = stored.filter((e) => (e.message ?? '').startsWith('(combined from similar events): '));
      expect(combined.map((e) => ({ count: e.count, message: e.message }))).toEqual([{ count: 15, message: '(combined from similar events): attempt 24 failed' }]);
    } finally {
      client.close();
    }
  });
});
