// kube-scheduler's and kube-controller-manager's leader-election flags (component-base
// LeaderElectionConfiguration): names, defaults (15s / 10s / 2s, leases) and validation.

import { FlagError, flagBool, flagDurationMs, flagString, type FlagSpecs, type ParsedFlags } from '../client/component-flags.js';
import { LeaderElectionConfigError, validateLeaderElectionConfig } from './leader-elector.js';

export function leaderElectionFlags(lockName: string): FlagSpecs {
  return {
    'leader-elect': { kind: 'bool', def: 'true', help: 'Start a leader election client and gain leadership before executing the main loop. Enable this when running replicated components for high availability.' },
    'leader-elect-lease-duration': { kind: 'duration', def: '15s', help: 'The duration that non-leader candidates will wait after observing a leadership renewal until attempting to acquire leadership of a led but unrenewed leader slot.' },
    'leader-elect-renew-deadline': { kind: 'duration', def: '10s', help: 'The interval between attempts by the acting master to renew a leadership slot before it stops leading. Must be less than the lease duration.' },
    'leader-elect-retry-period': { kind: 'duration', def: '2s', help: 'The duration the clients should wait between attempting acquisition and renewal of a leadership.' },
    'leader-elect-resource-namespace': { kind: 'string', def: 'kube-system', help: 'The namespace of the resource object used for locking during leader election.' },
    'leader-elect-resource-name': { kind: 'string', def: lockName, help: 'The name of the resource object used for locking during leader election.' },
    'leader-elect-resource-lock': { kind: 'string', def: 'leases', help: "The type of resource object used for locking during leader election. Only 'leases' is supported." },
  };
}

export interface LeaderElectionSettings {
  enabled: boolean;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  namespace: string;
  name: string;
}

export function leaderElectionSettings(f: ParsedFlags): LeaderElectionSettings {
  const lock = flagString(f, 'leader-elect-resource-lock');
  if (lock !== 'leases') throw new FlagError(`--leader-elect-resource-lock: "${lock}" is not supported (only "leases")`);
  const s: LeaderElectionSettings = {
    enabled: flagBool(f, 'leader-elect'),
    leaseDurationMs: flagDurationMs(f, 'leader-elect-lease-duration'),
    renewDeadlineMs: flagDurationMs(f, 'leader-elect-renew-deadline'),
    retryPeriodMs: flagDurationMs(f, 'leader-elect-retry-period'),
    namespace: flagString(f, 'leader-elect-resource-namespace'),
    name: flagString(f, 'leader-elect-resource-name'),
  };
  if (s.enabled) {
    try {
      validateLeaderElectionConfig(s);
    } catch (err) {
      if (err instanceof LeaderElectionConfigError) throw new FlagError(`leader election: ${err.message}`);
      throw err;
    }
  }
  return s;
}
