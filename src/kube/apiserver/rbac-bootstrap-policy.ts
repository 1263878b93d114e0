// The default ClusterRoles and ClusterRoleBindings kube-apiserver creates at start
// (plugin/pkg/auth/authorizer/rbac/bootstrappolicy), for the kinds Ketch serves: cluster-admin
// for system:masters, discovery and public info, the user-facing admin/edit/view, and the
// component identities: system:kube-scheduler, system:kube-controller-manager and system:node.
// Like kube, objects are created when missing and otherwise left alone (an admin may edit them).
//
// One difference: kube-controller-manager runs each controller under its own service account
// (--use-service-account-credentials) with a role per controller; Ketch's controller manager has
// one identity, so system:kube-controller-manager holds the union of what its controllers need.

import type { JsonObject } from '../machinery/json.js';
import type { PolicyRule } from './rbac-authorizer.js';

const readVerbs = ['get', 'list', 'watch'];
const writeVerbs = ['create', 'delete', 'deletecollection', 'patch', 'update'];
const core = '';
const apps = 'apps';
const coordination = 'coordination.k8s.io';
const eventsGroup = 'events.k8s.io';
const rbacGroup = 'rbac.authorization.k8s.io';
const authorizationGroup = 'authorization.k8s.io';

function rule(verbs: readonly string[], apiGroups: readonly string[], resources: readonly string[], resourceNames?: readonly string[]): PolicyRule {
  return resourceNames === undefined ? { verbs, apiGroups, resources } : { verbs, apiGroups, resources, resourceNames };
}

function urls(verbs: readonly string[], nonResourceURLs: readonly string[]): PolicyRule {
  return { verbs, nonResourceURLs };
}

const eventRules = [rule(['create', 'patch', 'update'], [core, eventsGroup], ['events'])];

/** What every kubelet may do (kube's NodeRules); the Node authorizer narrows it to the node's own objects. */
export const nodeRules: readonly PolicyRule[] = [
  rule(['create', 'get', 'list', 'watch'], [core], ['nodes']),
  rule(['patch', 'update'], [core], ['nodes/status']),
  rule(['patch', 'update', 'delete'], [core], ['nodes']),
  ...eventRules,
  rule(readVerbs, [core], ['pods']),
  rule(['create', 'delete'], [core], ['pods']),
  rule(['patch', 'update'], [core], ['pods/status']),
  rule(['create'], [core], ['pods/eviction']),
  rule(readVerbs, [core], ['services', 'endpoints']),
  rule(['get', 'create', 'update', 'patch', 'delete'], [coordination], ['leases']),
  rule(['create'], [authorizationGroup], ['subjectaccessreviews', 'localsubjectaccessreviews']),
];

const viewRules: PolicyRule[] = [
  rule(readVerbs, [core], ['pods', 'pods/status', 'services', 'services/status', 'endpoints', 'configmaps', 'events', 'serviceaccounts', 'namespaces', 'namespaces/status']),
  rule(readVerbs, [apps], ['deployments', 'deployments/status', 'deployments/scale', 'replicasets', 'replicasets/status', 'replicasets/scale']),
  rule(readVerbs, [coordination], ['leases']),
];

const editRules: PolicyRule[] = [
  rule([...readVerbs, ...writeVerbs], [core], ['pods', 'services', 'endpoints', 'configmaps', 'secrets', 'serviceaccounts', 'events']),
  rule([...readVerbs, ...writeVerbs], [apps], ['deployments', 'deployments/scale', 'replicasets', 'replicasets/scale']),
  rule([...readVerbs, ...writeVerbs], [coordination], ['leases']),
  ...viewRules,
];

const adminRules: PolicyRule[] = [
  ...editRules,
  rule([...readVerbs, ...writeVerbs], [rbacGroup], ['roles', 'rolebindings']),
  rule(['create'], [authorizationGroup], ['localsubjectaccessreviews']),
];

function clusterRole(name: string, rules: readonly PolicyRule[], aggregateTo?: string): JsonObject {
  const labels: Record<string, string> = { 'kubernetes.io/bootstrapping': 'rbac-defaults' };
  if (aggregateTo !== undefined) labels[`rbac.authorization.k8s.io/${aggregateTo}`] = 'true';
  return {
    apiVersion: `${rbacGroup}/v1`,
    kind: 'ClusterRole',
    metadata: { name, labels, annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' } },
    rules: rules.map((r) => ({ ...r })) as unknown as JsonObject[],
  };
}

function clusterRoleBinding(name: string, role: string, subjects: readonly { kind: 'User' | 'Group'; name: string }[]): JsonObject {
  const binding: JsonObject = {
    apiVersion: `${rbacGroup}/v1`,
    kind: 'ClusterRoleBinding',
    metadata: { name, labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' }, annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' } },
    roleRef: { apiGroup: rbacGroup, kind: 'ClusterRole', name: role },
  };
  if (subjects.length > 0) binding.subjects = subjects.map((s) => ({ apiGroup: rbacGroup, kind: s.kind, name: s.name }));
  return binding;
}

export const bootstrapClusterRoles: readonly JsonObject[] = [
  clusterRole('cluster-admin', [rule(['*'], ['*'], ['*']), urls(['*'], ['*'])]),
  clusterRole('system:discovery', [urls(['get'], ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*', '/readyz', '/version', '/version/'])]),
  clusterRole('system:public-info-viewer', [urls(['get'], ['/healthz', '/livez', '/readyz', '/version', '/version/'])]),
  clusterRole('system:basic-user', [rule(['create'], [authorizationGroup], ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'])]),
  clusterRole('system:monitoring', [urls(['get'], ['/healthz', '/healthz/*', '/livez', '/livez/*', '/metrics', '/readyz', '/readyz/*'])]),
  clusterRole('admin', adminRules, 'aggregate-to-admin'),
  clusterRole('edit', editRules, 'aggregate-to-edit'),
  clusterRole('view', viewRules, 'aggregate-to-view'),
  clusterRole('system:kube-scheduler', [
    ...eventRules,
    rule(['create'], [coordination], ['leases']),
    rule(['get', 'update'], [coordination], ['leases'], ['kube-scheduler']),
    rule(readVerbs, [core], ['nodes']),
    rule(['delete', ...readVerbs], [core], ['pods']),
    rule(['create'], [core], ['bindings', 'pods/binding']),
    rule(['patch', 'update'], [core], ['pods/status']),
    rule(readVerbs, [core], ['services', 'namespaces']),
    rule(readVerbs, [apps], ['replicasets']),
    rule(['create'], [authorizationGroup], ['subjectaccessreviews']),
  ]),
  clusterRole('system:kube-controller-manager', [
    // The garbage collector and the namespace controller read and remove objects of every kind.
    rule([...readVerbs, 'delete', 'deletecollection', 'patch', 'update'], ['*'], ['*']),
    rule(['create'], [core], ['pods', 'endpoints', 'events']),
    rule(['create'], [apps], ['replicasets']),
    rule(['create'], [eventsGroup], ['events']),
    rule(['create'], [coordination], ['leases']),
    rule(['create'], [authorizationGroup], ['subjectaccessreviews']),
  ]),
  clusterRole('system:node', nodeRules),
];

export const bootstrapClusterRoleBindings: readonly JsonObject[] = [
  clusterRoleBinding('cluster-admin', 'cluster-admin', [{ kind: 'Group', name: 'system:masters' }]),
  clusterRoleBinding('system:discovery', 'system:discovery', [{ kind: 'Group', name: 'system:authenticated' }]),
  clusterRoleBinding('system:public-info-viewer', 'system:public-info-viewer', [
    { kind: 'Group', name: 'system:authenticated' },
    { kind: 'Group', name: 'system:unauthenticated' },
  ]),
  clusterRoleBinding('system:basic-user', 'system:basic-user', [{ kind: 'Group', name: 'system:authenticated' }]),
  clusterRoleBinding('system:monitoring', 'system:monitoring', [{ kind: 'Group', name: 'system:monitoring' }]),
  clusterRoleBinding('system:kube-scheduler', 'system:kube-scheduler', [{ kind: 'User', name: 'system:kube-scheduler' }]),
  clusterRoleBinding('system:kube-controller-manager', 'system:kube-controller-manager', [{ kind: 'User', name: 'system:kube-controller-manager' }]),
  // As in kube: no subjects; kubelets get their rights from the Node authorizer.
  clusterRoleBinding('system:node', 'system:node', []),
  // A process simulating many nodes (ketch-kubelet --nodes N) speaks for all of them with one identity.
  clusterRoleBinding('ketch:kubelet-pool', 'system:node', [{ kind: 'User', name: 'ketch:kubelet-pool' }]),
];
