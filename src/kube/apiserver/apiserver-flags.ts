// ketch-apiserver's command line: kube-apiserver's flag names where one exists (DESIGN.md §1).

import { authorizationModes, type AuthorizationMode } from './authorization.js';
import { parseIpv4Cidr, parsePortRange } from './service-allocator.js';

export interface ApiServerFlags {
  etcdServers: string[];
  etcdPrefix: string;
  bindAddress: string;
  port: number;
  serviceClusterIpRange: string;
  serviceNodePortRange: string;
  compactionIntervalMs: number;
  eventTtlSeconds: number;
  bookmarkIntervalMs: number;
  watchCacheSize: number;
  logLevel: string;
  /** HTTPS instead of plain HTTP when both are given (on securePort). */
  tlsCertFile: string;
  tlsPrivateKeyFile: string;
  securePort: number;
  clientCaFile: string;
  tokenAuthFile: string;
  anonymousAuth: boolean;
  authorizationModes: AuthorizationMode[];
  encryptionProviderConfig: string;
  etcdCaFile: string;
  etcdCertFile: string;
  etcdKeyFile: string;
}

export class FlagError extends Error {}

interface FlagSpec {
  readonly def: string;
  readonly help: string;
}

const SPECS: Record<string, FlagSpec> = {
  'etcd-servers': { def: '', help: 'List of etcd v3 servers to connect with (scheme://ip:port), comma separated. Required.' },
  'etcd-prefix': { def: '/registry', help: 'The prefix to prepend to all resource paths in etcd.' },
  'bind-address': { def: '127.0.0.1', help: 'The IP address on which to listen for plain HTTP.' },
  port: { def: '8080', help: 'The port on which to serve plain HTTP (0 picks a free port).' },
  'service-cluster-ip-range': { def: '10.96.0.0/12', help: 'A CIDR notation IPv4 range from which to assign service cluster IPs.' },
  'service-node-port-range': { def: '30000-32767', help: 'A port range to reserve for services with NodePort visibility (inclusive).' },
  'etcd-compaction-interval': { def: '5m', help: 'The interval of compaction requests (Go duration); 0 disables compaction from this apiserver.' },
  'event-ttl': { def: '1h', help: 'Amount of time to retain events (Go duration).' },
  'watch-bookmark-interval': { def: '1m', help: 'How often watches that allow bookmarks receive one (Go duration).' },
  'default-watch-cache-size': { def: '50000', help: 'Events the watch cache keeps for watches that resume from a resourceVersion; older ones are served by a store watch of their own.' },
  'log-level': { def: 'info', help: 'Log level: trace, debug, info, warn, error, fatal.' },
  'tls-cert-file': { def: '', help: 'File containing the x509 certificate for HTTPS (CA cert, if any, concatenated after the server cert). With --tls-private-key-file, the server serves HTTPS on --secure-port and no plain HTTP.' },
  'tls-private-key-file': { def: '', help: 'File containing the x509 private key matching --tls-cert-file.' },
  'secure-port': { def: '6443', help: 'The port on which to serve HTTPS with authentication and authorization (0 picks a free port).' },
  'client-ca-file': { def: '', help: 'Any request presenting a client certificate signed by one of the authorities in this file is authenticated with the identity in the certificate (CommonName = user, Organization = groups).' },
  'token-auth-file': { def: '', help: 'A CSV file of static bearer tokens: token,user,uid,"group1,group2".' },
  'anonymous-auth': { def: 'true', help: 'Requests without credentials to the public-info paths (/healthz, /livez, /readyz, /version) are served as system:anonymous; elsewhere they get 401.' },
  'authorization-mode': { def: 'AlwaysAllow', help: `Ordered list of authorization plugins, comma separated: ${authorizationModes.join(', ')}.` },
  'encryption-provider-config': { def: '', help: 'An EncryptionConfiguration file: which resources are encrypted at rest, with which providers (aescbc, aesgcm, identity).' },
  'etcd-cafile': { def: '', help: 'SSL Certificate Authority file used to secure etcd communication.' },
  'etcd-certfile': { def: '', help: 'SSL certification file used to secure etcd communication.' },
  'etcd-keyfile': { def: '', help: 'SSL key file used to secure etcd communication.' },
};

export function usage(): string {
  const lines = ['usage: ketch-apiserver --etcd-servers URL[,URL...] [flags]', '', 'A Kubernetes API server (plain HTTP, or HTTPS with authentication and authorization) over an etcd v3 store (ketch or etcd).', ''];
  for (const [name, spec] of Object.entries(SPECS)) {
    lines.push(`  --${name}${spec.def !== '' ? ` (default ${JSON.stringify(spec.def)})` : ''}`, `      ${spec.help}`);
  }
  lines.push('  --help', '      Show this help.');
  return `${lines.join('\n')}\n`;
}

/** Go's time.ParseDuration for the units flags use (ns..h), e.g. "5m", "1h30m", "250ms", "0". */
export function parseGoDuration(text: string): number {
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  const unitMs: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let consumed = 0;
  for (let match = re.exec(text); match !== null; match = re.exec(text)) {
    total += Number(match[1]) * (unitMs[match[2] as string] as number);
    consumed = re.lastIndex;
  }
  if (text === '' || consumed !== text.length) throw new FlagError(`invalid duration ${JSON.stringify(text)}`);
  return Math.round(total);
}

export function parseFlags(argv: readonly string[]): ApiServerFlags | 'help' {
  const raw = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') return 'help';
    if (!arg.startsWith('--')) throw new FlagError(`unexpected argument ${JSON.stringify(arg)}`);
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    if (!(name in SPECS)) throw new FlagError(`unknown flag: --${name}`);
    let value: string;
    if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined) throw new FlagError(`flag needs an argument: --${name}`);
      value = next;
      i++;
    }
    raw.set(name, value);
  }
  const get = (name: string): string => raw.get(name) ?? (SPECS[name] as FlagSpec).def;
  const etcdServers = get('etcd-servers')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (etcdServers.length === 0) throw new FlagError('--etcd-servers must be specified');
  const port = Number(get('port'));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new FlagError(`invalid --port ${JSON.stringify(get('port'))}`);
  const eventTtlMs = parseGoDuration(get('event-ttl'));
  const bookmarkIntervalMs = parseGoDuration(get('watch-bookmark-interval'));
  if (bookmarkIntervalMs <= 0) throw new FlagError('--watch-bookmark-interval must be positive');
  for (const [flag, check] of [['service-cluster-ip-range', parseIpv4Cidr], ['service-node-port-range', parsePortRange]] as const) {
    try {
      check(get(flag));
    } catch (error) {
      throw new FlagError(`--${flag}: ${(error as Error).message}`);
    }
  }
  const watchCacheSize = Number(get('default-watch-cache-size'));
  if (!Number.isInteger(watchCacheSize) || watchCacheSize < 1) throw new FlagError('--default-watch-cache-size must be a positive integer');
  const securePort = Number(get('secure-port'));
  if (!Number.isInteger(securePort) || securePort < 0 || securePort > 65535) throw new FlagError(`invalid --secure-port ${JSON.stringify(get('secure-port'))}`);
  if ((get('tls-cert-file') === '') !== (get('tls-private-key-file') === '')) throw new FlagError('--tls-cert-file and --tls-private-key-file must be given together');
  if (get('client-ca-file') !== '' && get('tls-cert-file') === '') throw new FlagError('--client-ca-file needs HTTPS: give --tls-cert-file and --tls-private-key-file too');
  if ((get('etcd-certfile') === '') !== (get('etcd-keyfile') === '')) throw new FlagError('--etcd-certfile and --etcd-keyfile must be given together');
  const anonymousAuth = get('anonymous-auth');
  if (anonymousAuth !== 'true' && anonymousAuth !== 'false') throw new FlagError(`invalid --anonymous-auth ${JSON.stringify(anonymousAuth)}: expected true or false`);
  const modes = get('authorization-mode').split(',').map((m) => m.trim()).filter((m) => m !== '');
  if (modes.length === 0) throw new FlagError('--authorization-mode must name at least one mode');
  for (const mode of modes) {
    if (!(authorizationModes as readonly string[]).includes(mode)) throw new FlagError(`--authorization-mode: unknown authorization mode ${JSON.stringify(mode)} (one of ${authorizationModes.join(', ')})`);
  }
  const prefix = get('etcd-prefix');
  if (!prefix.startsWith('/')) throw new FlagError('--etcd-prefix must start with "/"');
  return {
    etcdServers,
    etcdPrefix: prefix,
    bindAddress: get('bind-address'),
    port,
    serviceClusterIpRange: get('service-cluster-ip-range'),
    serviceNodePortRange: get('service-node-port-range'),
    compactionIntervalMs: parseGoDuration(get('etcd-compaction-interval')),
    eventTtlSeconds: Math.max(1, Math.round(eventTtlMs / 1000)),
    bookmarkIntervalMs,
    watchCacheSize,
    logLevel: get('log-level'),
    tlsCertFile: get('tls-cert-file'),
    tlsPrivateKeyFile: get('tls-private-key-file'),
    securePort,
    clientCaFile: get('client-ca-file'),
    tokenAuthFile: get('token-auth-file'),
    anonymousAuth: anonymousAuth === 'true',
    authorizationModes: modes as AuthorizationMode[],
    encryptionProviderConfig: get('encryption-provider-config'),
    etcdCaFile: get('etcd-cafile'),
    etcdCertFile: get('etcd-certfile'),
    etcdKeyFile: get('etcd-keyfile'),
  };
}
