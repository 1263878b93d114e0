// RBAC privilege escalation prevention end to end: the real kubectl against a real
// ketch-apiserver (HTTPS, --authorization-mode Node,RBAC, static tokens: kubectl sends no token over
// plain HTTP) on a real ketch store member.
// A namespace admin-like user who holds only some verbs cannot write a Role or bind a ClusterRole
// beyond them (kubectl prints kube's 403), can within them, can bind once granted `bind` on that
// ClusterRole by name, and can write wider Roles once granted `escalate`; `kubectl auth can-i`
// answers the same throughout.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { httpGet } from '../../../src/launcher/probes.js';
import { CertificateAuthority, writePemFiles } from '../../../src/tls/cert-authority.js';
import { freePorts } from '../../api/free-port.js';
import { startCluster, type Cluster } from '../../integration/cluster.js';
import { ApiServerProcess, kubectlBinary, requireApiserverBuild, requireKubectl, runCommand, type KubectlResult } from './apiserver-harness.js';

function run(args: readonly string[], input?: string): Promise<KubectlResult> {
  return runCommand(kubectlBinary, args, input === undefined ? {} : { input });
}

const held = (what: string): string =>
  `user "dana" (groups=["team-admins" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n${what}`;

describe('RBAC escalation prevention with the real kubectl', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ketch-rbac-escalation-'));
  let store: Cluster;
  let apiserver: ApiServerProcess;
  const kc: Record<string, string> = {};

  const kubectl = (who: string, args: readonly string[], input?: string): Promise<KubectlResult> =>
    run(['--kubeconfig', kc[who] as string, '--cache-dir', join(dir, `cache-${who}`), '--request-timeout', '20s', ...args], input);

  /** `kubectl auth can-i` as `who`: [exit code, answer]. */
  const canI = async (who: string, args: readonly string[]): Promise<[number, string]> => {
    const r = await kubectl(who, ['auth', 'can-i', ...args]);
    return [r.code, r.stdout.trim()];
  };

  /** Policy reaches the authorizer through the watch cache: wait until can-i says yes. */
  const untilCan = async (who: string, args: readonly string[]): Promise<void> => {
    for (let i = 0; i < 100; i++) {
      if ((await canI(who, args))[1] === 'yes') return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${who} never got: can-i ${args.join(' ')}`);
  };

  const admin = async (args: readonly string[], input?: string): Promise<void> => {
    const r = await kubectl('admin', args, input);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  };

  beforeAll(async () => {
    requireKubectl();
    requireApiserverBuild();
    store = await startCluster('ketch', 1);
    const ca = await CertificateAuthority.create({ commonName: 'rbac-escalation-test-ca' });
    await writePemFiles(dir, 'apiserver', await ca.issue({ commonName: 'kube-apiserver', ipAddresses: ['127.0.0.1'], usages: ['server'] }));
    writeFileSync(join(dir, 'tokens.csv'), 'admin-token,root,1000,system:masters\ndana-token,dana,1001,team-admins\n');
    const [port] = await freePorts(1);
    apiserver = new ApiServerProcess('apiserver', port as number, [
      '--etcd-servers', store.endpoints.join(','),
      '--secure-port', String(port),
      '--tls-cert-file', join(dir, 'apiserver.crt'),
      '--tls-private-key-file', join(dir, 'apiserver.key'),
      '--token-auth-file', join(dir, 'tokens.csv'),
      '--authorization-mode', 'Node,RBAC',
    ], dir);
    await apiserver.start();
    const url = `https://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ready = await httpGet(`${url}/readyz`, { ca: Buffer.from(ca.pair.certPem) }).catch(() => undefined);
      if (ready?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`apiserver not ready: ${apiserver.logTail()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const caData = Buffer.from(ca.pair.certPem).toString('base64');
    for (const [who, token] of [['admin', 'admin-token'], ['dana', 'dana-token']] as const) {
      const path = join(dir, `${who}.kubeconfig`);
      writeFileSync(path, `apiVersion: v1\nkind: Config\nclusters: [{name: t, cluster: {server: "${url}", certificate-authority-data: ${caData}}}]\nusers: [{name: u, user: {token: "${token}"}}]\ncontexts: [{name: t, context: {cluster: t, user: u}}]\ncurrent-context: t\n`);
      kc[who] = path;
    }
    // dana administers namespace "team" with some verbs only: no delete on pods, no escalate, no bind.
    await admin(['create', 'namespace', 'team']);
    await admin(['create', 'role', 'team-lead', '-n', 'team', '--verb=get,list,watch,create', '--resource=pods,configmaps']);
    await admin(['create', '-f', '-'], JSON.stringify({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'rbac-writer', namespace: 'team' },
      rules: [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: ['get', 'list', 'create', 'update', 'patch', 'delete'] }],
    }));
    await admin(['create', 'rolebinding', 'dana-lead', '-n', 'team', '--role=team-lead', '--group=team-admins']);
    await admin(['create', 'rolebinding', 'dana-rbac', '-n', 'team', '--role=rbac-writer', '--user=dana']);
    await admin(['create', 'clusterrole', 'pod-deleter', '--verb=delete', '--resource=pods']);
    await untilCan('dana', ['create', 'roles', '-n', 'team']);
    await untilCan('dana', ['list', 'pods', '-n', 'team']);
  }, 180_000);

  afterAll(async () => {
    await apiserver?.stop().catch(() => undefined);
    await store?.destroy().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('a Role with a verb not held is refused, the same Role within the rights is created', async () => {
    const big = await kubectl('dana', ['create', 'role', 'pod-admin', '-n', 'team', '--verb=get,delete', '--resource=pods']);
    expect(big.code).toBe(1);
    expect(big.stdout).toBe('');
    expect(big.stderr.trim()).toBe(`Error from server (Forbidden): roles.rbac.authorization.k8s.io "pod-admin" is forbidden: ${held('{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}')}`);
    // The same through a manifest: the Status's text, and the missing rules listed sorted, compacted per resource.
    const manifest = JSON.stringify({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'wide', namespace: 'team' },
      rules: [
        { apiGroups: [''], resources: ['pods', 'secrets'], verbs: ['get', 'update'] },
        { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
      ],
    });
    const applied = await kubectl('dana', ['apply', '-f', '-'], manifest);
    expect(applied.code).toBe(1);
    expect(applied.stderr.trim()).toBe(
      `Error from server (Forbidden): error when creating "STDIN": roles.rbac.authorization.k8s.io "wide" is forbidden: ${held(
        '{APIGroups:[""], Resources:["pods"], Verbs:["update"]}\n{APIGroups:[""], Resources:["pods/log"], Verbs:["get"]}\n{APIGroups:[""], Resources:["secrets"], Verbs:["get" "update"]}',
      )}`,
    );
    expect((await kubectl('dana', ['get', 'role', 'pod-admin', '-n', 'team'])).code).toBe(1);
    const small = await kubectl('dana', ['create', 'role', 'pod-reader', '-n', 'team', '--verb=get,list', '--resource=pods']);
    expect([small.code, small.stdout.trim()], small.stderr).toEqual([0, 'role.rbac.authorization.k8s.io/pod-reader created']);
    // An update that widens the Role is refused too (PATCH), and the Role is unchanged.
    const patched = await kubectl('dana', ['patch', 'role', 'pod-reader', '-n', 'team', '--type=json', '-p', '[{"op":"add","path":"/rules/-","value":{"apiGroups":[""],"resources":["pods"],"verbs":["delete"]}}]']);
    expect(patched.code).toBe(1);
    expect(patched.stderr.trim()).toBe(`Error from server (Forbidden): roles.rbac.authorization.k8s.io "pod-reader" is forbidden: ${held('{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}')}`);
    const rules = await kubectl('admin', ['get', 'role', 'pod-reader', '-n', 'team', '-o', 'jsonpath={.rules}']);
    expect(JSON.parse(rules.stdout)).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }]);
    // PUT (kubectl replace) and server-side apply, of an existing Role and of a new one, are checked the same way.
    const wider = (name: string): string => JSON.stringify({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name, namespace: 'team' },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'deletecollection'] }],
    });
    const replaced = await kubectl('dana', ['replace', '-f', '-'], wider('pod-reader'));
    expect([replaced.code, replaced.stderr.trim()]).toEqual([1, `Error from server (Forbidden): error when replacing "STDIN": roles.rbac.authorization.k8s.io "pod-reader" is forbidden: ${held('{APIGroups:[""], Resources:["pods"], Verbs:["deletecollection"]}')}`]);
    for (const name of ['pod-reader', 'ssa-new']) {
      const ssa = await kubectl('dana', ['apply', '--server-side', '-f', '-'], wider(name));
      expect([ssa.code, ssa.stderr.trim()], name).toEqual([1, `Error from server (Forbidden): roles.rbac.authorization.k8s.io "${name}" is forbidden: ${held('{APIGroups:[""], Resources:["pods"], Verbs:["deletecollection"]}')}`]);
    }
    expect((await kubectl('dana', ['get', 'role', 'ssa-new', '-n', 'team'])).code).toBe(1);
    // A label is not an escalation: the rules are still held.
    expect((await kubectl('dana', ['label', 'role', 'pod-reader', '-n', 'team', 'tier=read'])).code).toBe(0);
  }, 120_000);

  it('binding a role within the rights works; a ClusterRole not held is refused until `bind` is granted on it by name', async () => {
    const ok = await kubectl('dana', ['create', 'rolebinding', 'eve-reader', '-n', 'team', '--role=pod-reader', '--user=eve']);
    expect([ok.code, ok.stdout.trim()], ok.stderr).toEqual([0, 'rolebinding.rbac.authorization.k8s.io/eve-reader created']);
    expect(await canI('dana', ['bind', 'clusterrole/pod-deleter', '-n', 'team'])).toEqual([1, 'no']);
    const refused = await kubectl('dana', ['create', 'rolebinding', 'eve-deleter', '-n', 'team', '--clusterrole=pod-deleter', '--user=eve']);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim()).toBe(`error: failed to create rolebinding: rolebindings.rbac.authorization.k8s.io "eve-deleter" is forbidden: ${held('{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}')}`);
    expect(await canI('admin', ['delete', 'pods', '-n', 'team', '--as', 'eve'])).toEqual([1, 'no']);

    await admin(['create', 'role', 'deleter-binder', '-n', 'team', '--verb=bind', '--resource=clusterroles.rbac.authorization.k8s.io', '--resource-name=pod-deleter']);
    await admin(['create', 'rolebinding', 'dana-binder', '-n', 'team', '--role=deleter-binder', '--user=dana']);
    await untilCan('dana', ['bind', 'clusterrole/pod-deleter', '-n', 'team']);
    // The grant names one ClusterRole, in one namespace.
    expect(await canI('dana', ['bind', 'clusterrole/cluster-admin', '-n', 'team'])).toEqual([1, 'no']);
    expect(await canI('dana', ['bind', 'clusterrole/pod-deleter', '-n', 'default'])).toEqual([1, 'no']);

    const bound = await kubectl('dana', ['create', 'rolebinding', 'eve-deleter', '-n', 'team', '--clusterrole=pod-deleter', '--user=eve']);
    expect([bound.code, bound.stdout.trim()], bound.stderr).toEqual([0, 'rolebinding.rbac.authorization.k8s.io/eve-deleter created']);
    await untilCan('admin', ['delete', 'pods', '-n', 'team', '--as', 'eve']);
    const admins = await kubectl('dana', ['create', 'rolebinding', 'eve-admin', '-n', 'team', '--clusterrole=cluster-admin', '--user=eve']);
    expect(admins.code).toBe(1);
    expect(admins.stderr.trim()).toBe(
      `error: failed to create rolebinding: rolebindings.rbac.authorization.k8s.io "eve-admin" is forbidden: ${held('{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n{NonResourceURLs:["*"], Verbs:["*"]}')}`,
    );
    // A binding to a role that does not exist: kube answers 404 to a user without `bind` on it.
    const missing = await kubectl('dana', ['create', 'rolebinding', 'eve-ghost', '-n', 'team', '--role=ghost', '--user=eve']);
    expect([missing.code, missing.stderr.trim()]).toEqual([1, 'error: failed to create rolebinding: roles.rbac.authorization.k8s.io "ghost" not found']);
  }, 120_000);

  it('with `escalate` on roles in the namespace, a wider Role is created; elsewhere and cluster-wide it is still refused', async () => {
    expect(await canI('dana', ['escalate', 'roles', '-n', 'team'])).toEqual([1, 'no']);
    await admin(['create', 'role', 'escalator', '-n', 'team', '--verb=escalate', '--resource=roles.rbac.authorization.k8s.io']);
    await admin(['create', 'rolebinding', 'dana-escalator', '-n', 'team', '--role=escalator', '--user=dana']);
    await untilCan('dana', ['escalate', 'roles', '-n', 'team']);
    expect(await canI('dana', ['escalate', 'roles', '-n', 'default'])).toEqual([1, 'no']);
    expect(await canI('dana', ['escalate', 'clusterroles'])).toEqual([1, 'no']);

    const big = await kubectl('dana', ['create', 'role', 'pod-admin', '-n', 'team', '--verb=get,delete', '--resource=pods']);
    expect([big.code, big.stdout.trim()], big.stderr).toEqual([0, 'role.rbac.authorization.k8s.io/pod-admin created']);
    const patched = await kubectl('dana', ['patch', 'role', 'pod-reader', '-n', 'team', '--type=json', '-p', '[{"op":"add","path":"/rules/-","value":{"apiGroups":[""],"resources":["secrets"],"verbs":["*"]}}]']);
    expect([patched.code, patched.stdout.trim()], patched.stderr).toEqual([0, 'role.rbac.authorization.k8s.io/pod-reader patched']);
    // escalate is not bind: binding the wider Role still needs its rules (or `bind`).
    const bindBig = await kubectl('dana', ['create', 'rolebinding', 'eve-pod-admin', '-n', 'team', '--role=pod-admin', '--user=eve']);
    expect(bindBig.code).toBe(1);
    expect(bindBig.stderr.trim()).toBe(`error: failed to create rolebinding: rolebindings.rbac.authorization.k8s.io "eve-pod-admin" is forbidden: ${held('{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}')}`);
    // Cluster-wide, dana holds nothing: a ClusterRole (creatable once granted) with rules held only in "team" is refused.
    await admin(['create', 'clusterrole', 'clusterrole-writer', '--verb=create', '--resource=clusterroles.rbac.authorization.k8s.io']);
    await admin(['create', 'clusterrolebinding', 'dana-clusterrole-writer', '--clusterrole=clusterrole-writer', '--user=dana']);
    await untilCan('dana', ['create', 'clusterroles']);
    const cluster = await kubectl('dana', ['create', 'clusterrole', 'pod-lister', '--verb=list', '--resource=pods']);
    expect(cluster.code).toBe(1);
    expect(cluster.stderr.trim()).toBe(`Error from server (Forbidden): clusterroles.rbac.authorization.k8s.io "pod-lister" is forbidden: ${held('{APIGroups:[""], Resources:["pods"], Verbs:["list"]}')}`);
    const own = await kubectl('dana', ['create', 'clusterrole', 'clusterrole-creator', '--verb=create', '--resource=clusterroles.rbac.authorization.k8s.io']);
    expect([own.code, own.stdout.trim()], own.stderr).toEqual([0, 'clusterrole.rbac.authorization.k8s.io/clusterrole-creator created']);
    // system:masters is never checked.
    const root = await kubectl('admin', ['create', 'clusterrole', 'anything', '--verb=*', '--resource=*']);
    expect([root.code, root.stdout.trim()], root.stderr).toEqual([0, 'clusterrole.rbac.authorization.k8s.io/anything created']);
  }, 120_000);
});
