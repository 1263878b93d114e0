// Scale probe (a measurement, not part of `npm test`: the suffix keeps it out of the default
// include): the real control plane with N simulated nodes, one Deployment of M replicas; prints
// time to all Running, scheduling throughput, pod startup latency (creation → running, p50/p99).
//   npx tsc -p tsconfig.json && KETCH_PROBE_NODES=20 KETCH_PROBE_PODS=400 \
//     npx vitest run --config test/kube/probe.vitest.config.ts

import { expect, it } from 'vitest';
import { KubeClient } from '../../src/kube/client/kube-client.js';
import type { KubeEvent, Pod } from '../../src/kube/client/core-types.js';
import { EVENTS, PODS } from '../../src/kube/client/resource-ref.js';
import { startControlPlane } from './control-plane-harness.js';

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

it('scale probe', async () => {
  const nodes = Number(process.env.KETCH_PROBE_NODES ?? 20);
  const replicas = Number(process.env.KETCH_PROBE_PODS ?? 400);
  const cp = await startControlPlane({ schedulers: 2, controllerManagers: 2, nodes, apiserverFlags: process.env.KETCH_PROBE_APISERVER_FLAGS?.split(' ').filter((f) => f !== '') });
  const client = new KubeClient({ masters: cp.masters.split(',') });
  try {
    for (;;) {
      const out = await cp.api.kubectlOk(['get', 'nodes', '--no-headers']);
      if (out.split('\n').filter((l) => / Ready /.test(l)).length === nodes) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    // Let node IPAM assign pod CIDRs before the clock starts.
    await new Promise((r) => setTimeout(r, 3000));
    const t0 = Date.now();
    await cp.api.kubectlOk(['create', 'deployment', 'scale', '--image=nginx', `--replicas=${replicas}`]);
    let running = 0;
    while (running < replicas) {
      await new Promise((r) => setTimeout(r, 500));
      // A list may time out while the store is saturated: that is a slow poll, not a result.
      const list = await client.list<Pod>(PODS, 'default', { labelSelector: 'app=scale' }).catch(() => undefined);
      if (list !== undefined) running = list.items.filter((p) => p.status?.phase === 'Running').length;
      if (Date.now() - t0 > 15 * 60_000) throw new Error(`only ${running}/${replicas} Running after 15 min`);
    }
    const allRunningMs = Date.now() - t0;
    const list = (await client.list<Pod>(PODS, 'default', { labelSelector: 'app=scale' })).items;
    const startup = list
      .map((p) => Date.parse(p.status?.containerStatuses?.[0]?.state?.running?.startedAt ?? '') - Date.parse(p.metadata.creationTimestamp ?? ''))
      .filter((x) => Number.isFinite(x))
      .sort((a, b) => a - b);
    const events = (await client.listAll<KubeEvent>(EVENTS, 'default', {})).items.filter((e) => e.reason === 'Scheduled' && e.involvedObject.name?.startsWith('scale-') === true);
    const times = events.map((e) => Date.parse(e.eventTime ?? '')).sort((a, b) => a - b);
    const spanS = ((times.at(-1) ?? 0) - (times[0] ?? 0)) / 1000;
    // Where the time goes: created → Scheduled event → container started.
    const created = new Map(list.map((p) => [p.metadata.name ?? '', Date.parse(p.metadata.creationTimestamp ?? '')]));
    const boundAt = new Map(events.map((e) => [e.involvedObject.name ?? '', Date.parse(e.eventTime ?? '')]));
    const toSchedule = list.map((p) => (boundAt.get(p.metadata.name ?? '') ?? NaN) - (created.get(p.metadata.name ?? '') ?? NaN)).filter(Number.isFinite).sort((a, b) => a - b);
    const toRun = list.map((p) => Date.parse(p.status?.containerStatuses?.[0]?.state?.running?.startedAt ?? '') - (boundAt.get(p.metadata.name ?? '') ?? NaN)).filter(Number.isFinite).sort((a, b) => a - b);
    const createdTimes = [...created.values()].sort((a, b) => a - b);
    const perNode = new Map<string, number>();
    for (const p of list) perNode.set(p.spec.nodeName ?? '', (perNode.get(p.spec.nodeName ?? '') ?? 0) + 1);
    console.log(
      `[measured] ${JSON.stringify({
        nodes,
        pods: replicas,
        allRunningMs,
        scheduledEvents: events.length,
        schedulingSpanS: spanS,
        podsScheduledPerS: spanS > 0 ? Math.round(events.length / spanS) : null,
        creationSpanS: ((createdTimes.at(-1) ?? 0) - (createdTimes[0] ?? 0)) / 1000,
        firstCreatedAfterMs: (createdTimes[0] ?? 0) - t0,
        createdToScheduledMsP50: pct(toSchedule, 50),
        createdToScheduledMsP99: pct(toSchedule, 99),
        scheduledToRunningMsP50: pct(toRun, 50),
        scheduledToRunningMsP99: pct(toRun, 99),
        startupMsP50: pct(startup, 50),
        startupMsP99: pct(startup, 99),
        podsPerNodeMin: Math.min(...perNode.values()),
        podsPerNodeMax: Math.max(...perNode.values()),
      })}`,
    );
    expect(running).toBe(replicas);
  } finally {
    client.close();
    // Keep every component's and apiserver's log for a look at where the time went.
    if (process.env.KETCH_PROBE_KEEP_LOGS === '1') cp.markFailed();
    await cp.destroy();
  }
}, 20 * 60_000);
