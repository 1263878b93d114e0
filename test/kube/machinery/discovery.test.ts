// Discovery documents compared with what kube-apiserver 1.20 serves (REFERENCE.md C3; shapes of
// metav1.APIVersions / APIGroupList / APIResourceList; values as `kubectl get --raw /api/v1`
// shows them on a real cluster).
import { describe, expect, it } from 'vitest';

import {
  allApiResourceLists,
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  isServed,
  storageVersionHash,
  type ApiResource,
} from '../../../src/kube/machinery/discovery.js';

function entry(group: string, version: string, name: string): ApiResource {
  const list = apiResourceList(group, version);
  const e = list?.resources.find((r) => r.name === name);
  if (e === undefined) throw new Error(`no ${name} in ${group}/${version}`);
  return e;
}

describe('discovery', () => {
  it('/api lists v1 with the client address', () => {
    expect(apiVersions('127.0.0.1:8080')).toEqual({
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1:8080' }],
    });
  });

  it('/apis lists named groups with a preferred version', () => {
    const l = apiGroupList();
    expect(l.kind).toBe('APIGroupList');
    expect(l.apiVersion).toBe('v1');
    expect(l.groups.map((g) => g.name)).toEqual(['apps', 'events.k8s.io', 'coordination.k8s.io', 'rbac.authorization.k8s.io', 'authorization.k8s.io']);
    expect(l.groups[0]).toEqual({
      name: 'apps',
      versions: [{ groupVersion: 'apps/v1', version: 'v1' }],
      preferredVersion: { groupVersion: 'apps/v1', version: 'v1' },
    });
    expect(apiGroup('apps')?.kind).toBe('APIGroup');
    expect(apiGroup('batch')).toBeUndefined();
    expect(apiGroup('')).toBeUndefined();
  });

  it('core resource list matches kube: no apiVersion, sorted, short names, categories', () => {
    const l = apiResourceList('', 'v1');
    expect(l?.groupVersion).toBe('v1');
    expect(l && 'apiVersion' in l).toBe(false);
    const names = l?.resources.map((r) => r.name) ?? [];
    expect(names).toEqual([...names].sort());
    expect(entry('', 'v1', 'pods')).toEqual({
      name: 'pods',
      singularName: 'pod',
      namespaced: true,
      kind: 'Pod',
      verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
      shortNames: ['po'],
      categories: ['all'],
      storageVersionHash: 'xPOwRZ+Yhw8=',
    });
    expect(entry('', 'v1', 'pods/status')).toEqual({
      name: 'pods/status', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get', 'patch', 'update'],
    });
    expect(entry('', 'v1', 'pods/binding')).toEqual({
      name: 'pods/binding', singularName: '', namespaced: true, kind: 'Binding', verbs: ['create'],
    });
    expect(entry('', 'v1', 'nodes').namespaced).toBe(false);
    expect(entry('', 'v1', 'nodes').shortNames).toEqual(['no']);
    expect(entry('', 'v1', 'nodes').categories).toBeUndefined();
    expect(entry('', 'v1', 'namespaces').verbs).not.toContain('deletecollection');
    expect(entry('', 'v1', 'services').categories).toEqual(['all']);
    expect(entry('', 'v1', 'secrets').shortNames).toBeUndefined();
    const shorts = Object.fromEntries((l?.resources ?? []).filter((r) => r.shortNames).map((r) => [r.name, r.shortNames]));
    expect(shorts).toEqual({
      configmaps: ['cm'], endpoints: ['ep'], events: ['ev'], namespaces: ['ns'], nodes: ['no'], pods: ['po'],
      serviceaccounts: ['sa'], services: ['svc'],
    });
  });

  it('apps scale subresources carry autoscaling/v1 Scale (client-go/scale needs them)', () => {
    const l = apiResourceList('apps', 'v1');
    expect(l?.apiVersion).toBe('v1');
    expect(l?.groupVersion).toBe('apps/v1');
    for (const r of ['deployments', 'replicasets']) {
      expect(entry('apps', 'v1', `${r}/scale`)).toEqual({
        name: `${r}/scale`, singularName: '', namespaced: true, group: 'autoscaling', version: 'v1', kind: 'Scale',
        verbs: ['get', 'patch', 'update'],
      });
    }
    expect(entry('apps', 'v1', 'deployments').shortNames).toEqual(['deploy']);
    expect(entry('apps', 'v1', 'replicasets').shortNames).toEqual(['rs']);
    expect(entry('apps', 'v1', 'deployments').storageVersionHash).toBe(storageVersionHash('apps', 'v1', 'Deployment'));
    expect(entry('coordination.k8s.io', 'v1', 'leases').shortNames).toBeUndefined();
    expect(apiResourceList('apps', 'v2')).toBeUndefined();
    // The view of core Events reports the core storage hash ("/v1/Event"), as kube does.
    expect(entry('events.k8s.io', 'v1', 'events').storageVersionHash).toBe(entry('', 'v1', 'events').storageVersionHash);
    expect(allApiResourceLists()).toHaveLength(6);
  });

  it('answers served checks for resources and subresources', () => {
    expect(isServed('', 'v1', 'pods')).toBe(true);
    expect(isServed('', 'v1', 'pods', 'binding')).toBe(true);
    expect(isServed('', 'v1', 'pods', 'scale')).toBe(false);
    expect(isServed('apps', 'v1', 'deployments', 'scale')).toBe(true);
    expect(isServed('apps', 'v1', 'statefulsets')).toBe(false);
  });
});
