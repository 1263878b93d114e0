// A ketch-kubelet process's metrics. kubelet_running_pods and kubelet_node_name are kubelet's
// names, with a node label added because one process runs many simulated nodes; the rest are
// Ketch's own (ketch_kubelet_*): pods by runtime stage, and each node's Lease heartbeats.

import { readCounter, readGauge, type Registry, type Sample } from '../../util/prometheus.js';
import type { Kubelet } from './kubelet.js';

export function registerKubeletMetrics(registry: Registry, kubelet: Kubelet): void {
  const agents = kubelet.agents;
  const perNode = (read: (a: (typeof agents)[number]) => number) => (): Sample[] => agents.map((a): Sample => [{ node: a.name }, read(a)]);
  const node = ['node'];
  readGauge(registry, { name: 'kubelet_node_name', help: 'The node\'s name. The count is always 1.', labelNames: node }, perNode(() => 1));
  readGauge(registry, { name: 'kubelet_running_pods', help: 'Number of pods that have a running pod sandbox', labelNames: node }, perNode((a) => kubelet.runner.runningPods(a.name)));
  readGauge(registry, { name: 'ketch_kubelet_pods', help: 'Pods the simulated runtime holds, by node and stage (creating, running, backoff, completed, terminated).', labelNames: ['node', 'stage'] }, () => {
    const out: Sample[] = [];
    for (const a of agents) for (const [stage, n] of kubelet.runner.podStages(a.name)) out.push([{ node: a.name, stage }, n]);
    return out;
  });
  readCounter(registry, { name: 'ketch_kubelet_pods_started_total', help: 'Pods whose simulated containers were started.' }, () => kubelet.runner.stats.started);
  readCounter(registry, { name: 'ketch_kubelet_pods_terminated_total', help: 'Pods terminated and handed back to the apiserver.' }, () => kubelet.runner.stats.terminated);
  readCounter(registry, { name: 'ketch_kubelet_node_lease_renewals_total', help: 'Successful renewals of the node\'s Lease in kube-node-lease (its heartbeat).', labelNames: node }, perNode((a) => a.stats.leaseRenewals));
  readCounter(registry, { name: 'ketch_kubelet_node_lease_renew_failures_total', help: 'Failed renewals of the node\'s Lease (each is retried with backoff).', labelNames: node }, perNode((a) => a.stats.leaseFailures));
  readGauge(registry, { name: 'ketch_kubelet_node_lease_last_renew_timestamp_seconds', help: 'Unix time of the node Lease\'s last successful renewal (0: none yet).', labelNames: node }, perNode((a) => a.stats.lastRenewWallMs / 1000));
  readCounter(registry, { name: 'ketch_kubelet_node_status_reports_total', help: 'Node status writes (on change, or every report interval).', labelNames: node }, perNode((a) => a.stats.statusReports));
}
