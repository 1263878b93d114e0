// The resource catalogue against kube-apiserver's own facts: /registry key layout
// (kubernetes test/integration/etcd/data.go, REFERENCE.md B) and names kubectl resolves.
import { describe, expect, it } from 'vitest';

import {
  apiVersionOf,
  etcdKey,
  findByAnyName,
  findByKind,
  findResource,
  groupVersions,
  parseApiVersion,
  qualifiedKind,
  qualifiedResource,
  resourceCatalogue,
  storageOf,
  storedResources,
} from '../../../src/kube/machinery/resources.js';

function must<T>(v: T | undefined): T {
  if (v === undefined) throw new Error('missing');
  return v;
}

describe('resource catalogue', () => {
  it('lays keys out exactly as kube-apiserver does', () => {
    const key = (g: string, r: string, ns: string | undefined, n: string): string =>
      etcdKey(must(findResource(g, 'v1', r)), ns, n);
    expect(key('', 'pods', 'default', 'web')).toBe('/registry/pods/default/web');
    expect(key('', 'nodes', undefined, 'n1')).toBe('/registry/minions/n1');
    expect(key('', 'services', 'default', 'svc')).toBe('/registry/services/specs/default/svc');
    expect(key('', 'endpoints', 'default', 'svc')).toBe('/registry/services/endpoints/default/svc');
    expect(key('', 'namespaces', undefined, 'kube-system')).toBe('/registry/namespaces/kube-system');
    expect(key('', 'configmaps', 'a', 'b')).toBe('/registry/configmaps/a/b');
    expect(key('', 'secrets', 'a', 'b')).toBe('/registry/secrets/a/b');
    expect(key('', 'events', 'a', 'b')).toBe('/registry/events/a/b');
    expect(key('', 'serviceaccounts', 'a', 'b')).toBe('/registry/serviceaccounts/a/b');
    expect(key('apps', 'deployments', 'default', 'web')).toBe('/registry/deployments/default/web');
    expect(key('apps', 'replicasets', 'default', 'web-1')).toBe('/registry/replicasets/default/web-1');
    expect(key('coordination.k8s.io', 'leases', 'kube-node-lease', 'n1')).toBe('/registry/leases/kube-node-lease/n1');
  });

  it('builds list prefixes and honours a custom prefix', () => {
    const pods = must(findResource('', 'v1', 'pods'));
    expect(etcdKey(pods, undefined, undefined)).toBe('/registry/pods/');
    expect(etcdKey(pods, 'ns1', undefined)).toBe('/registry/pods/ns1/');
    expect(etcdKey(pods, 'ns1', 'p', '/other/')).toBe('/other/pods/ns1/p');
    expect(() => etcdKey(pods, undefined, 'p')).toThrow(/namespace is required/);
    // Cluster-scoped resources ignore a namespace.
    expect(etcdKey(must(findResource('', 'v1', 'nodes')), 'x', 'n')).toBe('/registry/minions/n');
  });

  it('resolves kinds, short names and singular names', () => {
    expect(findByKind('Deployment')?.group).toBe('apps');
    expect(findByKind('Deployment', 'apps/v1')?.resource).toBe('deployments');
    expect(findByKind('Deployment', 'v1')).toBeUndefined();
    expect(findByKind('Lease', 'coordination.k8s.io/v1')?.etcdPrefix).toBe('leases');
    expect(findByAnyName('po')?.resource).toBe('pods');
    expect(findByAnyName('deploy')?.resource).toBe('deployments');
    expect(findByAnyName('svc')?.resource).toBe('services');
    expect(findByAnyName('Node')?.resource).toBe('nodes');
    expect(findByAnyName('endpoints')?.kind).toBe('Endpoints');
    expect(findByAnyName('nope')).toBeUndefined();
  });

  it('formats group-qualified names as kube error messages do', () => {
    const d = must(findResource('apps', 'v1', 'deployments'));
    const p = must(findResource('', 'v1', 'pods'));
    expect(qualifiedResource(d)).toBe('deployments.apps');
    expect(qualifiedResource(p)).toBe('pods');
    expect(qualifiedKind(d)).toBe('Deployment.apps');
    expect(qualifiedKind(p)).toBe('Pod');
    expect(apiVersionOf(d)).toBe('apps/v1');
    expect(apiVersionOf(p)).toBe('v1');
    expect(parseApiVersion('coordination.k8s.io/v1')).toEqual({ group: 'coordination.k8s.io', version: 'v1' });
    expect(parseApiVersion('v1')).toEqual({ group: '', version: 'v1' });
  });

  it('has unique resource names, kinds and short names', () => {
    const names = resourceCatalogue.map((r) => `${r.group}/${r.resource}`);
    expect(new Set(names).size).toBe(names.length);
    // A view (events.k8s.io/v1 events) repeats its storage's short names, as kube's discovery does.
    const shorts = storedResources.flatMap((r) => r.shortNames);
    expect(new Set(shorts).size).toBe(shorts.length);
    for (const view of resourceCatalogue.filter((r) => r.storedAs !== undefined)) {
      expect(view.shortNames).toEqual(storageOf(view).shortNames);
      expect(storageOf(view).etcdPrefix).toBe(view.etcdPrefix);
    }
    expect(storageOf(findResource('events.k8s.io', 'v1', 'events')!)).toBe(findResource('', 'v1', 'events'));
    expect(storedResources.some((r) => r.group === 'events.k8s.io')).toBe(false);
    expect(groupVersions()).toEqual([
      { group: '', version: 'v1' },
      { group: 'apps', version: 'v1' },
      { group: 'events.k8s.io', version: 'v1' },
      { group: 'coordination.k8s.io', version: 'v1' },
      { group: 'rbac.authorization.k8s.io', version: 'v1' },
      { group: 'authorization.k8s.io', version: 'v1' },
    ]);
    expect(Object.isFrozen(resourceCatalogue[0])).toBe(true);
  });
});
