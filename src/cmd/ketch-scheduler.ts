#!/usr/bin/env node
/**
 * `ketch-scheduler`: assigns pods to nodes (kube-scheduler's flags for leader election and
 * apiserver access). Several replicas may run; one leads (Lease kube-system/kube-scheduler).
 */
import { realClock } from '../kube/client/clock.js';
import { COMMON_FLAGS, FlagError, flagString, parseArgs, resolveConnection, usageText, type FlagSpecs } from '../kube/client/component-flags.js';
import type { ApiCredentials } from '../kube/client/kubeconfig.js';
import { leaderElectionFlags, leaderElectionSettings } from '../kube/leader-election/leader-election-flags.js';
import { runElectedComponent } from '../kube/leader-election/run-elected.js';
import { DEFAULT_SCHEDULER_NAME, Scheduler } from '../kube/scheduler/scheduler.js';
import { SchedulerMetrics } from '../kube/scheduler/scheduler-metrics.js';
import { METRICS_FLAGS, metricsBindAddress } from '../kube/client/component-metrics.js';
import { serveMetrics, type MetricsEndpoint } from '../util/metrics-http.js';
import { Registry } from '../util/prometheus.js';

const SPECS: FlagSpecs = {
  ...COMMON_FLAGS,
  ...leaderElectionFlags('kube-scheduler'),
  ...METRICS_FLAGS,
  'scheduler-name': { kind: 'string', def: DEFAULT_SCHEDULER_NAME, help: 'Schedule the pods whose spec.schedulerName is this.' },
};

async function main(): Promise<number> {
  let parsed;
  let masters: string[];
  let credentials: ApiCredentials;
  let settings;
  let metricsAt;
  try {
    parsed = parseArgs(process.argv.slice(2), SPECS);
    if (parsed === 'help') {
      process.stdout.write(usageText('ketch-scheduler', 'Assigns pods to nodes through the Kubernetes API (leader-elected).', SPECS));
      return 0;
    }
    ({ masters, credentials } = resolveConnection(parsed));
    settings = leaderElectionSettings(parsed);
    metricsAt = metricsBindAddress(parsed);
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`ketch-scheduler: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const schedulerName = flagString(parsed, 'scheduler-name');
  const registry = new Registry();
  const metrics = new SchedulerMetrics(registry);
  let endpoint: MetricsEndpoint | undefined;
  try {
    if (metricsAt !== undefined) endpoint = await serveMetrics(metricsAt.host, metricsAt.port, [registry]);
  } catch (err) {
    process.stderr.write(`ketch-scheduler: ${(err as Error).message}\n`);
    return 1;
  }
  await runElectedComponent({
    name: 'ketch-scheduler',
    masters,
    credentials,
    settings,
    logLevel: flagString(parsed, 'log-level'),
    registry,
    work: ({ client, identity, logger }, signal) => new Scheduler({ client, clock: realClock, identity, schedulerName, logger, metrics }).run(signal),
  });
  await endpoint?.close();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ketch-scheduler: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
