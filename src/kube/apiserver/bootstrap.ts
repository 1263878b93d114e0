// What every replica makes sure of at start, idempotently (any replica may be first; creates are
// Txn(MOD == 0), so concurrent replicas cannot create twice): the system namespaces, and the
// `kubernetes` Service on the first address of the service range, as kube-apiserver does.

import { cloneJson, type JsonObject } from '../machinery/json.js';
import { findResource, type ResourceInfo } from '../machinery/resources.js';
import type { ApiContext } from './api-context.js';
import { bootstrapClusterRoleBindings, bootstrapClusterRoles } from './rbac-bootstrap-policy.js';
import { createObject } from './rest-write.js';

export const systemNamespaces = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

function info(group: string, resource: string): ResourceInfo {
  const found = findResource(group, 'v1', resource);
  if (found === undefined) throw new Error(`resource ${resource} missing from the catalogue`);
  return found;
}

export async function ensure(ctx: ApiContext, resource: ResourceInfo, obj: JsonObject): Promise<void> {
  try {
    await createObject(ctx, resource, obj, false);
  } catch (error) {
    const reason = (error as { reason?: string }).reason;
    if (reason === 'AlreadyExists') return;
    // Another replica holds the kubernetes Service's IP and is creating it right now.
    if (reason === 'Invalid' && resource.kind === 'Service') {
      const meta = obj.metadata as JsonObject;
      if ((await ctx.objects.getMaybe(resource, String(meta.namespace), String(meta.name))) !== undefined) return;
    }
    throw error;
  }
}

export async function bootstrap(ctx: ApiContext, kubernetesServiceIp: string, apiserverPort: number): Promise<void> {
  const namespaces = info('', 'namespaces');
  for (const name of systemNamespaces) {
    await ensure(ctx, namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }
  await ensure(ctx, info('', 'services'), {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
    spec: {
      type: 'ClusterIP',
      clusterIP: kubernetesServiceIp,
      ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: apiserverPort }],
      sessionAffinity: 'None',
    },
  });
}

/** kube's RBAC bootstrap policy: the default ClusterRoles and ClusterRoleBindings, created when missing. */
export async function ensureRbacPolicy(ctx: ApiContext): Promise<void> {
  const roles = findResource('rbac.authorization.k8s.io', 'v1', 'clusterroles');
  const bindings = findResource('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings');
  if (roles === undefined || bindings === undefined) throw new Error('RBAC kinds missing from the catalogue');
  for (const role of bootstrapClusterRoles) await ensure(ctx, roles, cloneJson(role) as JsonObject);
  for (const binding of bootstrapClusterRoleBindings) await ensure(ctx, bindings, cloneJson(binding) as JsonObject);
}
