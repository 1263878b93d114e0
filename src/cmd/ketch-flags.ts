import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { parseRetention } from '../server/auto-compactor.js';

/**
 * etcd 3.4's command-line flags, with etcd's names, meanings and defaults, so an etcd command line,
 * config file or systemd unit works with `etcd` replaced by `ketch`. Precedence as etcd: a config
 * file replaces flags entirely; otherwise flags, then ETCD_* environment variables, then defaults.
 */
export interface KetchFlags {
  name: string;
  dataDir: string;
  listenClientUrls: string[];
  advertiseClientUrls: string[];
  listenPeerUrls: string[];
  initialAdvertisePeerUrls: string[];
  initialCluster: Map<string, string[]>;
  initialClusterState: 'new' | 'existing';
  initialClusterToken: string;
  heartbeatIntervalMs: number;
  electionTimeoutMs: number;
  snapshotCount: number;
  quotaBackendBytes: number;
  maxRequestBytes: number;
  maxTxnOps: number;
  autoCompactionMode: 'periodic' | 'revision';
  /** Milliseconds (periodic) or revisions (revision mode); 0 = off. */
  autoCompactionRetention: number;
  listenMetricsUrls: string[];
  logLevel: string;
  /** Periodic watch progress notifications (progress_notify watches); etcd's default 10 min. */
  watchProgressNotifyIntervalMs: number;
  /** Which gRPC server serves the client port (A/B runs); undefined: the listener's default. */
  grpcServer?: 'grpc-js' | 'ketch';
  /** --auth-token-ttl: seconds a simple token lives without use. */
  authTokenTtlSeconds: number;
  /** --bcrypt-cost: work factor of password hashes (scrypt here; src/server/auth/password.ts). */
  bcryptCost: number;
  /** Ketch only: watches one Watch stream may hold (etcd has no limit). */
  maxWatchesPerStream: number;
  /** Ketch only: leases the cluster may hold (etcd has no limit). */
  maxLeases: number;
  /** Ketch only: connections the client URLs hold at once (etcd has no limit); 0 = no limit. */
  maxClientConnections: number;
  maxPeerConnections: number;
  /** --cert-file, --key-file, --client-cert-auth, --trusted-ca-file, --auto-tls. */
  clientTls: TlsFlags;
  /** The same for peers: --peer-cert-file, --peer-key-file, ... */
  peerTls: TlsFlags;
}

/** One side's TLS flags, as etcd's TLSInfo; empty strings when not given. */
export interface TlsFlags {
  certFile: string;
  keyFile: string;
  trustedCaFile: string;
  clientCertAuth: boolean;
  /** Self-signed certificates made at start (clients then need --insecure-skip-tls-verify). */
  autoTls: boolean;
}

interface FlagSpec {
  readonly kind: 'string' | 'int' | 'bool';
  readonly def: string;
  readonly help: string;
}

const SPECS: Record<string, FlagSpec> = {
  name: { kind: 'string', def: 'default', help: 'Human-readable name for this member.' },
  'data-dir': { kind: 'string', def: '${name}.etcd', help: 'Path to the data directory.' },
  'listen-client-urls': { kind: 'string', def: 'http://localhost:2379', help: 'List of URLs to listen on for client traffic.' },
  'advertise-client-urls': { kind: 'string', def: 'http://localhost:2379', help: "List of this member's client URLs to advertise to the public." },
  'listen-peer-urls': { kind: 'string', def: 'http://localhost:2380', help: 'List of URLs to listen on for peer traffic.' },
  'initial-advertise-peer-urls': { kind: 'string', def: 'http://localhost:2380', help: "List of this member's peer URLs to advertise to the rest of the cluster." },
  'initial-cluster': { kind: 'string', def: '', help: 'Initial cluster configuration for bootstrapping (name=peerURL,...).' },
  'initial-cluster-state': { kind: 'string', def: 'new', help: "Initial cluster state ('new' or 'existing')." },
  'initial-cluster-token': { kind: 'string', def: 'etcd-cluster', help: 'Initial cluster token for the etcd cluster during bootstrap.' },
  'heartbeat-interval': { kind: 'int', def: '100', help: 'Time (in milliseconds) of a heartbeat interval.' },
  'election-timeout': { kind: 'int', def: '1000', help: 'Time (in milliseconds) for an election to timeout.' },
  'snapshot-count': { kind: 'int', def: '100000', help: 'Number of committed transactions to trigger a snapshot to disk.' },
  'quota-backend-bytes': { kind: 'int', def: '0', help: 'Raise alarms when backend size exceeds the given quota (0 defaults to 2 GiB).' },
  'max-request-bytes': { kind: 'int', def: '1572864', help: 'Maximum client request size in bytes the server will accept.' },
  'max-txn-ops': { kind: 'int', def: '128', help: 'Maximum number of operations permitted in a transaction.' },
  'auto-compaction-mode': { kind: 'string', def: 'periodic', help: "Interpret 'auto-compaction-retention' as 'periodic' (duration) or 'revision'." },
  'auto-compaction-retention': { kind: 'string', def: '0', help: 'Auto compaction retention for mvcc key value store (0 disables; hours if no unit).' },
  'listen-metrics-urls': { kind: 'string', def: '', help: 'List of URLs to listen on for the metrics and health endpoints.' },
  'log-level': { kind: 'string', def: 'info', help: 'Log level: debug, info, warn, error, fatal.' },
  'config-file': { kind: 'string', def: '', help: 'Path to the server configuration file (YAML, etcd keys).' },
  'experimental-watch-progress-notify-interval': { kind: 'string', def: '10m', help: 'Duration of periodical watch progress notification.' },
  'auth-token': { kind: 'string', def: 'simple', help: "Specify auth token type and its options ('simple'; 'jwt' is not supported)." },
  'auth-token-ttl': { kind: 'int', def: '300', help: 'The lifetime in seconds of the auth token.' },
  'bcrypt-cost': { kind: 'int', def: '10', help: 'Specify the cost / strength of the password hashing algorithm (4..31).' },
  'experimental-max-watches-per-stream': { kind: 'int', def: '10000', help: 'Ketch only: the most watches one Watch stream may hold; more are canceled at creation.' },
  'experimental-max-leases': { kind: 'int', def: '1000000', help: 'Ketch only: the most leases the cluster may hold; LeaseGrant beyond it is refused.' },
  'experimental-max-client-connections': {
    kind: 'int',
    def: '10000',
    help: 'Ketch only: the most connections the client URLs hold at once (0: no limit); more are refused (gRPC RESOURCE_EXHAUSTED then GOAWAY, HTTP 503).',
  },
  'experimental-max-peer-connections': {
    kind: 'int',
    def: '1024',
    help: 'Ketch only: the most connections the peer URLs hold at once (0: no limit); more are closed at once. A member uses a few per peer.',
  },
  'cert-file': { kind: 'string', def: '', help: 'Path to the client server TLS cert file.' },
  'key-file': { kind: 'string', def: '', help: 'Path to the client server TLS key file.' },
  'client-cert-auth': { kind: 'bool', def: 'false', help: 'Enable client cert authentication.' },
  'trusted-ca-file': { kind: 'string', def: '', help: 'Path to the client server TLS trusted CA cert file.' },
  'auto-tls': { kind: 'bool', def: 'false', help: 'Client TLS using generated certificates.' },
  'peer-cert-file': { kind: 'string', def: '', help: 'Path to the peer server TLS cert file.' },
  'peer-key-file': { kind: 'string', def: '', help: 'Path to the peer server TLS key file.' },
  'peer-client-cert-auth': { kind: 'bool', def: 'false', help: 'Enable peer client cert authentication.' },
  'peer-trusted-ca-file': { kind: 'string', def: '', help: 'Path to the peer server TLS trusted CA file.' },
  'peer-auto-tls': { kind: 'bool', def: 'false', help: 'Peer TLS using generated certificates.' },
  'experimental-grpc-server': { kind: 'string', def: '', help: "Ketch only: the client port's gRPC server, 'ketch' (its own HTTP/2, the default) or 'grpc-js'." },
};

/** etcd flags Ketch accepts and ignores, because they have no meaning here (logging backends etc.). */
const IGNORED = new Set(['logger', 'log-outputs', 'enable-v2', 'enable-pprof', 'metrics', 'strict-reconfig-check', 'pre-vote']);

export class FlagError extends Error {}

export function usage(): string {
  const lines = ['usage: ketch [flags]', '', 'Start a Ketch member (flags as etcd 3.4; ETCD_<FLAG> environment variables are read too).', ''];
  for (const [name, spec] of Object.entries(SPECS)) {
    lines.push(`  --${name}${spec.def ? ` (default ${JSON.stringify(spec.def)})` : ''}`, `      ${spec.help}`);
  }
  lines.push('  --help', '      Show this help.', '  --version', '      Print the version and exit.');
  return `${lines.join('\n')}\n`;
}

/** Parses argv (without node and script) and env into raw strings, etcd's precedence applied. */
export function rawFlags(argv: readonly string[], env: NodeJS.ProcessEnv): Map<string, string> | 'help' | 'version' {
  const fromArgs = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') return 'help';
    if (arg === '--version' || arg === '-version') return 'version';
    const m = /^--?([a-z0-9-]+)(?:=(.*))?$/.exec(arg);
    if (m === null) throw new FlagError(`unexpected argument ${JSON.stringify(arg)} (flags look like --name=value)`);
    const name = m[1] as string;
    if (IGNORED.has(name)) {
      if (m[2] === undefined && argv[i + 1] !== undefined && !(argv[i + 1] as string).startsWith('-')) i++;
      continue;
    }
    const spec = SPECS[name];
    if (spec === undefined) throw new FlagError(`unknown flag --${name} (see ketch --help)`);
    let value = m[2];
    if (value === undefined) {
      if (spec.kind === 'bool') value = 'true';
      else {
        value = argv[++i];
        if (value === undefined) throw new FlagError(`flag --${name} needs a value`);
      }
    }
    fromArgs.set(name, value);
  }
  const configFile = fromArgs.get('config-file') ?? env.ETCD_CONFIG_FILE;
  if (configFile) return fromConfigFile(configFile);
  const out = new Map<string, string>();
  for (const [name, spec] of Object.entries(SPECS)) {
    const envValue = env[`ETCD_${name.toUpperCase().replaceAll('-', '_')}`];
    const value = fromArgs.get(name) ?? envValue ?? spec.def;
    out.set(name, value);
  }
  return out;
}

function fromConfigFile(path: string): Map<string, string> {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new FlagError(`cannot read --config-file ${path}: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null) throw new FlagError(`--config-file ${path} is not a YAML mapping`);
  const out = new Map<string, string>();
  for (const [name, spec] of Object.entries(SPECS)) out.set(name, spec.def);
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    if (IGNORED.has(key) || value === null) continue;
    if ((key === 'client-transport-security' || key === 'peer-transport-security') && typeof value === 'object') {
      // etcd's config file nests the TLS settings: client-transport-security: { cert-file: ... }.
      const prefix = key === 'peer-transport-security' ? 'peer-' : '';
      for (const [inner, v] of Object.entries(value as Record<string, unknown>)) {
        if (SPECS[prefix + inner] !== undefined && v !== null) out.set(prefix + inner, String(v));
      }
      continue;
    }
    if (SPECS[key] === undefined) continue; // etcd config files carry many keys Ketch has no use for
    out.set(key, Array.isArray(value) ? value.join(',') : String(value));
  }
  return out;
}

function urls(flag: string, value: string): string[] {
  if (value.trim() === '') return [];
  return value.split(',').map((u) => {
    const url = u.trim();
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new FlagError(`--${flag}: ${JSON.stringify(url)} is not a URL (expected http://host:port)`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new FlagError(`--${flag}: ${url} must be http:// or https://`);
    }
    if (parsed.port === '') throw new FlagError(`--${flag}: ${url} needs a port`);
    return url.replace(/\/$/, '');
  });
}

/** A Go boolean flag value. */
function bool(flag: string, value: string): boolean {
  if (['true', 't', 'TRUE', 'True', '1'].includes(value)) return true;
  if (['false', 'f', 'FALSE', 'False', '0'].includes(value)) return false;
  throw new FlagError(`--${flag} must be true or false, got ${JSON.stringify(value)}`);
}

function tlsFlags(raw: (k: string) => string, prefix: '' | 'peer-'): TlsFlags {
  const certFile = raw(`${prefix}cert-file`);
  const keyFile = raw(`${prefix}key-file`);
  if ((certFile === '') !== (keyFile === '')) {
    throw new FlagError(`--${prefix}cert-file and --${prefix}key-file go together: give both or neither`);
  }
  return {
    certFile,
    keyFile,
    trustedCaFile: raw(`${prefix}trusted-ca-file`),
    clientCertAuth: bool(`${prefix}client-cert-auth`, raw(`${prefix}client-cert-auth`)),
    autoTls: bool(`${prefix}auto-tls`, raw(`${prefix}auto-tls`)),
  };
}

/** As etcd: an https:// URL needs a certificate, given or generated. */
function checkHttpsUrls(what: 'client' | 'peer', urlsGiven: readonly string[], tls: TlsFlags): void {
  const flags = what === 'client' ? '--cert-file, --key-file' : '--peer-cert-file, --peer-key-file';
  if (tls.certFile !== '' || tls.autoTls) return;
  const https = urlsGiven.find((u) => u.startsWith('https://'));
  if (https !== undefined) throw new FlagError(`TLS key/cert (${flags}) must be provided for ${what} url ${https} with HTTPS scheme`);
}

function int(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new FlagError(`--${flag} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  return n;
}

function retention(mode: 'periodic' | 'revision', value: string): number {
  try {
    return parseRetention(mode, value);
  } catch (err) {
    throw new FlagError((err as Error).message);
  }
}

/** A Go duration such as 10m, 1s or 500ms. */
function duration(flag: string, value: string): number {
  try {
    return parseRetention('periodic', value);
  } catch {
    throw new FlagError(`--${flag} must be a duration such as 10m, 1s or 500ms, got ${JSON.stringify(value)}`);
  }
}

export function parseFlags(argv: readonly string[], env: NodeJS.ProcessEnv): KetchFlags | 'help' | 'version' {
  const raw = rawFlags(argv, env);
  if (raw === 'help' || raw === 'version') return raw;
  const get = (k: string): string => raw.get(k) ?? '';
  const name = get('name');
  const dataDir = get('data-dir').replace('${name}', name);
  const advertisePeer = urls('initial-advertise-peer-urls', get('initial-advertise-peer-urls'));
  const initialCluster = new Map<string, string[]>();
  const clusterText = get('initial-cluster') || `${name}=${advertisePeer.join(`,${name}=`)}`;
  for (const part of clusterText.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new FlagError(`--initial-cluster: ${JSON.stringify(part)} is not name=peerURL`);
    const member = part.slice(0, eq).trim();
    const list = initialCluster.get(member) ?? [];
    list.push(...urls('initial-cluster', part.slice(eq + 1)));
    initialCluster.set(member, list);
  }
  const state = get('initial-cluster-state');
  if (state !== 'new' && state !== 'existing') {
    throw new FlagError(`--initial-cluster-state must be 'new' or 'existing', got ${JSON.stringify(state)}`);
  }
  const mode = get('auto-compaction-mode');
  if (mode !== 'periodic' && mode !== 'revision') {
    throw new FlagError(`--auto-compaction-mode must be 'periodic' or 'revision', got ${JSON.stringify(mode)}`);
  }
  const grpcServer = get('experimental-grpc-server');
  if (grpcServer !== '' && grpcServer !== 'grpc-js' && grpcServer !== 'ketch') {
    throw new FlagError(`--experimental-grpc-server must be 'ketch' or 'grpc-js', got ${JSON.stringify(grpcServer)}`);
  }
  const authToken = get('auth-token').split(',')[0];
  if (authToken !== 'simple') {
    throw new FlagError(`--auth-token ${JSON.stringify(get('auth-token'))} is not supported: ketch implements simple tokens only ('simple')`);
  }
  const bcryptCost = int('bcrypt-cost', get('bcrypt-cost'), 4);
  if (bcryptCost > 31) throw new FlagError(`--bcrypt-cost must be between 4 and 31, got ${bcryptCost}`);
  const heartbeatIntervalMs = int('heartbeat-interval', get('heartbeat-interval'), 1);
  const electionTimeoutMs = int('election-timeout', get('election-timeout'), 1);
  if (electionTimeoutMs < 5 * heartbeatIntervalMs) {
    throw new FlagError(
      `--election-timeout[${electionTimeoutMs}ms] should be at least as 5 times as --heartbeat-interval[${heartbeatIntervalMs}ms]`,
    );
  }
  const clientTls = tlsFlags(get, '');
  const peerTls = tlsFlags(get, 'peer-');
  const listenClientUrls = urls('listen-client-urls', get('listen-client-urls'));
  const listenPeerUrls = urls('listen-peer-urls', get('listen-peer-urls'));
  checkHttpsUrls('client', listenClientUrls, clientTls);
  checkHttpsUrls('peer', listenPeerUrls, peerTls);
  return {
    name,
    dataDir,
    listenClientUrls,
    advertiseClientUrls: urls('advertise-client-urls', get('advertise-client-urls')),
    listenPeerUrls,
    initialAdvertisePeerUrls: advertisePeer,
    initialCluster,
    initialClusterState: state,
    initialClusterToken: get('initial-cluster-token'),
    heartbeatIntervalMs,
    electionTimeoutMs,
    snapshotCount: int('snapshot-count', get('snapshot-count'), 1),
    quotaBackendBytes: int('quota-backend-bytes', get('quota-backend-bytes'), 0),
    maxRequestBytes: int('max-request-bytes', get('max-request-bytes'), 1),
    maxTxnOps: int('max-txn-ops', get('max-txn-ops'), 1),
    autoCompactionMode: mode,
    autoCompactionRetention: retention(mode, get('auto-compaction-retention')),
    listenMetricsUrls: urls('listen-metrics-urls', get('listen-metrics-urls')),
    logLevel: get('log-level'),
    watchProgressNotifyIntervalMs: duration('experimental-watch-progress-notify-interval', get('experimental-watch-progress-notify-interval')),
    ...(grpcServer === '' ? {} : { grpcServer }),
    authTokenTtlSeconds: int('auth-token-ttl', get('auth-token-ttl'), 1),
    maxWatchesPerStream: int('experimental-max-watches-per-stream', get('experimental-max-watches-per-stream'), 1),
    maxLeases: int('experimental-max-leases', get('experimental-max-leases'), 1),
    maxClientConnections: int('experimental-max-client-connections', get('experimental-max-client-connections'), 0),
    maxPeerConnections: int('experimental-max-peer-connections', get('experimental-max-peer-connections'), 0),
    bcryptCost,
    clientTls,
    peerTls,
  };
}

/** What `ketch --version` prints, laid out as `etcd --version`'s. */
export function versionText(ketchVersion: string, etcdApiVersion: string): string {
  return `ketch Version: ${ketchVersion}\netcd API Version: ${etcdApiVersion}\nNode Version: ${process.version}\nNode OS/Arch: ${process.platform}/${process.arch}\n`;
}
