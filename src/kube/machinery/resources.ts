// The catalogue of resources ketch-apiserver serves: names, kinds, scope, verbs, subresources and
// the /registry key segment, as kube-apiserver lays them out (REFERENCE.md B; kubernetes
// test/integration/etcd/data.go). Discovery, storage and handlers all read this one table.

export type Verb = 'create' | 'delete' | 'deletecollection' | 'get' | 'list' | 'patch' | 'update' | 'watch';
export type Subresource = 'status' | 'scale' | 'binding';

export interface ResourceInfo {
  /** API group; '' for the legacy core group. */
  readonly group: string;
  readonly version: string;
  /** Plural lower-case resource name, as in URLs. */
  readonly resource: string;
  readonly kind: string;
  readonly listKind: string;
  readonly singularName: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  readonly verbs: readonly Verb[];
  readonly subresources: readonly Subresource[];
  /** The key segment under /registry, e.g. 'minions' for nodes, 'services/specs' for services. */
  readonly etcdPrefix: string;
  /**
   * Set when this resource is another version's view of objects stored as `storedAs` (kube's
   * storage version): events.k8s.io/v1 Events are core/v1 Events under /registry/events.
   * Handlers read and write the stored form and convert at the edge (see conversion.ts).
   */
  readonly storedAs?: { readonly group: string; readonly version: string };
}

const ALL_VERBS: readonly Verb[] = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
// kube-apiserver has no deletecollection for namespaces (pkg/registry/core/namespace/storage).
const NAMESPACE_VERBS: readonly Verb[] = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

function res(r: Omit<ResourceInfo, 'listKind' | 'singularName' | 'verbs' | 'categories' | 'shortNames' | 'subresources'> &
  Partial<Pick<ResourceInfo, 'verbs' | 'categories' | 'shortNames' | 'subresources'>>): ResourceInfo {
  return Object.freeze({
    ...(r.storedAs === undefined ? {} : { storedAs: Object.freeze({ ...r.storedAs }) }),
    group: r.group,
    version: r.version,
    resource: r.resource,
    kind: r.kind,
    listKind: `${r.kind}List`,
    singularName: r.kind.toLowerCase(),
    namespaced: r.namespaced,
    shortNames: Object.freeze([...(r.shortNames ?? [])]),
    categories: Object.freeze([...(r.categories ?? [])]),
    verbs: Object.freeze([...(r.verbs ?? ALL_VERBS)]),
    subresources: Object.freeze([...(r.subresources ?? [])]),
    etcdPrefix: r.etcdPrefix,
  });
}

/** Short names and categories as kube-apiserver 1.20+ reports them in discovery. */
export const resourceCatalogue: readonly ResourceInfo[] = Object.freeze([
  res({ group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace', namespaced: false, shortNames: ['ns'], verbs: NAMESPACE_VERBS, subresources: ['status'], etcdPrefix: 'namespaces' }),
  res({ group: '', version: 'v1', resource: 'pods', kind: 'Pod', namespaced: true, shortNames: ['po'], categories: ['all'], subresources: ['status', 'binding'], etcdPrefix: 'pods' }),
  res({ group: '', version: 'v1', resource: 'nodes', kind: 'Node', namespaced: false, shortNames: ['no'], subresources: ['status'], etcdPrefix: 'minions' }),
  res({ group: '', version: 'v1', resource: 'services', kind: 'Service', namespaced: true, shortNames: ['svc'], categories: ['all'], subresources: ['status'], etcdPrefix: 'services/specs' }),
  res({ group: '', version: 'v1', resource: 'endpoints', kind: 'Endpoints', namespaced: true, shortNames: ['ep'], etcdPrefix: 'services/endpoints' }),
  res({ group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', namespaced: true, shortNames: ['cm'], etcdPrefix: 'configmaps' }),
  res({ group: '', version: 'v1', resource: 'secrets', kind: 'Secret', namespaced: true, etcdPrefix: 'secrets' }),
  res({ group: '', version: 'v1', resource: 'events', kind: 'Event', namespaced: true, shortNames: ['ev'], etcdPrefix: 'events' }),
  res({ group: '', version: 'v1', resource: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true, shortNames: ['sa'], etcdPrefix: 'serviceaccounts' }),
  res({ group: 'apps', version: 'v1', resource: 'deployments', kind: 'Deployment', namespaced: true, shortNames: ['deploy'], categories: ['all'], subresources: ['status', 'scale'], etcdPrefix: 'deployments' }),
  res({ group: 'apps', version: 'v1', resource: 'replicasets', kind: 'ReplicaSet', namespaced: true, shortNames: ['rs'], categories: ['all'], subresources: ['status', 'scale'], etcdPrefix: 'replicasets' }),
  // The same stored Events through the newer API (kube serves both from one storage).
  res({ group: 'events.k8s.io', version: 'v1', resource: 'events', kind: 'Event', namespaced: true, shortNames: ['ev'], etcdPrefix: 'events', storedAs: { group: '', version: 'v1' } }),
  res({ group: 'coordination.k8s.io', version: 'v1', resource: 'leases', kind: 'Lease', namespaced: true, etcdPrefix: 'leases' }),
  res({ group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterrolebindings', kind: 'ClusterRoleBinding', namespaced: false, etcdPrefix: 'clusterrolebindings' }),
  res({ group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterroles', kind: 'ClusterRole', namespaced: false, etcdPrefix: 'clusterroles' }),
  res({ group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'rolebindings', kind: 'RoleBinding', namespaced: true, etcdPrefix: 'rolebindings' }),
  res({ group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'roles', kind: 'Role', namespaced: true, etcdPrefix: 'roles' }),
  // Reviews are answered, never stored (etcdPrefix unused).
  res({ group: 'authorization.k8s.io', version: 'v1', resource: 'selfsubjectaccessreviews', kind: 'SelfSubjectAccessReview', namespaced: false, verbs: ['create'], etcdPrefix: '' }),
  res({ group: 'authorization.k8s.io', version: 'v1', resource: 'subjectaccessreviews', kind: 'SubjectAccessReview', namespaced: false, verbs: ['create'], etcdPrefix: '' }),
]);

/**
 * The resources that own their keys (views left out): what code walking every stored resource
 * (namespace cleanup, encryption prefixes) iterates, so a view's objects are not visited twice.
 */
export const storedResources: readonly ResourceInfo[] = Object.freeze(resourceCatalogue.filter((r) => r.storedAs === undefined));

/** The resource whose form is stored for `info`: itself, or for a view the stored version's entry. */
export function storageOf(info: ResourceInfo): ResourceInfo {
  const stored = info.storedAs;
  if (stored === undefined) return info;
  const found = findResource(stored.group, stored.version, info.resource);
  if (found === undefined) throw new Error(`${info.resource}.${info.group}: stored version ${stored.group}/${stored.version} is not served`);
  return found;
}

/** "v1" for core, "apps/v1" otherwise: the apiVersion field of objects of this resource. */
export function apiVersionOf(info: Pick<ResourceInfo, 'group' | 'version'>): string {
  return info.group === '' ? info.version : `${info.group}/${info.version}`;
}

/** kube's GroupResource.String(): "pods", "deployments.apps" (used in error messages). */
export function qualifiedResource(info: Pick<ResourceInfo, 'group' | 'resource'>): string {
  return info.group === '' ? info.resource : `${info.resource}.${info.group}`;
}

/** kube's GroupKind.String(): "Pod", "Deployment.apps" (used in Invalid messages). */
export function qualifiedKind(info: Pick<ResourceInfo, 'group' | 'kind'>): string {
  return info.group === '' ? info.kind : `${info.kind}.${info.group}`;
}

/** Split "apps/v1" into group and version ("v1" is core). */
export function parseApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

export function findResource(group: string, version: string, resource: string): ResourceInfo | undefined {
  return resourceCatalogue.find((r) => r.group === group && r.version === version && r.resource === resource);
}

/** By kind, optionally restricted to an apiVersion ("v1", "apps/v1"). */
export function findByKind(kind: string, apiVersion?: string): ResourceInfo | undefined {
  const gv = apiVersion === undefined ? undefined : parseApiVersion(apiVersion);
  return resourceCatalogue.find((r) => r.kind === kind && (gv === undefined || (r.group === gv.group && r.version === gv.version)));
}

/** Resolve what a user may type (plural, singular, short name, kind), as kubectl's RESTMapper would. */
export function findByAnyName(name: string): ResourceInfo | undefined {
  const n = name.toLowerCase();
  return resourceCatalogue.find(
    (r) => r.resource === n || r.singularName === n || r.shortNames.includes(n) || r.kind.toLowerCase() === n,
  );
}

/** Every (group, version) pair served, in discovery order (core first). */
export function groupVersions(): { group: string; version: string }[] {
  const out: { group: string; version: string }[] = [];
  for (const r of resourceCatalogue) {
    if (!out.some((gv) => gv.group === r.group && gv.version === r.version)) out.push({ group: r.group, version: r.version });
  }
  return out;
}

export function resourcesIn(group: string, version: string): ResourceInfo[] {
  return resourceCatalogue.filter((r) => r.group === group && r.version === version);
}

/**
 * The store key of one object, `/registry/pods/<ns>/<name>` or `/registry/minions/<name>`; with
 * name omitted, the prefix (ending in '/') that lists a namespace or, with namespace omitted too,
 * every object of the resource.
 */
export function etcdKey(info: ResourceInfo, namespace: string | undefined, name: string | undefined, prefix = '/registry'): string {
  let key = `${prefix.replace(/\/+$/, '')}/${info.etcdPrefix}/`;
  if (info.namespaced && namespace !== undefined && namespace !== '') {
    key += `${namespace}/`;
  } else if (info.namespaced && name !== undefined) {
    throw new Error(`etcdKey: ${info.resource} is namespaced, a namespace is required with a name`);
  }
  if (name !== undefined) key += name;
  return key;
}
