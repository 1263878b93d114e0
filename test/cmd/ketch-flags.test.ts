import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FlagError, parseFlags, usage } from '../../src/cmd/ketch-flags.js';
import { SERVER_VERSION } from '../../src/server/ketch-server.js';
import { KETCH_VERSION } from '../../src/version.js';

describe("ketch's etcd-compatible flags", () => {
  it("has etcd 3.4's defaults", () => {
    const f = parseFlags([], {});
    if (typeof f === 'string') throw new Error('unexpected help');
    expect(f.name).toBe('default');
    expect(f.dataDir).toBe('default.etcd');
    expect(f.listenClientUrls).toEqual(['http://localhost:2379']);
    expect(f.initialCluster).toEqual(new Map([['default', ['http://localhost:2380']]]));
    expect(f.initialClusterState).toBe('new');
    expect(f.initialClusterToken).toBe('etcd-cluster');
    expect([f.heartbeatIntervalMs, f.electionTimeoutMs, f.snapshotCount]).toEqual([100, 1000, 100000]);
    expect([f.maxRequestBytes, f.maxTxnOps, f.quotaBackendBytes]).toEqual([1572864, 128, 0]);
    expect(f.autoCompactionRetention).toBe(0);
  });

  it('reads --flag value, --flag=value, and ETCD_* variables, flags first', () => {
    const f = parseFlags(
      ['--name', 'n1', '--initial-cluster=n1=http://127.0.0.1:2380,n2=http://127.0.0.1:2381', '--heartbeat-interval=50'],
      { ETCD_ELECTION_TIMEOUT: '500', ETCD_NAME: 'ignored' },
    );
    if (typeof f === 'string') throw new Error('unexpected help');
    expect(f.name).toBe('n1');
    expect(f.dataDir).toBe('n1.etcd');
    expect([...f.initialCluster.keys()]).toEqual(['n1', 'n2']);
    expect([f.heartbeatIntervalMs, f.electionTimeoutMs]).toEqual([50, 500]);
  });

  it('parses auto compaction retention as etcd does', () => {
    const hours = parseFlags(['--auto-compaction-retention', '1'], {});
    const minutes = parseFlags(['--auto-compaction-retention', '1h30m'], {});
    const revs = parseFlags(['--auto-compaction-mode', 'revision', '--auto-compaction-retention', '1000'], {});
    if (typeof hours === 'string' || typeof minutes === 'string' || typeof revs === 'string') throw new Error('unexpected help');
    expect(hours.autoCompactionRetention).toBe(3_600_000);
    expect(minutes.autoCompactionRetention).toBe(5_400_000);
    expect(revs.autoCompactionRetention).toBe(1000);
  });

  it.each([
    [['--initial-cluster-state', 'bogus'], /initial-cluster-state must be 'new' or 'existing'/],
    [['--heartbeat-interval', 'abc'], /heartbeat-interval must be an integer/],
    [['--election-timeout', '300'], /at least as 5 times/],
    [['--listen-client-urls', 'localhost:2379'], /not a URL|must be http/],
    [['--no-such-flag'], /unknown flag --no-such-flag/],
    [['--auto-compaction-retention', '5 days'], /not a duration/],
    [['--initial-cluster', 'n1'], /is not name=peerURL/],
    [['--listen-client-urls', 'https://127.0.0.1:2379'], /TLS key\/cert \(--cert-file, --key-file\) must be provided for client url https:\/\/127.0.0.1:2379 with HTTPS scheme/],
    [['--listen-peer-urls', 'https://127.0.0.1:2380'], /\(--peer-cert-file, --peer-key-file\) must be provided for peer url/],
    [['--cert-file', 'a.crt'], /--cert-file and --key-file go together/],
    [['--client-cert-auth=maybe'], /--client-cert-auth must be true or false/],
  ])('rejects %j with a clear message', (argv, message) => {
    expect(() => parseFlags(argv, {})).toThrow(FlagError);
    expect(() => parseFlags(argv, {})).toThrow(message);
  });

  it("reads etcd's TLS flags, also from a config file's client-transport-security and peer-transport-security", async () => {
    const f = parseFlags(
      ['--listen-client-urls', 'https://127.0.0.1:2379', '--cert-file', 's.crt', '--key-file', 's.key', '--client-cert-auth', '--trusted-ca-file', 'ca.crt'],
      { ETCD_PEER_CERT_FILE: 'p.crt', ETCD_PEER_KEY_FILE: 'p.key', ETCD_PEER_CLIENT_CERT_AUTH: 'true' },
    );
    if (typeof f === 'string') throw new Error('unexpected help');
    expect(f.clientTls).toEqual({ certFile: 's.crt', keyFile: 's.key', trustedCaFile: 'ca.crt', clientCertAuth: true, autoTls: false });
    expect(f.peerTls).toEqual({ certFile: 'p.crt', keyFile: 'p.key', trustedCaFile: '', clientCertAuth: true, autoTls: false });
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'ketch-flags-'));
    try {
      const file = join(dir, 'etcd.yaml');
      await writeFile(
        file,
        'name: n1\nclient-transport-security:\n  cert-file: c.crt\n  key-file: c.key\n  client-cert-auth: true\n  trusted-ca-file: ca.crt\npeer-transport-security:\n  cert-file: p.crt\n  key-file: p.key\n  auto-tls: false\n',
      );
      const g = parseFlags(['--config-file', file], {});
      if (typeof g === 'string') throw new Error('unexpected help');
      expect(g.clientTls).toEqual({ certFile: 'c.crt', keyFile: 'c.key', trustedCaFile: 'ca.crt', clientCertAuth: true, autoTls: false });
      expect(g.peerTls).toMatchObject({ certFile: 'p.crt', keyFile: 'p.key', clientCertAuth: false });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads --experimental-max-client-connections (default 10000, 0 = no limit) and --auth-token-ttl', () => {
    const defaults = parseFlags([], {});
    const given = parseFlags(['--experimental-max-client-connections', '3', '--auth-token', 'simple', '--auth-token-ttl', '2'], {});
    const unlimited = parseFlags(['--experimental-max-client-connections=0'], {});
    const fromEnv = parseFlags([], { ETCD_EXPERIMENTAL_MAX_CLIENT_CONNECTIONS: '50' });
    if (typeof defaults === 'string' || typeof given === 'string' || typeof unlimited === 'string' || typeof fromEnv === 'string') throw new Error('unexpected help');
    expect([defaults.maxClientConnections, defaults.authTokenTtlSeconds]).toEqual([10000, 300]);
    expect([given.maxClientConnections, given.authTokenTtlSeconds]).toEqual([3, 2]);
    expect(unlimited.maxClientConnections).toBe(0);
    expect(fromEnv.maxClientConnections).toBe(50);
    expect(usage()).toContain('--experimental-max-client-connections (default "10000")');
  });

  it('reads --experimental-max-peer-connections (default 1024, 0 = no limit)', () => {
    const defaults = parseFlags([], {});
    const given = parseFlags(['--experimental-max-peer-connections', '8'], {});
    const fromEnv = parseFlags([], { ETCD_EXPERIMENTAL_MAX_PEER_CONNECTIONS: '0' });
    if (typeof defaults === 'string' || typeof given === 'string' || typeof fromEnv === 'string') throw new Error('unexpected help');
    expect([defaults.maxPeerConnections, given.maxPeerConnections, fromEnv.maxPeerConnections]).toEqual([1024, 8, 0]);
    expect(usage()).toContain('--experimental-max-peer-connections (default "1024")');
    expect(() => parseFlags(['--experimental-max-peer-connections', '-2'], {})).toThrow(/--experimental-max-peer-connections must be an integer >= 0, got "-2"/);
  });

  it.each([
    [['--experimental-max-client-connections', '-1'], /--experimental-max-client-connections must be an integer >= 0, got "-1"/],
    [['--experimental-max-client-connections', 'many'], /--experimental-max-client-connections must be an integer >= 0/],
    [['--experimental-max-client-connections'], /flag --experimental-max-client-connections needs a value/],
    [['--auth-token-ttl', '0'], /--auth-token-ttl must be an integer >= 1/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseFlags(argv, {})).toThrow(FlagError);
    expect(() => parseFlags(argv, {})).toThrow(message);
  });

  it('--help asks for the usage text', () => {
    expect(parseFlags(['--help'], {})).toBe('help');
  });

  it('--version prints the version as etcd --version lays it out, and exits 0', () => {
    expect(parseFlags(['--name', 'x', '--version'], {})).toBe('version');
    expect(usage()).toContain('--version');
    const root = join(import.meta.dirname, '..', '..');
    expect(KETCH_VERSION).toBe((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version);
    const out = execFileSync(process.execPath, [join(root, 'dist', 'src', 'cmd', 'ketch.js'), '--version'], { encoding: 'utf8' });
    expect(out).toBe(
      `ketch Version: ${KETCH_VERSION}\netcd API Version: ${SERVER_VERSION}\nNode Version: ${process.version}\nNode OS/Arch: ${process.platform}/${process.arch}\n`,
    );
  });
});
