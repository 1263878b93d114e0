// The RBAC objects an RBAC authorizer consults on every request, mirrored in memory from the
// watch cache. Until the mirrors have listed (at start, or after the cache reset), the built-in
// bootstrap policy answers, so the components' and the admin's rights never flap during start-up.

import type { Logger } from 'pino';

import type { JsonObject } from '../machinery/json.js';
import { findResource, type ResourceInfo } from '../machinery/resources.js';
import { ObjectMirror } from './object-mirror.js';
import type { ObjectStore } from './object-store.js';
import { bootstrapClusterRoleBindings, bootstrapClusterRoles } from './rbac-bootstrap-policy.js';
import type { RbacPolicySource } from './rbac-authorizer.js';
import type { WatchCache } from './watch-cache.js';

function rbacInfo(resource: string): ResourceInfo {
  const info = findResource('rbac.authorization.k8s.io', 'v1', resource);
  if (info === undefined) throw new Error(`${resource} missing from the resource catalogue`);
  return info;
}

export class RbacPolicyCache implements RbacPolicySource {
  private readonly roles: ObjectMirror;
  private readonly clusterRoles: ObjectMirror;
  private readonly bindings: ObjectMirror;
  private readonly clusterBindings: ObjectMirror;

  constructor(objects: ObjectStore, cache: WatchCache, log: Logger) {
    this.roles = new ObjectMirror(objects, cache, rbacInfo('roles'), log);
    this.clusterRoles = new ObjectMirror(objects, cache, rbacInfo('clusterroles'), log);
    this.bindings = new ObjectMirror(objects, cache, rbacInfo('rolebindings'), log);
    this.clusterBindings = new ObjectMirror(objects, cache, rbacInfo('clusterrolebindings'), log);
  }

  private get mirrors(): ObjectMirror[] {
    return [this.roles, this.clusterRoles, this.bindings, this.clusterBindings];
  }

  async start(): Promise<void> {
    for (const mirror of this.mirrors) await mirror.start();
  }

  stop(): void {
    for (const mirror of this.mirrors) mirror.stop();
  }

  private get synced(): boolean {
    return this.mirrors.every((m) => m.synced);
  }

  clusterRole(name: string): JsonObject | undefined {
    if (!this.synced) return bootstrapClusterRoles.find((r) => (r.metadata as { name: string }).name === name);
    return this.clusterRoles.get('', name);
  }

  role(namespace: string, name: string): JsonObject | undefined {
    return this.synced ? this.roles.get(namespace, name) : undefined;
  }

  clusterRoleBindings(): Iterable<JsonObject> {
    return this.synced ? this.clusterBindings.values() : bootstrapClusterRoleBindings;
  }

  roleBindings(namespace: string): Iterable<JsonObject> {
    return this.synced ? this.bindings.values(namespace) : [];
  }
}
