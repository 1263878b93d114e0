// ketch-apiserver's security with the real kubectl and the real etcdctl, against one real ketch
// store member: HTTPS, who gets in (client certificates of our CA, static tokens; no credentials,
// a certificate of another CA or an expired one get 401), what they may do (RBAC with kube's 403
// text, a RoleBinding that grants, `kubectl auth can-i`), what a kubelet identity may touch (its
// own Node and Lease only), and Secrets encrypted at rest (ciphertext in the store, plaintext
// through kubectl).

import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CertificateAuthority, writePemFiles, type PemKeyPair } from '../../src/tls/cert-authority.js';
import { kubeconfigText } from '../../src/launcher/cluster-pki.js';
import { httpGet } from '../../src/launcher/probes.js';
import { freePorts } from '../api/free-port.js';
import { runEtcdctl, startCluster, type Cluster } from '../integration/cluster.js';
import { ApiServerProcess, kubectlBinary, requireApiserverBuild, requireKubectl, runCommand } from './apiserver/apiserver-harness.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(binary: string, args: readonly string[], input?: string): Promise<Run> {
  return runCommand(binary, args, input === undefined ? {} : { input });
}

describe('ketch-apiserver security (HTTPS, authentication, RBAC, Node restriction, encryption at rest)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ketch-security-'));
  let store: Cluster;
  let apiserver: ApiServerProcess;
  let url = '';
  let ca: CertificateAuthority;
  const files: Record<string, string> = {};
  /** kubeconfig per identity. */
  const kc: Record<string, string> = {};

  const kubectl = (who: string, args: readonly string[], input?: string): Promise<Run> =>
    run(kubectlBinary, ['--kubeconfig', kc[who] as string, '--cache-dir', join(dir, `cache-${who}`), '--request-timeout', '20s', ...args], input);

  const writeKubeconfig = (who: string, text: string): void => {
    const path = join(dir, `${who}.kubeconfig`);
    writeFileSync(path, text);
    kc[who] = path;
  };

  beforeAll(async () => {
    requireKubectl();
    requireApiserverBuild();
    if (!existsSync('/usr/bin/etcdctl')) throw new Error('/usr/bin/etcdctl is missing: the test reads the store with the real etcdctl');
    store = await startCluster('ketch', 1);
    ca = await CertificateAuthority.create({ commonName: 'security-test-ca' });
    const otherCa = await CertificateAuthority.create({ commonName: 'some-other-ca' });
    await writePemFiles(dir, 'ca', ca.pair);
    files.ca = join(dir, 'ca.crt');
    const serving = await ca.issue({ commonName: 'kube-apiserver', ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'], usages: ['server'] });
    await writePemFiles(dir, 'apiserver', serving);
    writeFileSync(join(dir, 'tokens.csv'), 'alice-token,alice,1001\nbob-token,bob,1002,"devs,qa"\n');
    writeFileSync(
      join(dir, 'encryption.yaml'),
      [
        'apiVersion: apiserver.config.k8s.io/v1',
        'kind: EncryptionConfiguration',
        'resources:',
        '  - resources: [secrets]',
        '    providers:',
        `      - aescbc: { keys: [{ name: key1, secret: ${Buffer.alloc(32, 7).toString('base64')} }] }`,
        '      - identity: {}',
        '',
      ].join('\n'),
    );
    const [port] = await freePorts(1);
    apiserver = new ApiServerProcess('apiserver', port as number, [
      '--etcd-servers', store.endpoints.join(','),
      '--secure-port', String(port),
      '--tls-cert-file', join(dir, 'apiserver.crt'),
      '--tls-private-key-file', join(dir, 'apiserver.key'),
      '--client-ca-file', files.ca,
      '--token-auth-file', join(dir, 'tokens.csv'),
      '--authorization-mode', 'Node,RBAC',
      '--encryption-provider-config', join(dir, 'encryption.yaml'),
    ], dir);
    url = `https://127.0.0.1:${port}`;
    await apiserver.start();
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ready = await httpGet(`${url}/readyz`, { ca: Buffer.from(ca.pair.certPem) }).catch(() => undefined);
      if (ready?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`apiserver not ready: ${apiserver.logTail()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const certUser = async (who: string, issuer: CertificateAuthority, cn: string, o: string[] = [], validity: { notBefore?: Date; notAfter?: Date } = {}): Promise<void> => {
      const pair: PemKeyPair = await issuer.issue({ commonName: cn, organizations: o, usages: ['client'], ...validity });
      writeKubeconfig(who, kubeconfigText('t', url, { caPem: ca.pair.certPem, client: pair, user: cn }));
    };
    await certUser('admin', ca, 'kubernetes-admin', ['system:masters']);
    await certUser('node-1', ca, 'system:node:node-1', ['system:nodes']);
    await certUser('other-ca', otherCa, 'kubernetes-admin', ['system:masters']);
    await certUser('expired', ca, 'kubernetes-admin', ['system:masters'], { notBefore: new Date(Date.now() - 3 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    const b64 = Buffer.from(ca.pair.certPem).toString('base64');
    const tokenUser = (who: string, token: string): void => {
      writeKubeconfig(who, `apiVersion: v1\nkind: Config\nclusters: [{name: t, cluster: {server: "${url}", certificate-authority-data: ${b64}}}]\nusers: [{name: u, user: {token: "${token}"}}]\ncontexts: [{name: t, context: {cluster: t, user: u}}]\ncurrent-context: t\n`);
    };
    tokenUser('alice', 'alice-token');
    tokenUser('bad-token', 'not-a-token');
  }, 120_000);

  afterAll(async () => {
    await apiserver?.stop().catch(() => undefined);
    await store?.destroy().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('401 without credentials, with a certificate of another CA, an expired certificate or an unknown token; anonymous only on /healthz and /version', async () => {
    // (kubectl with no credentials at all prompts for a user name: that case is the raw request below.)
    for (const who of ['other-ca', 'expired', 'bad-token']) {
      const r = await kubectl(who, ['get', 'pods']);
      expect(r.code, who).not.toBe(0);
      // client-go's text for a 401.
      expect(r.stderr, who).toContain('error: You must be logged in to the server (the server has asked for the client to provide credentials)');
    }
    const anonymous = await httpGet(`${url}/api/v1/namespaces/default/pods`, { ca: Buffer.from(ca.pair.certPem) });
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.text)).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    expect((await httpGet(`${url}/healthz`, { ca: Buffer.from(ca.pair.certPem) })).text).toBe('ok');
    expect((await httpGet(`${url}/version`, { ca: Buffer.from(ca.pair.certPem) })).status).toBe(200);
    // Plain HTTP to the HTTPS port is not served.
    await expect(httpGet(url.replace('https:', 'http:') + '/healthz')).rejects.toThrow();
  });

  it("a user without rights gets kube's 403; a RoleBinding grants the same request; kubectl auth can-i agrees", async () => {
    const denied = await kubectl('alice', ['get', 'pods', '-n', 'default']);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr.trim()).toBe('Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"');
    const canBefore = await kubectl('alice', ['auth', 'can-i', 'list', 'pods', '-n', 'default']);
    expect([canBefore.code, canBefore.stdout.trim()]).toEqual([1, 'no']);
    expect((await kubectl('admin', ['auth', 'can-i', 'list', 'pods', '-n', 'default', '--as', 'alice'])).stdout.trim()).toBe('no');
    const bound = await kubectl('admin', ['create', 'rolebinding', 'alice-view', '--clusterrole', 'view', '--user', 'alice', '-n', 'default']);
    expect(bound.stdout.trim(), bound.stderr).toBe('rolebinding.rbac.authorization.k8s.io/alice-view created');
    // The binding reaches the authorizer through the watch cache: allow a moment.
    let allowed: Run | undefined;
    for (let i = 0; i < 50; i++) {
      allowed = await kubectl('alice', ['get', 'pods', '-n', 'default']);
      if (allowed.code === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(allowed?.code, allowed?.stderr).toBe(0);
    expect(allowed?.stderr).toContain('No resources found in default namespace.');
    expect((await kubectl('alice', ['auth', 'can-i', 'list', 'pods', '-n', 'default'])).stdout.trim()).toBe('yes');
    expect((await kubectl('admin', ['auth', 'can-i', 'list', 'pods', '-n', 'default', '--as', 'alice'])).stdout.trim()).toBe('yes');
    // view grants reading only, and only in the binding's namespace.
    expect((await kubectl('alice', ['auth', 'can-i', 'delete', 'pods', '-n', 'default'])).stdout.trim()).toBe('no');
    expect((await kubectl('alice', ['auth', 'can-i', 'list', 'pods', '-n', 'kube-system'])).stdout.trim()).toBe('no');
    const write = await kubectl('alice', ['create', 'configmap', 'x', '-n', 'default']);
    expect(write.stderr.trim()).toBe('error: failed to create configmap: configmaps is forbidden: User "alice" cannot create resource "configmaps" in API group "" in the namespace "default"');
    expect((await kubectl('admin', ['auth', 'can-i', '*', '*'])).stdout.trim()).toBe('yes');
  }, 120_000);

  it('a kubelet identity may write its own Node and Lease but not another node\'s', async () => {
    const node = (name: string): string => JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name } });
    const lease = (name: string): string =>
      JSON.stringify({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: 'kube-node-lease' }, spec: { holderIdentity: name, leaseDurationSeconds: 40 } });
    expect((await kubectl('admin', ['create', '-f', '-'], node('node-2'))).code).toBe(0);
    expect((await kubectl('admin', ['create', '-f', '-'], lease('node-2'))).code).toBe(0);
    const own = await kubectl('node-1', ['create', '-f', '-'], node('node-1'));
    expect(own.stdout.trim(), own.stderr).toBe('node/node-1 created');
    const ownLease = await kubectl('node-1', ['create', '-f', '-'], lease('node-1'));
    expect(ownLease.stdout.trim(), ownLease.stderr).toBe('lease.coordination.k8s.io/node-1 created');
    expect((await kubectl('node-1', ['label', 'node', 'node-1', 'ready=yes'])).code).toBe(0);
    const other = await kubectl('node-1', ['label', 'node', 'node-2', 'ready=yes']);
    expect(other.stderr.trim()).toBe('Error from server (Forbidden): nodes "node-2" is forbidden: node "node-1" is not allowed to modify node "node-2"');
    const otherCreate = await kubectl('node-1', ['create', '-f', '-'], node('node-3'));
    expect(otherCreate.stderr.trim()).toBe('Error from server (Forbidden): error when creating "STDIN": nodes "node-3" is forbidden: node "node-1" is not allowed to modify node "node-3"');
    const otherLease = await kubectl('node-1', ['annotate', 'lease', 'node-2', '-n', 'kube-node-lease', 'x=y']);
    expect(otherLease.stderr.trim()).toBe('Error from server (Forbidden): leases.coordination.k8s.io "node-2" is forbidden: can only access node lease with the same name as the requesting node');
    const secrets = await kubectl('node-1', ['get', 'secrets', '-n', 'default']);
    expect(secrets.stderr.trim()).toBe('Error from server (Forbidden): secrets is forbidden: User "system:node:node-1" cannot list resource "secrets" in API group "" in the namespace "default"');
  }, 120_000);

  it('Secrets are ciphertext in the store (etcdctl) and plaintext through kubectl', async () => {
    const created = await kubectl('admin', ['create', 'secret', 'generic', 'db', '-n', 'default', '--from-literal=password=hunter2-very-secret']);
    expect(created.stdout.trim(), created.stderr).toBe('secret/db created');
    const raw = await runEtcdctl(store.endpoints, ['get', '/registry/secrets/default/db', '--print-value-only']);
    expect(raw.code, raw.stderr).toBe(0);
    expect(raw.stdout.startsWith('k8s:enc:aescbc:v1:key1:')).toBe(true);
    expect(raw.stdout).not.toContain('hunter2');
    expect(raw.stdout).not.toContain(Buffer.from('hunter2-very-secret').toString('base64'));
    const read = await kubectl('admin', ['get', 'secret', 'db', '-n', 'default', '-o', 'jsonpath={.data.password}']);
    expect(Buffer.from(read.stdout, 'base64').toString()).toBe('hunter2-very-secret');
    // Other kinds stay plain JSON (only secrets are configured).
    expect((await kubectl('admin', ['create', 'configmap', 'plain', '-n', 'default', '--from-literal=k=v'])).code).toBe(0);
    const cm = await runEtcdctl(store.endpoints, ['get', '/registry/configmaps/default/plain', '--print-value-only']);
    expect(JSON.parse(cm.stdout).data).toEqual({ k: 'v' });
  }, 120_000);
});
