// Legacy discovery documents (/api, /apis, /apis/<group>, /api/v1, /apis/<group>/<version>), the
// only discovery kubectl 1.20 uses (REFERENCE.md C3). Shapes follow metav1.APIVersions,
// APIGroupList, APIGroup and APIResourceList as kube-apiserver serialises them.
import { createHash } from 'node:crypto';

import { groupVersions, resourceCatalogue, resourcesIn, type ResourceInfo, type Verb } from './resources.js';

export interface ServerAddressByClientCidr {
  clientCIDR: string;
  serverAddress: string;
}

export interface ApiVersions {
  kind: 'APIVersions';
  versions: string[];
  serverAddressByClientCIDRs: ServerAddressByClientCidr[];
}

export interface GroupVersionForDiscovery {
  groupVersion: string;
  version: string;
}

export interface ApiGroup {
  kind: 'APIGroup';
  apiVersion: 'v1';
  name: string;
  versions: GroupVersionForDiscovery[];
  preferredVersion: GroupVersionForDiscovery;
}

export interface ApiGroupList {
  kind: 'APIGroupList';
  apiVersion: 'v1';
  groups: Omit<ApiGroup, 'kind' | 'apiVersion'>[];
}

export interface ApiResource {
  name: string;
  singularName: string;
  namespaced: boolean;
  group?: string;
  version?: string;
  kind: string;
  verbs: Verb[];
  shortNames?: string[];
  categories?: string[];
  storageVersionHash?: string;
}

export interface ApiResourceList {
  kind: 'APIResourceList';
  apiVersion?: 'v1';
  groupVersion: string;
  resources: ApiResource[];
}

/**
 * kube's discovery.StorageVersionHash: base64 of the first 8 bytes of sha256("group/version/kind")
 * (k8s.io/apiserver endpoints/discovery/storageversionhash.go); "/v1/Pod" gives "xPOwRZ+Yhw8=",
 * the value real clusters report for pods.
 */
export function storageVersionHash(group: string, version: string, kind: string): string {
  return createHash('sha256').update(`${group}/${version}/${kind}`).digest().subarray(0, 8).toString('base64');
}

/** GET /api. `serverAddress` is host:port as the client reached us. */
export function apiVersions(serverAddress: string): ApiVersions {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function groupEntry(group: string): Omit<ApiGroup, 'kind' | 'apiVersion'> {
  const versions = groupVersions()
    .filter((gv) => gv.group === group)
    .map((gv) => ({ groupVersion: `${group}/${gv.version}`, version: gv.version }));
  const preferred = versions[0];
  if (preferred === undefined) throw new Error(`no versions for group ${group}`);
  return { name: group, versions, preferredVersion: preferred };
}

/** Named groups (everything but core), in catalogue order. */
export function apiGroupNames(): string[] {
  const names: string[] = [];
  for (const gv of groupVersions()) if (gv.group !== '' && !names.includes(gv.group)) names.push(gv.group);
  return names;
}

/** GET /apis. */
export function apiGroupList(): ApiGroupList {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: apiGroupNames().map(groupEntry) };
}

/** GET /apis/<group>; undefined when the group is not served (→ 404). */
export function apiGroup(group: string): ApiGroup | undefined {
  if (group === '' || !apiGroupNames().includes(group)) return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', ...groupEntry(group) };
}

function subresourceEntries(r: ResourceInfo): ApiResource[] {
  return r.subresources.map((sub): ApiResource => {
    const base = { name: `${r.resource}/${sub}`, singularName: '', namespaced: r.namespaced };
    switch (sub) {
      case 'status':
        return { ...base, kind: r.kind, verbs: ['get', 'patch', 'update'] };
      case 'scale':
        // client-go/scale finds the Scale kind through these three fields (REFERENCE.md C3).
        return { ...base, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] };
      case 'binding':
        return { ...base, kind: 'Binding', verbs: ['create'] };
    }
  });
}

function resourceEntry(r: ResourceInfo): ApiResource {
  const e: ApiResource = {
    name: r.resource,
    singularName: r.singularName,
    namespaced: r.namespaced,
    kind: r.kind,
    verbs: [...r.verbs],
  };
  if (r.shortNames.length > 0) e.shortNames = [...r.shortNames];
  if (r.categories.length > 0) e.categories = [...r.categories];
  // The hash names the stored version, so a view reports its storage's hash, as kube does.
  const stored = r.storedAs ?? r;
  e.storageVersionHash = storageVersionHash(stored.group, stored.version, r.kind);
  return e;
}

/**
 * GET /api/v1 (group '') or /apis/<group>/<version>; undefined when not served. Resources and
 * subresources sorted by name, as kube-apiserver lists them. Core's list has no apiVersion field
 * in kube's answer; the named groups' lists do.
 */
export function apiResourceList(group: string, version: string): ApiResourceList | undefined {
  const rs = resourcesIn(group, version);
  if (rs.length === 0) return undefined;
  const resources = rs.flatMap((r) => [resourceEntry(r), ...subresourceEntries(r)]);
  resources.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const groupVersion = group === '' ? version : `${group}/${version}`;
  return group === ''
    ? { kind: 'APIResourceList', groupVersion, resources }
    : { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
}

/** Every served resource list, for aggregated views and tests. */
export function allApiResourceLists(): ApiResourceList[] {
  return groupVersions().flatMap((gv) => {
    const l = apiResourceList(gv.group, gv.version);
    return l === undefined ? [] : [l];
  });
}

/** Quick membership check used by routers: is this (group, version, resource[/sub]) served? */
export function isServed(group: string, version: string, resource: string, subresource?: string): boolean {
  const r = resourceCatalogue.find((x) => x.group === group && x.version === version && x.resource === resource);
  if (r === undefined) return false;
  return subresource === undefined || (r.subresources as readonly string[]).includes(subresource);
}
