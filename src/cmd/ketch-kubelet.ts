#!/usr/bin/env node
/**
 * `ketch-kubelet`: one or more simulated nodes (`--nodes N`) that register, heartbeat through
 * Leases in kube-node-lease, and run the pods bound to them in a simulated container runtime.
 */
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { pino } from 'pino';
import { realClock } from '../kube/client/clock.js';
import { COMMON_FLAGS, FlagError, flagDurationMs, flagInt, flagString, parseArgs, resolveConnection, usageText, type FlagSpecs } from '../kube/client/component-flags.js';
import type { ApiCredentials } from '../kube/client/kubeconfig.js';
import { KubeClient } from '../kube/client/kube-client.js';
import { parseCidr } from '../kube/controllers/node-ipam.js';
import { Kubelet } from '../kube/kubelet/kubelet.js';
import type { SimNodeSpec } from '../kube/kubelet/node-object.js';
import { parseQuantity } from '../kube/scheduler/quantity.js';
import { registerKubeletMetrics } from '../kube/kubelet/kubelet-metrics.js';
import { METRICS_FLAGS, metricsBindAddress } from '../kube/client/component-metrics.js';
import { serveMetrics, type MetricsEndpoint } from '../util/metrics-http.js';
import { Registry } from '../util/prometheus.js';

const SPECS: FlagSpecs = {
  ...COMMON_FLAGS,
  ...METRICS_FLAGS,
  'node-name': { kind: 'string', def: hostname().toLowerCase(), help: 'Name of the node; with --nodes N > 1 the nodes are <node-name>-1 ... <node-name>-N.' },
  nodes: { kind: 'int', def: '1', help: 'How many simulated nodes this process runs.' },
  cpu: { kind: 'string', def: '4', help: 'CPU capacity of each node (a quantity: 4, 3500m).' },
  memory: { kind: 'string', def: '8Gi', help: 'Memory capacity of each node (a quantity: 8Gi, 512Mi).' },
  'max-pods': { kind: 'int', def: '110', help: 'Number of pods each node can run.' },
  'pod-cidr': { kind: 'string', def: '', help: 'Pod CIDR of the node (one node only); otherwise the controller manager assigns one.' },
  'node-labels': { kind: 'string', def: '', help: 'Labels to add when registering the node(s): key=value,key=value.' },
  'node-lease-duration-seconds': { kind: 'int', def: '40', help: 'Duration of the node Lease; it is renewed every quarter of it.' },
  'node-status-update-frequency': { kind: 'duration', def: '10s', help: 'How often the node status is checked and written when it changed.' },
  'container-start-delay': { kind: 'duration', def: '500ms', help: 'Simulated time from a pod being bound to its containers running.' },
  'container-stop-delay': { kind: 'duration', def: '200ms', help: 'Simulated time containers take to stop (capped by the grace period).' },
};

function nodeSpecs(parsed: Exclude<ReturnType<typeof parseArgs>, 'help'>): SimNodeSpec[] {
  const n = flagInt(parsed, 'nodes');
  if (n < 1 || n > 5000) throw new FlagError(`--nodes: ${n} is out of range 1-5000`);
  const cpu = flagString(parsed, 'cpu');
  const memory = flagString(parsed, 'memory');
  for (const [flag, q] of [['cpu', cpu], ['memory', memory]] as const) {
    try {
      if (parseQuantity(q) <= 0) throw new Error('must be positive');
    } catch (err) {
      throw new FlagError(`--${flag}: ${(err as Error).message}`);
    }
  }
  const maxPods = flagInt(parsed, 'max-pods');
  if (maxPods < 1) throw new FlagError('--max-pods must be at least 1');
  const podCidr = flagString(parsed, 'pod-cidr');
  if (podCidr !== '') {
    if (n > 1) throw new FlagError('--pod-cidr applies to one node; with --nodes N the controller manager assigns pod CIDRs');
    try {
      parseCidr(podCidr);
    } catch (err) {
      throw new FlagError(`--pod-cidr: ${(err as Error).message}`);
    }
  }
  const labels: Record<string, string> = {};
  for (const pair of flagString(parsed, 'node-labels').split(',').filter((s) => s.trim() !== '')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new FlagError(`--node-labels: "${pair}" is not key=value`);
    labels[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  const base = flagString(parsed, 'node-name');
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(base)) throw new FlagError(`--node-name: "${base}" is not a valid node name (lower case DNS-1123 subdomain)`);
  return Array.from({ length: n }, (_, i) => ({
    name: n === 1 ? base : `${base}-${i + 1}`,
    cpu,
    memory,
    maxPods,
    podCidr: podCidr === '' ? undefined : podCidr,
    labels,
  }));
}

async function main(): Promise<number> {
  let parsed;
  let masters: string[];
  let credentials: ApiCredentials;
  let nodes: SimNodeSpec[];
  let metricsAt;
  try {
    parsed = parseArgs(process.argv.slice(2), SPECS);
    if (parsed === 'help') {
      process.stdout.write(usageText('ketch-kubelet', 'Simulated Kubernetes nodes: registration, Lease heartbeats, and a simulated container runtime.', SPECS));
      return 0;
    }
    ({ masters, credentials } = resolveConnection(parsed));
    nodes = nodeSpecs(parsed);
    metricsAt = metricsBindAddress(parsed);
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`ketch-kubelet: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = pino({ level: flagString(parsed, 'log-level'), base: { name: 'ketch-kubelet' } });
  const client = new KubeClient({ masters, credentials, userAgent: 'ketch-kubelet', logger: log });
  const leaseSeconds = flagInt(parsed, 'node-lease-duration-seconds');
  const kubelet = new Kubelet({
    client,
    clock: realClock,
    nodes,
    logger: log,
    agent: { leaseDurationSeconds: leaseSeconds, renewIntervalMs: (leaseSeconds * 1000) / 4, statusUpdateIntervalMs: flagDurationMs(parsed, 'node-status-update-frequency'), statusReportIntervalMs: 5 * 60_000 },
    runtime: { startDelayMs: flagDurationMs(parsed, 'container-start-delay'), stopDelayMs: flagDurationMs(parsed, 'container-stop-delay') },
  });
  const registry = new Registry();
  registerKubeletMetrics(registry, kubelet);
  let endpoint: MetricsEndpoint | undefined;
  try {
    if (metricsAt !== undefined) endpoint = await serveMetrics(metricsAt.host, metricsAt.port, [registry]);
  } catch (err) {
    process.stderr.write(`ketch-kubelet: ${(err as Error).message}\n`);
    client.close();
    return 1;
  }
  const stop = new AbortController();
  // Every loop of the process listens on this signal.
  setMaxListeners(0, stop.signal);
  process.once('SIGTERM', () => stop.abort());
  process.once('SIGINT', () => stop.abort());
  log.info({ masters, nodes: nodes.map((n) => n.name) }, 'starting');
  await kubelet.run(stop.signal);
  await endpoint?.close();
  client.close();
  log.info('stopped');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ketch-kubelet: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
