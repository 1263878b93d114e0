// The certificates and credentials of a TLS topology, made once per state dir by `up` and reused by
// later runs (so `start MEMBER` and a second `up` keep trusting each other): one CA; per apiserver a
// serving certificate; per component a client certificate with kube's identity (system:kube-scheduler,
// system:kube-controller-manager, system:node:NAME in system:nodes) inside a kubeconfig of its own;
// an admin identity (O=system:masters) for kubectl, ketchctl and the launcher's own probes; per
// store member one certificate for its client and peer URLs, per apiserver a client certificate
// towards the store; and the
// EncryptionConfiguration (aescbc, a fresh random key) that keeps Secrets encrypted at rest.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { CertificateAuthority, writePemFiles, type PemKeyPair } from '../tls/cert-authority.js';
import { memberUrl, type Topology, type TopologyMember } from './topology.js';

/** Where a state dir keeps its PKI (paths are absolute). */
export function pkiPaths(stateDir: string): { dir: string; ca: string; caKey: string; encryptionConfig: string; kubeconfigDir: string } {
  const dir = join(resolve(stateDir), 'pki');
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    encryptionConfig: join(dir, 'encryption-config.yaml'),
    kubeconfigDir: join(resolve(stateDir), 'kubeconfigs'),
  };
}

export function certPath(stateDir: string, name: string): { cert: string; key: string } {
  const { dir } = pkiPaths(stateDir);
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

/** The base name of an apiserver's client certificate towards the store. */
export function etcdClientName(apiserver: string): string {
  return `${apiserver}-etcd-client`;
}

export function memberKubeconfigPath(stateDir: string, member: string): string {
  return join(pkiPaths(stateDir).kubeconfigDir, `${member}.kubeconfig`);
}

/** The admin identity's base name under pki/ (kubeadm's kubernetes-admin). */
export const adminName = 'admin';

/** The user (CN) and groups (O) a member's client certificate carries, as kube's components use them. */
export function identityOf(m: TopologyMember): { commonName: string; organizations: string[] } | undefined {
  switch (m.kind) {
    case 'scheduler':
      return { commonName: 'system:kube-scheduler', organizations: [] };
    case 'controller-manager':
      return { commonName: 'system:kube-controller-manager', organizations: [] };
    case 'kubelet':
      // One process simulating many nodes speaks for all of them (bound to system:node without NodeRestriction).
      return m.nodes === 1 ? { commonName: `system:node:${m.nodeName}`, organizations: ['system:nodes'] } : { commonName: 'ketch:kubelet-pool', organizations: [] };
    default:
      return undefined;
  }
}

/** A kubeconfig with one context; with `auth`, the CA and the client certificate embedded (kubectl and the components read it alike). */
export function kubeconfigText(name: string, server: string, auth?: { caPem: string; client: PemKeyPair; user: string }): string {
  const b64 = (text: string): string => Buffer.from(text).toString('base64');
  const user = auth === undefined ? name : auth.user;
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `  - name: ${name}`,
    '    cluster:',
    `      server: ${server}`,
    ...(auth === undefined ? [] : [`      certificate-authority-data: ${b64(auth.caPem)}`]),
    'users:',
    `  - name: ${JSON.stringify(user)}`,
    ...(auth === undefined ? ['    user: {}'] : ['    user:', `      client-certificate-data: ${b64(auth.client.certPem)}`, `      client-key-data: ${b64(auth.client.keyPem)}`]),
    'contexts:',
    `  - name: ${name}`,
    '    context:',
    `      cluster: ${name}`,
    `      user: ${JSON.stringify(user)}`,
    `current-context: ${name}`,
    '',
  ].join('\n');
}

function readPair(cert: string, key: string): PemKeyPair | undefined {
  if (!existsSync(cert) || !existsSync(key)) return undefined;
  return { certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8') };
}

/**
 * Makes whatever of the PKI is missing under `stateDir` for a TLS topology; returns the admin's
 * credentials (for the probes). Existing files are kept.
 */
export async function ensureClusterPki(stateDir: string, topology: Topology): Promise<void> {
  const paths = pkiPaths(stateDir);
  mkdirSync(paths.dir, { recursive: true });
  mkdirSync(paths.kubeconfigDir, { recursive: true });
  const existingCa = readPair(paths.ca, paths.caKey);
  const ca = existingCa === undefined ? await CertificateAuthority.create({ commonName: `${topology.name}-ca` }) : await CertificateAuthority.fromPem(existingCa);
  if (existingCa === undefined) await writePemFiles(paths.dir, 'ca', ca.pair);
  const issue = async (name: string, options: Parameters<CertificateAuthority['issue']>[0]): Promise<PemKeyPair> => {
    const { cert, key } = certPath(stateDir, name);
    const existing = readPair(cert, key);
    if (existing !== undefined) return existing;
    const pair = await ca.issue(options);
    await writePemFiles(paths.dir, name, pair);
    return pair;
  };
  const apiHosts = [...new Set(['127.0.0.1', ...topology.members.filter((m) => m.kind === 'apiserver' || m.kind === 'lb').map((m) => m.host)])];
  for (const m of topology.members) {
    if (m.kind === 'store') {
      // One certificate serves the client and peer URLs and dials the other members (etcd's usual setup).
      await issue(m.name, { commonName: m.name, dnsNames: ['localhost'], ipAddresses: [...new Set(['127.0.0.1', m.host])], usages: ['server', 'client'] });
    }
    if (m.kind === 'apiserver') {
      await issue(etcdClientName(m.name), { commonName: 'kube-apiserver-etcd-client', usages: ['client'] });
      await issue(m.name, {
        commonName: 'kube-apiserver',
        // kube-apiserver's names: the service names, the kubernetes Service IP, and every address clients dial.
        dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
        ipAddresses: [...apiHosts, '10.96.0.1'],
        usages: ['server'],
      });
    }
  }
  const api = topology.members.find((m) => m.kind === 'lb') ?? topology.members.find((m) => m.kind === 'apiserver');
  const server = api === undefined ? 'https://127.0.0.1:6443' : memberUrl(api);
  for (const m of topology.members) {
    const identity = identityOf(m);
    if (identity === undefined) continue;
    const pair = await issue(m.name, { ...identity, usages: ['client'] });
    writeFileSync(memberKubeconfigPath(stateDir, m.name), kubeconfigText(topology.name, server, { caPem: ca.certPem, client: pair, user: identity.commonName }), { mode: 0o600 });
  }
  await issue(adminName, { commonName: 'kubernetes-admin', organizations: ['system:masters'], usages: ['client'] });
  if (!existsSync(paths.encryptionConfig)) {
    const config = [
      'apiVersion: apiserver.config.k8s.io/v1',
      'kind: EncryptionConfiguration',
      'resources:',
      '  - resources: [secrets]',
      '    providers:',
      '      - aescbc:',
      '          keys:',
      `            - { name: key1, secret: ${randomBytes(32).toString('base64')} }`,
      '      - identity: {}',
      '',
    ].join('\n');
    writeFileSync(paths.encryptionConfig, config, { mode: 0o600 });
  }
}

/** The admin's kubeconfig text for `server` (what `up` writes to <state-dir>/kubeconfig). */
export function adminKubeconfig(stateDir: string, name: string, server: string): string {
  const paths = pkiPaths(stateDir);
  const { cert, key } = certPath(stateDir, adminName);
  const pair = readPair(cert, key);
  if (pair === undefined) throw new Error(`${cert}: the admin certificate is missing; run 'ketch-cluster up' again`);
  return kubeconfigText(name, server, { caPem: readFileSync(paths.ca, 'utf8'), client: pair, user: 'kubernetes-admin' });
}

/** PEM contents the launcher's probes use against a TLS cluster: the CA and the admin's certificate. */
export function adminAccess(stateDir: string): { ca: Buffer; cert: Buffer; key: Buffer } {
  const paths = pkiPaths(stateDir);
  const { cert, key } = certPath(stateDir, adminName);
  return { ca: readFileSync(paths.ca), cert: readFileSync(cert), key: readFileSync(key) };
}
