// Where a component serves /metrics and /healthz: --metrics-bind-address host:port (kube-proxy's
// flag; kube-scheduler and kube-controller-manager serve these on their HTTPS --secure-port,
// which a plain-HTTP component cannot honour). Empty (the default) serves nothing, so several
// replicas on one machine do not clash; topologies give each its own port.

import { FlagError, flagString, type FlagSpecs, type ParsedFlags } from './component-flags.js';

export const METRICS_FLAGS: FlagSpecs = {
  'metrics-bind-address': { kind: 'string', def: '', help: 'host:port to serve /metrics and /healthz on (plain HTTP), e.g. 127.0.0.1:10251; empty serves nothing.' },
};

export function metricsBindAddress(f: ParsedFlags): { host: string; port: number } | undefined {
  const text = flagString(f, 'metrics-bind-address').trim();
  if (text === '') return undefined;
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(text);
  const port = Number(m?.[2]);
  if (m === null || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new FlagError(`--metrics-bind-address: "${text}" is not host:port (e.g. 127.0.0.1:10251)`);
  }
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port };
}
