import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { certPath, etcdClientName, memberKubeconfigPath, pkiPaths } from './cluster-pki.js';
import { clientUrl, memberUrl, peerUrl, stores, type Topology, type TopologyMember } from './topology.js';

/** The command line (node arguments) that runs each kind of member, from the topology. */

const CMD_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'cmd');

/** A compiled program next to this module (dist/src/launcher → dist/src/cmd). */
export function programEntry(program: string): string {
  return join(CMD_DIR, `${program}.js`);
}

/** ketch-cluster itself, which also runs the link proxies and the lb (hidden `__` commands). */
export function launcherEntry(): string {
  return programEntry('ketch-cluster');
}

/** The Lease a scheduler or controller manager competes for (its flags may rename it). */
export function leaseOf(m: TopologyMember): { namespace: string; name: string } | undefined {
  if (m.kind !== 'scheduler' && m.kind !== 'controller-manager') return undefined;
  // Without leader election every replica acts and no Lease names one.
  if (m.flags['leader-elect'] === 'false') return undefined;
  return {
    namespace: m.flags['leader-elect-resource-namespace'] ?? 'kube-system',
    name: m.flags['leader-elect-resource-name'] ?? (m.kind === 'scheduler' ? 'kube-scheduler' : 'kube-controller-manager'),
  };
}

export function memberArgs(topology: Topology, m: TopologyMember, stateDir: string): string[] {
  const byName = new Map(topology.members.map((x) => [x.name, x]));
  const urls = (names: readonly string[]): string => names.map((n) => memberUrl(byName.get(n) as TopologyMember)).join(',');
  const extra = Object.entries(m.flags).flatMap(([k, v]) => [`--${k}`, v]);
  switch (m.kind) {
    case 'store': {
      const initialCluster = stores(topology).map((x) => `${x.name}=${peerUrl(x)}`).join(',');
      return [
        programEntry('ketch'),
        '--name', m.name,
        '--data-dir', join(resolve(stateDir), m.name),
        '--listen-client-urls', clientUrl(m),
        '--advertise-client-urls', clientUrl(m),
        '--listen-peer-urls', peerUrl(m),
        '--initial-advertise-peer-urls', peerUrl(m),
        '--initial-cluster', initialCluster,
        '--initial-cluster-token', topology.name,
        '--initial-cluster-state', 'new',
        ...(m.tls ? storeTlsArgs(m.name, stateDir) : []),
        ...extra,
      ];
    }
    case 'apiserver': {
      const serving = m.tls ? [...apiserverTlsArgs(m.name, m.port, stateDir), ...apiserverEtcdTlsArgs(m.name, stateDir)] : ['--port', String(m.port)];
      return [programEntry('ketch-apiserver'), '--etcd-servers', urls(m.stores), '--bind-address', m.host, ...serving, ...extra];
    }
    case 'lb': {
      const health = m.tls ? ['--health-ca', pkiPaths(stateDir).ca] : [];
      return [launcherEntry(), '__lb', '--listen', `${m.host}:${m.port}`, '--backends', urls(m.backends), ...health, ...extra];
    }
    case 'scheduler':
      return [programEntry('ketch-scheduler'), '--master', urls(m.masters), ...credentials(topology, m.name, stateDir), ...extra];
    case 'controller-manager':
      return [programEntry('ketch-controller-manager'), '--master', urls(m.masters), ...credentials(topology, m.name, stateDir), ...extra];
    case 'kubelet':
      return [programEntry('ketch-kubelet'), '--master', urls(m.masters), ...credentials(topology, m.name, stateDir), '--node-name', m.nodeName, '--nodes', String(m.nodes), ...extra];
  }
}

/** An apiserver of a TLS topology: HTTPS, client certificates, Node and RBAC authorization, Secrets encrypted at rest. */
function apiserverTlsArgs(name: string, port: number, stateDir: string): string[] {
  const pki = pkiPaths(stateDir);
  const serving = certPath(stateDir, name);
  return [
    '--secure-port', String(port),
    '--tls-cert-file', serving.cert,
    '--tls-private-key-file', serving.key,
    '--client-ca-file', pki.ca,
    '--authorization-mode', 'Node,RBAC',
    '--encryption-provider-config', pki.encryptionConfig,
  ];
}

/** A store member of a TLS topology: etcd's flags for mutual TLS on client and peer URLs. */
function storeTlsArgs(name: string, stateDir: string): string[] {
  const pki = pkiPaths(stateDir);
  const own = certPath(stateDir, name);
  return [
    '--cert-file', own.cert,
    '--key-file', own.key,
    '--trusted-ca-file', pki.ca,
    '--client-cert-auth=true',
    '--peer-cert-file', own.cert,
    '--peer-key-file', own.key,
    '--peer-trusted-ca-file', pki.ca,
    '--peer-client-cert-auth=true',
  ];
}

/** The apiserver's client certificate towards the store (kube-apiserver's --etcd-* flags). */
function apiserverEtcdTlsArgs(name: string, stateDir: string): string[] {
  const client = certPath(stateDir, etcdClientName(name));
  return ['--etcd-cafile', pkiPaths(stateDir).ca, '--etcd-certfile', client.cert, '--etcd-keyfile', client.key];
}

/** A component of a TLS topology reaches the apiservers with its own identity, from its kubeconfig. */
function credentials(topology: Topology, name: string, stateDir: string): string[] {
  return topology.tls ? ['--kubeconfig', memberKubeconfigPath(stateDir, name)] : [];
}
