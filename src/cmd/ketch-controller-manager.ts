#!/usr/bin/env node
/**
 * `ketch-controller-manager`: the Deployment, ReplicaSet, Endpoints, node lifecycle, node IPAM,
 * garbage collector and pod GC controllers (kube-controller-manager's flags). Several replicas may run; one leads (Lease
 * kube-system/kube-controller-manager).
 */
import type { Logger } from 'pino';
import { realClock } from '../kube/client/clock.js';
import { COMMON_FLAGS, FlagError, flagBool, flagDurationMs, flagInt, flagString, parseArgs, resolveConnection, usageText, type FlagSpecs, type ParsedFlags } from '../kube/client/component-flags.js';
import type { ApiCredentials } from '../kube/client/kubeconfig.js';
import { EventRecorder } from '../kube/client/event-recorder.js';
import { KubeClient } from '../kube/client/kube-client.js';
import { DeploymentController } from '../kube/controllers/deployment-controller.js';
import { EndpointsController } from '../kube/controllers/endpoints-controller.js';
import { GarbageCollector } from '../kube/controllers/garbage-collector.js';
import { NodeIpamController, parseCidr } from '../kube/controllers/node-ipam.js';
import { NodeLifecycleController } from '../kube/controllers/node-lifecycle-controller.js';
import { PodGcController } from '../kube/controllers/pod-gc-controller.js';
import { ReplicaSetController, type ControllerContext } from '../kube/controllers/replicaset-controller.js';
import { SharedInformers } from '../kube/informer/shared-informers.js';
import { leaderElectionFlags, leaderElectionSettings } from '../kube/leader-election/leader-election-flags.js';
import { runElectedComponent } from '../kube/leader-election/run-elected.js';
import { WorkQueueMetricsProvider, setWorkQueueMetricsProvider } from '../kube/informer/work-queue-metrics.js';
import { METRICS_FLAGS, metricsBindAddress } from '../kube/client/component-metrics.js';
import { serveMetrics, type MetricsEndpoint } from '../util/metrics-http.js';
import { Registry } from '../util/prometheus.js';

const ALL_CONTROLLERS = ['deployment', 'replicaset', 'endpoint', 'nodelifecycle', 'nodeipam', 'garbagecollector', 'podgc'] as const;
type ControllerName = (typeof ALL_CONTROLLERS)[number];

const SPECS: FlagSpecs = {
  ...COMMON_FLAGS,
  ...leaderElectionFlags('kube-controller-manager'),
  ...METRICS_FLAGS,
  controllers: { kind: 'string', def: '*', help: `Controllers to enable: '*' for all, 'foo' to enable, '-foo' to disable. All: ${ALL_CONTROLLERS.join(', ')}.` },
  'node-monitor-period': { kind: 'duration', def: '5s', help: 'How often the node lifecycle controller checks node health.' },
  'node-monitor-grace-period': { kind: 'duration', def: '40s', help: 'How long a node may go without renewing its Lease before it is marked Ready=Unknown.' },
  'pod-eviction-timeout': { kind: 'duration', def: '5m0s', help: 'How long a pod with no toleration at all for the not-ready/unreachable taints stays on such a node before eviction. (The apiserver normally gives every pod 300 s tolerations; those are honoured as written.)' },
  'allocate-node-cidrs': { kind: 'bool', def: 'true', help: 'Allocate pod CIDRs to nodes from --cluster-cidr.' },
  'cluster-cidr': { kind: 'string', def: '10.244.0.0/16', help: 'CIDR range for pods in the cluster.' },
  'node-cidr-mask-size': { kind: 'int', def: '24', help: 'Mask size of the pod CIDR given to each node.' },
  'concurrent-deployment-syncs': { kind: 'int', def: '5', help: 'Deployments synced at once.' },
  'concurrent-replicaset-syncs': { kind: 'int', def: '5', help: 'ReplicaSets synced at once.' },
  'concurrent-endpoint-syncs': { kind: 'int', def: '5', help: 'Services synced at once.' },
};

function enabledControllers(spec: string): Set<ControllerName> {
  const out = new Set<ControllerName>();
  const parts = spec.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const known = new Set<string>(ALL_CONTROLLERS);
  if (parts.includes('*')) for (const c of ALL_CONTROLLERS) out.add(c);
  for (const p of parts) {
    if (p === '*') continue;
    const name = p.replace(/^-/, '');
    if (!known.has(name)) throw new FlagError(`--controllers: unknown controller "${name}" (known: ${ALL_CONTROLLERS.join(', ')})`);
    if (p.startsWith('-')) out.delete(name as ControllerName);
    else out.add(name as ControllerName);
  }
  return out;
}

async function runControllers(f: ParsedFlags, enabled: Set<ControllerName>, client: KubeClient, identity: string, log: Logger, signal: AbortSignal): Promise<void> {
  const informers = new SharedInformers(client, realClock, log, 10 * 60_000);
  const ctx = (component: string): ControllerContext => ({
    client,
    informers,
    clock: realClock,
    logger: log,
    recorder: new EventRecorder(client, { component, instance: identity }, realClock, log),
  });
  const runs: Promise<void>[] = [];
  const starters: (() => Promise<void>)[] = [];
  if (enabled.has('replicaset')) {
    const c = new ReplicaSetController(ctx('replicaset-controller'));
    starters.push(() => c.run(signal, flagInt(f, 'concurrent-replicaset-syncs')));
  }
  if (enabled.has('deployment')) {
    const c = new DeploymentController(ctx('deployment-controller'));
    starters.push(() => c.run(signal, flagInt(f, 'concurrent-deployment-syncs')));
  }
  if (enabled.has('endpoint')) {
    const c = new EndpointsController(ctx('endpoint-controller'));
    starters.push(() => c.run(signal, flagInt(f, 'concurrent-endpoint-syncs')));
  }
  if (enabled.has('nodelifecycle')) {
    const c = new NodeLifecycleController(ctx('node-controller'), {
      monitorPeriodMs: flagDurationMs(f, 'node-monitor-period'),
      gracePeriodMs: flagDurationMs(f, 'node-monitor-grace-period'),
      podEvictionTimeoutSeconds: flagDurationMs(f, 'pod-eviction-timeout') / 1000,
    });
    starters.push(() => c.run(signal));
  }
  if (enabled.has('nodeipam') && flagBool(f, 'allocate-node-cidrs')) {
    const c = new NodeIpamController(ctx('node-ipam-controller'), flagString(f, 'cluster-cidr'), flagInt(f, 'node-cidr-mask-size'));
    starters.push(() => c.run(signal));
  }
  if (enabled.has('garbagecollector')) {
    const c = new GarbageCollector(ctx('garbage-collector-controller'));
    starters.push(() => c.run(signal));
  }
  if (enabled.has('podgc')) {
    const c = new PodGcController(ctx('pod-garbage-collector'));
    starters.push(() => c.run(signal));
  }
  informers.start(signal);
  for (const start of starters) runs.push(start());
  log.info({ controllers: [...enabled] }, 'controllers started');
  await Promise.all(runs);
  await informers.stopped();
}

async function main(): Promise<number> {
  let parsed;
  let masters: string[];
  let credentials: ApiCredentials;
  let settings;
  let enabled: Set<ControllerName>;
  let metricsAt;
  try {
    parsed = parseArgs(process.argv.slice(2), SPECS);
    if (parsed === 'help') {
      process.stdout.write(usageText('ketch-controller-manager', 'Runs the control loops that make declared state real (leader-elected).', SPECS));
      return 0;
    }
    ({ masters, credentials } = resolveConnection(parsed));
    settings = leaderElectionSettings(parsed);
    enabled = enabledControllers(flagString(parsed, 'controllers'));
    metricsAt = metricsBindAddress(parsed);
    try {
      parseCidr(flagString(parsed, 'cluster-cidr'));
    } catch (err) {
      throw new FlagError(`--cluster-cidr: ${(err as Error).message}`);
    }
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`ketch-controller-manager: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const flags = parsed;
  const registry = new Registry();
  setWorkQueueMetricsProvider(new WorkQueueMetricsProvider(registry));
  let endpoint: MetricsEndpoint | undefined;
  try {
    if (metricsAt !== undefined) endpoint = await serveMetrics(metricsAt.host, metricsAt.port, [registry]);
  } catch (err) {
    process.stderr.write(`ketch-controller-manager: ${(err as Error).message}\n`);
    return 1;
  }
  await runElectedComponent({
    name: 'ketch-controller-manager',
    masters,
    credentials,
    settings,
    logLevel: flagString(flags, 'log-level'),
    registry,
    work: ({ client, identity, logger }, signal) => runControllers(flags, enabled, client, identity, logger, signal),
  });
  await endpoint?.close();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ketch-controller-manager: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
