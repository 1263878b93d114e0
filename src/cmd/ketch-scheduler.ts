#!/usr/bin/env node
/**
 * `ketch-scheduler`: assigns pods to nodes (kube-scheduler's flags for leader election and
 * apiserver access). Several replicas may run; one leads (Lease kube-system/kube-scheduler).
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { pino } from 'pino';
import { realClock } from '../kube/client/clock.js';
import { COMMON_FLAGS, FlagError, flagString, parseArgs, resolveMasters, usageText, type FlagSpecs } from '../kube/client/component-flags.js';
import { KubeClient } from '../kube/client/kube-client.js';
import { leaderElectionFlags, leaderElectionSettings } from '../kube/leader-election/leader-election-flags.js';
import { runElected } from '../kube/leader-election/run-elected.js';
import { DEFAULT_SCHEDULER_NAME, Scheduler } from '../kube/scheduler/scheduler.js';

const SPECS: FlagSpecs = {
  ...COMMON_FLAGS,
  ...leaderElectionFlags('kube-scheduler'),
  'scheduler-name': { kind: 'string', def: DEFAULT_SCHEDULER_NAME, help: 'Schedule the pods whose spec.schedulerName is this.' },
};

async function main(): Promise<number> {
  let parsed;
  let masters: string[];
  let settings;
  try {
    parsed = parseArgs(process.argv.slice(2), SPECS);
    if (parsed === 'help') {
      process.stdout.write(usageText('ketch-scheduler', 'Assigns pods to nodes through the Kubernetes API (leader-elected).', SPECS));
      return 0;
    }
    masters = resolveMasters(parsed);
    settings = leaderElectionSettings(parsed);
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`ketch-scheduler: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const identity = `${hostname()}_${randomUUID()}`;
  const log = pino({ level: flagString(parsed, 'log-level'), base: { name: 'ketch-scheduler', identity } });
  const lockClient = new KubeClient({ masters, userAgent: 'ketch-scheduler/leader-election', logger: log });
  const workClient = new KubeClient({ masters, userAgent: 'ketch-scheduler', logger: log });
  const stop = new AbortController();
  // Every loop of the process listens on this signal.
  setMaxListeners(0, stop.signal);
  process.once('SIGTERM', () => stop.abort());
  process.once('SIGINT', () => stop.abort());
  log.info({ masters, leaderElect: settings.enabled }, 'starting');
  await runElected(
    {
      settings,
      identity,
      lockClient,
      workClient,
      clock: realClock,
      logger: log,
      work: (signal) => new Scheduler({ client: workClient, clock: realClock, identity, schedulerName: flagString(parsed, 'scheduler-name'), logger: log }).run(signal),
    },
    stop.signal,
  );
  lockClient.close();
  workClient.close();
  log.info('stopped');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ketch-scheduler: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
