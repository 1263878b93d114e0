// Which collection a request addresses, and the URL path kube-apiserver serves it at. The fields
// are a subset of the machinery catalogue's ResourceInfo, so catalogue entries can be passed too.

export interface ResourceRef {
  /** '' for the legacy core group. */
  readonly group: string;
  readonly version: string;
  /** Plural, lower case, as in URLs. */
  readonly resource: string;
  readonly namespaced: boolean;
  /** Kind of the objects (used for ownerReferences and events). */
  readonly kind: string;
}

function ref(group: string, version: string, resource: string, kind: string, namespaced: boolean): ResourceRef {
  return Object.freeze({ group, version, resource, kind, namespaced });
}

export const PODS = ref('', 'v1', 'pods', 'Pod', true);
export const NODES = ref('', 'v1', 'nodes', 'Node', false);
export const NAMESPACES = ref('', 'v1', 'namespaces', 'Namespace', false);
export const SERVICES = ref('', 'v1', 'services', 'Service', true);
export const ENDPOINTS = ref('', 'v1', 'endpoints', 'Endpoints', true);
export const EVENTS = ref('', 'v1', 'events', 'Event', true);
export const CONFIGMAPS = ref('', 'v1', 'configmaps', 'ConfigMap', true);
export const SECRETS = ref('', 'v1', 'secrets', 'Secret', true);
export const SERVICEACCOUNTS = ref('', 'v1', 'serviceaccounts', 'ServiceAccount', true);
export const DEPLOYMENTS = ref('apps', 'v1', 'deployments', 'Deployment', true);
export const REPLICASETS = ref('apps', 'v1', 'replicasets', 'ReplicaSet', true);
export const LEASES = ref('coordination.k8s.io', 'v1', 'leases', 'Lease', true);

/** "v1" for core, "apps/v1" otherwise. */
export function apiVersionOf(r: Pick<ResourceRef, 'group' | 'version'>): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

/**
 * `/api/v1/namespaces/ns/pods/name/status`. A namespaced resource without a namespace addresses
 * every namespace (lists and watches only).
 */
export function resourcePath(r: ResourceRef, namespace?: string, name?: string, subresource?: string): string {
  let path = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  if (r.namespaced && namespace !== undefined && namespace !== '') path += `/namespaces/${encodeURIComponent(namespace)}`;
  else if (r.namespaced && name !== undefined) throw new Error(`${r.resource} is namespaced: a namespace is required to address "${name}"`);
  path += `/${r.resource}`;
  if (name !== undefined) {
    if (name === '') throw new Error(`${r.resource}: empty object name`);
    path += `/${encodeURIComponent(name)}`;
  }
  if (subresource !== undefined) {
    if (name === undefined) throw new Error(`${r.resource}/${subresource}: a subresource needs an object name`);
    path += `/${subresource}`;
  }
  return path;
}
