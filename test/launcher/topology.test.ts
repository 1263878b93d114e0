import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { leaseOf, memberArgs } from '../../src/launcher/member-commands.js';
import { loadTopology, parseTopology, type KubeletMember, type Topology } from '../../src/launcher/topology.js';

const CLUSTER_DIR = join(import.meta.dirname, '..', '..', 'cluster');

function parse(members: unknown[]): Topology {
  return parseTopology({ name: 't', members }, 't.yaml');
}

const store = (n: number): Record<string, unknown> => ({ name: `store-${n}`, kind: 'store', clientPort: 40000 + n, peerPort: 41000 + n });

describe('topology', () => {
  it('reads cluster/ha.yaml: 3 masters, one lb, 3 kubelets that talk to the lb', () => {
    const t = loadTopology(join(CLUSTER_DIR, 'ha.yaml'));
    const count = (kind: string): number => t.members.filter((m) => m.kind === kind).length;
    expect([count('store'), count('apiserver'), count('scheduler'), count('controller-manager'), count('lb'), count('kubelet')]).toEqual([3, 3, 3, 3, 1, 3]);
    const worker = t.members.find((m) => m.kind === 'kubelet') as KubeletMember;
    expect(worker.masters).toEqual(['lb']);
    const args = memberArgs(t, worker, '/tmp/state');
    // ha.yaml runs with TLS: HTTPS URLs, each component with its own kubeconfig.
    expect(t.tls).toBe(true);
    expect(args.slice(1)).toEqual(['--master', 'https://127.0.0.1:8080', '--kubeconfig', '/tmp/state/kubeconfigs/worker-1.kubeconfig', '--node-name', 'worker-1', '--nodes', '1', '--metrics-bind-address', '127.0.0.1:10255']);
    const api = t.members.find((m) => m.name === 'apiserver-1');
    expect(memberArgs(t, api!, '/tmp/state').slice(1)).toEqual([
      '--etcd-servers', 'https://127.0.0.1:2379,https://127.0.0.1:22379,https://127.0.0.1:32379',
      '--bind-address', '127.0.0.1',
      '--secure-port', '8081',
      '--tls-cert-file', '/tmp/state/pki/apiserver-1.crt',
      '--tls-private-key-file', '/tmp/state/pki/apiserver-1.key',
      '--client-ca-file', '/tmp/state/pki/ca.crt',
      '--authorization-mode', 'Node,RBAC',
      '--encryption-provider-config', '/tmp/state/pki/encryption-config.yaml',
      '--etcd-cafile', '/tmp/state/pki/ca.crt',
      '--etcd-certfile', '/tmp/state/pki/apiserver-1-etcd-client.crt',
      '--etcd-keyfile', '/tmp/state/pki/apiserver-1-etcd-client.key',
    ]);
    const store = t.members.find((m) => m.name === 'store-1');
    expect(memberArgs(t, store!, '/tmp/state')).toEqual(expect.arrayContaining(['--listen-client-urls', 'https://127.0.0.1:2379', '--cert-file', '/tmp/state/pki/store-1.crt', '--client-cert-auth=true', '--peer-trusted-ca-file', '/tmp/state/pki/ca.crt']));
    const lb = t.members.find((m) => m.kind === 'lb');
    expect(memberArgs(t, lb!, '/tmp/state').slice(1)).toEqual(['__lb', '--listen', '127.0.0.1:8080', '--backends', 'https://127.0.0.1:8081,https://127.0.0.1:8082,https://127.0.0.1:8083', '--health-ca', '/tmp/state/pki/ca.crt']);
    expect(loadTopology(join(CLUSTER_DIR, 'single.yaml')).members.map((m) => m.kind)).toEqual(['store']);
  });

  it('defaults: apiservers use every store, components every apiserver, kubelets the apiservers when there is no lb', () => {
    const t = parse([store(1), store(2), { name: 'api', kind: 'apiserver', port: 8000 }, { name: 'sched', kind: 'scheduler', flags: { 'leader-elect-lease-duration': '4s' } }, { name: 'w', kind: 'kubelet', nodes: 2 }]);
    const [, , api, sched, w] = t.members;
    expect(api).toMatchObject({ stores: ['store-1', 'store-2'] });
    expect(sched).toMatchObject({ masters: ['api'] });
    expect(w).toMatchObject({ masters: ['api'], nodeName: 'w', nodes: 2 });
    expect(memberArgs(t, sched!, '/tmp/s').slice(1)).toEqual(['--master', 'http://127.0.0.1:8000', '--leader-elect-lease-duration', '4s']);
    expect(leaseOf(sched!)).toEqual({ namespace: 'kube-system', name: 'kube-scheduler' });
  });

  it('knows the Lease each leader-elected member competes for, as its flags set it', () => {
    const t = parse([
      store(1),
      { name: 'api', kind: 'apiserver', port: 8000 },
      { name: 'cm', kind: 'controller-manager' },
      { name: 'cm-renamed', kind: 'controller-manager', flags: { 'leader-elect-resource-name': 'my-cm', 'leader-elect-resource-namespace': 'ops' } },
      { name: 'solo', kind: 'scheduler', flags: { 'leader-elect': false } },
    ]);
    expect(t.members.map((m) => leaseOf(m))).toEqual([undefined, undefined, { namespace: 'kube-system', name: 'kube-controller-manager' }, { namespace: 'ops', name: 'my-cm' }, undefined]);
  });

  it.each([
    ['an unknown kind', [store(1), { name: 'x', kind: 'etcd' }], /members\[1\] \(x\): 'kind' must be one of store, apiserver, lb, scheduler, controller-manager, kubelet/],
    ['no store', [{ name: 'api', kind: 'apiserver', port: 8000 }], /needs at least one member of kind store/],
    ['a kubelet without apiserver', [store(1), { name: 'w', kind: 'kubelet' }], /w need at least one member of kind apiserver/],
    ['a reference to a missing member', [store(1), { name: 'api', kind: 'apiserver', port: 8000, stores: ['store-9'] }], /\(api\): 'stores' names store-9, which is not a member/],
    ['a reference of the wrong kind', [store(1), { name: 'api', kind: 'apiserver', port: 8000 }, { name: 'lb', kind: 'lb', port: 8001, backends: ['store-1'] }], /'backends' names store-1 of kind store; expected apiserver/],
    ['a port used twice', [store(1), { name: 'api', kind: 'apiserver', port: 40001 }], /\(api\): port 40001 is already used by store-1/],
    ['a missing port', [store(1), { name: 'api', kind: 'apiserver' }], /\(api\): 'port' must be a port number/],
    ['a field of another kind', [store(1), { name: 'api', kind: 'apiserver', port: 8000, clientPort: 8001 }], /unknown field 'clientPort' for kind apiserver/],
    ['two lbs', [store(1), { name: 'api', kind: 'apiserver', port: 8000 }, { name: 'lb1', kind: 'lb', port: 8001 }, { name: 'lb2', kind: 'lb', port: 8002 }], /at most one member of kind lb/],
    ['a bad node count', [store(1), { name: 'api', kind: 'apiserver', port: 8000 }, { name: 'w', kind: 'kubelet', nodes: 0 }], /'nodes' must be a whole number from 1 to 5000/],
    ['duplicate names', [store(1), store(1)], /duplicate name store-1/],
    ['flags that are not a mapping', [{ ...store(1), flags: ['x'] }], /'flags' must be a mapping/],
  ])('rejects %s with a clear error', (_what, members, message) => {
    expect(() => parse(members)).toThrow(message);
  });

  it('rejects a file that is not a topology', () => {
    expect(() => parseTopology('just text', 'x.yaml')).toThrow(/x.yaml: expected a mapping with a non-empty 'members' list/);
    expect(() => loadTopology('/nonexistent/topology.yaml')).toThrow(/cannot read topology \/nonexistent\/topology.yaml/);
  });
});
