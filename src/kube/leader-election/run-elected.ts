// Runs a component's work only while it leads (kube's leaderelection.RunOrDie, except that a
// lost term does not exit the process: the work is stopped, waited for, and the candidate
// campaigns again). The work's client is fenced by the elector, so a write attempted after the
// lease lapsed fails with NotLeaderError instead of reaching the apiserver. On stop (SIGTERM)
// the work ends first, then the lease is released so a standby takes over within a retry period.

import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { pino, type Logger } from 'pino';
import { realClock, type Clock } from '../client/clock.js';
import { EventRecorder } from '../client/event-recorder.js';
import type { ApiCredentials } from '../client/kubeconfig.js';
import { KubeClient } from '../client/kube-client.js';
import { LeaderElector } from './leader-elector.js';
import type { LeaderElectionSettings } from './leader-election-flags.js';
import { LeaseLock } from './lease-lock.js';
import { readCounter, readGauge, type Registry } from '../../util/prometheus.js';

export interface ElectedRunOptions {
  settings: LeaderElectionSettings;
  identity: string;
  /** Talks to the Lease; never fenced. */
  lockClient: KubeClient;
  /** The work's client: fenced while leader election is on. */
  workClient: KubeClient;
  clock: Clock;
  logger?: Logger;
  /** One leadership term of work: runs until the signal aborts. */
  work: (signal: AbortSignal) => Promise<void>;
  onNewLeader?: (identity: string) => void;
  /** Gets leader_election_master_status{name} (client-go's metric) and a transitions counter. */
  registry?: Registry;
  /** Records "<identity> became leader" / "stopped leading" on the Lease (client-go's LeaderElection events). */
  recorder?: EventRecorder;
}

export async function runElected(opts: ElectedRunOptions, stop: AbortSignal): Promise<void> {
  const log = opts.logger;
  if (!opts.settings.enabled) {
    opts.workClient.setFence(undefined);
    await opts.work(stop);
    return;
  }
  let current: Promise<void> | undefined;
  let leading = false;
  let leaderChanges = 0;
  const labels = { name: opts.settings.name };
  if (opts.registry !== undefined) {
    readGauge(opts.registry, { name: 'leader_election_master_status', help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. \'name\' is the string used to identify the lease.', labelNames: ['name'] }, () => [[labels, leading ? 1 : 0]]);
    readCounter(opts.registry, { name: 'ketch_leader_election_leader_changes_total', help: 'Changes of the lease holder this candidate observed (its own wins included).', labelNames: ['name'] }, () => [[labels, leaderChanges]]);
  }
  const lock = new LeaseLock(opts.lockClient, opts.settings.namespace, opts.settings.name, opts.identity);
  const leaseEvent = (message: string): void => {
    const lease = lock.current;
    if (opts.recorder === undefined || lease === undefined) return;
    opts.recorder.event({ ...lease, apiVersion: 'coordination.k8s.io/v1', kind: 'Lease' }, 'Normal', 'LeaderElection', `${opts.identity} ${message}`);
  };
  const elector = new LeaderElector({
    lock,
    leaseDurationMs: opts.settings.leaseDurationMs,
    renewDeadlineMs: opts.settings.renewDeadlineMs,
    retryPeriodMs: opts.settings.retryPeriodMs,
    releaseOnCancel: true,
    clock: opts.clock,
    logger: log,
    callbacks: {
      onStartedLeading: (signal) => {
        log?.info({ identity: opts.identity }, 'started leading');
        leading = true;
        leaseEvent('became leader');
        current = opts.work(signal).catch((err: unknown) => log?.error({ err }, 'leader work failed'));
        return current;
      },
      onStoppedLeading: () => {
        if (!leading) return;
        leading = false;
        log?.info({ identity: opts.identity }, 'stopped leading');
        leaseEvent('stopped leading');
      },
      onNewLeader: (identity) => {
        if (identity !== '') leaderChanges++;
        opts.onNewLeader?.(identity);
      },
    },
  });
  opts.workClient.setFence(() => elector.fence());
  while (!stop.aborted) {
    await elector.run(stop);
    // The old term's work must be over before a new term's may start.
    if (current !== undefined) await current;
    current = undefined;
    if (!stop.aborted) log?.warn({ identity: opts.identity }, 'leadership lost; work stopped, campaigning again');
  }
}

export interface ElectedComponentOptions {
  /** Program name: the logger's name and the clients' user agent, e.g. "ketch-scheduler". */
  name: string;
  masters: readonly string[];
  /** How to authenticate to https:// apiservers (from --kubeconfig). */
  credentials?: ApiCredentials;
  settings: LeaderElectionSettings;
  logLevel: string;
  /** The process's metrics (leader election's are added to it). */
  registry?: Registry;
  /** One leadership term of the component's work, on the fenced client. */
  work: (ctx: { client: KubeClient; identity: string; logger: Logger }, signal: AbortSignal) => Promise<void>;
}

/**
 * The process side of an elected component (ketch-scheduler, ketch-controller-manager): its
 * identity (hostname_uuid, as kube's components form it), logger, an unfenced client for the
 * Lease and a fenced one for the work, SIGTERM/SIGINT handling; returns once stopped.
 */
export async function runElectedComponent(opts: ElectedComponentOptions): Promise<void> {
  const identity = `${hostname()}_${randomUUID()}`;
  const log = pino({ level: opts.logLevel, base: { name: opts.name, identity } });
  const credentials = opts.credentials ?? {};
  const lockClient = new KubeClient({ masters: opts.masters, credentials, userAgent: `${opts.name}/leader-election`, logger: log });
  const workClient = new KubeClient({ masters: opts.masters, credentials, userAgent: opts.name, logger: log });
  const stop = new AbortController();
  // Every loop of the process listens on this signal.
  setMaxListeners(0, stop.signal);
  process.once('SIGTERM', () => stop.abort());
  process.once('SIGINT', () => stop.abort());
  log.info({ masters: opts.masters, leaderElect: opts.settings.enabled }, 'starting');
  // Leader election events come from the component kube names after the lock (kube-scheduler, ...).
  const recorder = new EventRecorder(lockClient, { component: opts.settings.name, instance: identity }, realClock, log);
  await runElected(
    {
      settings: opts.settings,
      identity,
      lockClient,
      workClient,
      clock: realClock,
      logger: log,
      registry: opts.registry,
      recorder,
      work: (signal) => opts.work({ client: workClient, identity, logger: log }, signal),
    },
    stop.signal,
  );
  // The "stopped leading" event goes out before the process does (bounded: events are best effort).
  await Promise.race([recorder.flush(), realClock.sleep(2000)]);
  lockClient.close();
  workClient.close();
  log.info('stopped');
}
