// RBAC privilege escalation prevention on its own (no processes): who may write which Role,
// ClusterRole, RoleBinding and ClusterRoleBinding, and kube's exact 403 and 404 answers.

import type { IncomingMessage, ServerResponse } from 'node:http';

import { describe, expect, it } from 'vitest';

import type { ApiRequest } from '../../../src/kube/apiserver/api-context.js';
import { PrivilegedGroups, UnionAuthorizer } from '../../../src/kube/apiserver/authorization.js';
import type { ObjectStore } from '../../../src/kube/apiserver/object-store.js';
import { RbacAuthorizer, type RbacPolicySource } from '../../../src/kube/apiserver/rbac-authorizer.js';
import { confirmNoEscalation, isOnlyMutatingGcFields, RbacEscalationCheck } from '../../../src/kube/apiserver/rbac-escalation.js';
import type { RequestVerb } from '../../../src/kube/apiserver/request-info.js';
import type { UserInfo } from '../../../src/kube/apiserver/user-info.js';
import type { JsonObject } from '../../../src/kube/machinery/json.js';
import { findResource } from '../../../src/kube/machinery/resources.js';
import type { KubeStatusError } from '../../../src/kube/machinery/status.js';

const g = 'rbac.authorization.k8s.io';
const bob: UserInfo = { name: 'bob', uid: '', groups: ['devs', 'system:authenticated'] };
const admin: UserInfo = { name: 'root', uid: '', groups: ['system:masters', 'system:authenticated'] };

type Rule = { verbs: string[]; apiGroups?: string[]; resources?: string[]; resourceNames?: string[]; nonResourceURLs?: string[] };
const role = (kind: 'Role' | 'ClusterRole', name: string, rules: Rule[], namespace?: string): JsonObject => ({
  apiVersion: `${g}/v1`,
  kind,
  metadata: { name, ...(namespace === undefined ? {} : { namespace }) },
  rules: rules as unknown as JsonObject[],
});
const binding = (kind: 'RoleBinding' | 'ClusterRoleBinding', name: string, roleKind: string, roleName: string, subject: JsonObject, namespace?: string): JsonObject => ({
  apiVersion: `${g}/v1`,
  kind,
  metadata: { name, ...(namespace === undefined ? {} : { namespace }) },
  roleRef: { apiGroup: g, kind: roleKind, name: roleName },
  subjects: [subject],
});
const userSubject = (name: string): JsonObject => ({ kind: 'User', apiGroup: g, name });

/** A fixed policy: bob may get/list/create pods and manage roles and rolebindings in "team"; view is a cluster role. */
function fixture(extra: { roles?: JsonObject[]; clusterRoles?: JsonObject[]; bindings?: JsonObject[]; clusterBindings?: JsonObject[] } = {}) {
  const roles = [
    role('Role', 'pod-worker', [
      { verbs: ['get', 'list', 'create'], apiGroups: [''], resources: ['pods'] },
      { verbs: ['get', 'update'], apiGroups: [''], resources: ['pods/status'] },
      { verbs: ['get'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['app-config'] },
      // As kube's admin role: the write verbs, not escalate or bind.
      { verbs: ['get', 'list', 'create', 'update', 'patch', 'delete'], apiGroups: [g], resources: ['roles', 'rolebindings'] },
    ], 'team'),
    ...(extra.roles ?? []),
  ];
  const clusterRoles = [
    role('ClusterRole', 'view', [{ verbs: ['get', 'list', 'watch'], apiGroups: ['', 'apps'], resources: ['pods', 'deployments'] }]),
    role('ClusterRole', 'pod-deleter', [{ verbs: ['delete'], apiGroups: [''], resources: ['pods'] }]),
    role('ClusterRole', 'metrics-reader', [{ verbs: ['get'], nonResourceURLs: ['/metrics'] }]),
    role('ClusterRole', 'cluster-admin', [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, { verbs: ['*'], nonResourceURLs: ['*'] }]),
    ...(extra.clusterRoles ?? []),
  ];
  const bindings = [binding('RoleBinding', 'bob-worker', 'Role', 'pod-worker', { kind: 'Group', apiGroup: g, name: 'devs' }, 'team'), ...(extra.bindings ?? [])];
  const clusterBindings = extra.clusterBindings ?? [];
  const ns = (o: JsonObject): string => String((o.metadata as JsonObject).namespace ?? '');
  const nm = (o: JsonObject): string => String((o.metadata as JsonObject).name);
  const policy: RbacPolicySource = {
    clusterRole: (name) => clusterRoles.find((r) => nm(r) === name),
    role: (namespace, name) => roles.find((r) => ns(r) === namespace && nm(r) === name),
    clusterRoleBindings: () => clusterBindings,
    roleBindings: (namespace) => bindings.filter((b) => ns(b) === namespace),
  };
  const objects = {
    getMaybe: async (info: { kind: string }, namespace: string | undefined, name: string): Promise<JsonObject | undefined> =>
      info.kind === 'Role' ? policy.role(namespace ?? '', name) : policy.clusterRole(name),
  } as unknown as ObjectStore;
  const check = new RbacEscalationCheck(policy, new UnionAuthorizer([new PrivilegedGroups(), new RbacAuthorizer(policy)]), objects);
  return { policy, check };
}

function request(resource: string, verb: RequestVerb, user: UserInfo | undefined, namespace: string, name = ''): ApiRequest {
  const info = findResource(g, 'v1', resource);
  if (info === undefined) throw new Error(resource);
  return {
    info,
    view: info,
    target: { group: g, version: 'v1', namespace, resource, name, subresource: '', verb },
    verb,
    query: new URLSearchParams(),
    http: {} as IncomingMessage,
    res: {} as ServerResponse,
    ...(user === undefined ? {} : { user }),
  };
}

async function refusal(p: Promise<void>): Promise<{ code: number; reason: string; message: string; details: unknown }> {
  try {
    await p;
  } catch (error) {
    const s = (error as KubeStatusError).status;
    return { code: s.code, reason: s.reason ?? '', message: s.message ?? '', details: s.details };
  }
  throw new Error('expected a refusal');
}

describe('Role and ClusterRole writes', () => {
  it('allows a Role within the rights held in its namespace (resource, subresource, named object)', async () => {
    const { check } = fixture();
    const r = role('Role', 'small', [
      { verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] },
      { verbs: ['update'], apiGroups: [''], resources: ['pods/status'] },
      { verbs: ['get'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['app-config'] },
    ], 'team');
    await expect(check.admit(request('roles', 'create', bob, 'team'), r, undefined)).resolves.toBeUndefined();
  });

  it("refuses a Role with a verb not held, in kube's words", async () => {
    const { check } = fixture();
    const r = role('Role', 'big', [{ verbs: ['get', 'delete'], apiGroups: [''], resources: ['pods'] }], 'team');
    expect(await refusal(check.admit(request('roles', 'create', bob, 'team'), r, undefined))).toEqual({
      code: 403,
      reason: 'Forbidden',
      message: 'roles.rbac.authorization.k8s.io "big" is forbidden: user "bob" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}',
      details: { name: 'big', group: g, kind: 'roles' },
    });
  });

  it('refuses the same Role in a namespace where the rights are not held', async () => {
    const { check } = fixture();
    const r = role('Role', 'small', [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }], 'elsewhere');
    expect((await refusal(check.admit(request('roles', 'create', bob, 'elsewhere'), r, undefined))).message).toBe(
      'roles.rbac.authorization.k8s.io "small" is forbidden: user "bob" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["pods"], Verbs:["get"]}',
    );
  });

  it('refuses all names when one name is held, another subresource, and a wildcard; lists every missing rule sorted', async () => {
    const { check } = fixture();
    const r = role('Role', 'sneaky', [
      { verbs: ['get'], apiGroups: [''], resources: ['configmaps'] },
      { verbs: ['get'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['app-config', 'other'] },
      { verbs: ['get'], apiGroups: [''], resources: ['pods/log'] },
      { verbs: ['*'], apiGroups: [''], resources: ['pods'] },
    ], 'team');
    expect((await refusal(check.admit(request('roles', 'create', bob, 'team'), r, undefined))).message).toBe(
      'roles.rbac.authorization.k8s.io "sneaky" is forbidden: user "bob" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n' +
        '{APIGroups:[""], Resources:["configmaps"], ResourceNames:["other"], Verbs:["get"]}\n' +
        '{APIGroups:[""], Resources:["configmaps"], Verbs:["get"]}\n' +
        '{APIGroups:[""], Resources:["pods"], Verbs:["*"]}\n' +
        '{APIGroups:[""], Resources:["pods/log"], Verbs:["get"]}',
    );
  });

  it('a ClusterRole is checked against cluster-wide rights only (RoleBindings do not count)', async () => {
    const { check } = fixture();
    const cr = role('ClusterRole', 'mine', [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }]);
    expect((await refusal(check.admit(request('clusterroles', 'create', bob, ''), cr, undefined))).message).toBe(
      'clusterroles.rbac.authorization.k8s.io "mine" is forbidden: user "bob" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["pods"], Verbs:["get"]}',
    );
    const withView = fixture({ clusterBindings: [binding('ClusterRoleBinding', 'bob-view', 'ClusterRole', 'view', userSubject('bob'))] });
    await expect(withView.check.admit(request('clusterroles', 'create', bob, ''), cr, undefined)).resolves.toBeUndefined();
    const urls = role('ClusterRole', 'urls', [{ verbs: ['get'], nonResourceURLs: ['/metrics', '/logs/*'] }]);
    expect((await refusal(withView.check.admit(request('clusterroles', 'create', bob, ''), urls, undefined))).message).toContain(
      'not currently held:\n{NonResourceURLs:["/logs/*"], Verbs:["get"]}\n{NonResourceURLs:["/metrics"], Verbs:["get"]}',
    );
  });

  it('`escalate` on roles in the namespace (or on that name for an update) lifts the check', async () => {
    const escalator = role('Role', 'escalator', [{ verbs: ['escalate'], apiGroups: [g], resources: ['roles'] }], 'team');
    const { check } = fixture({ roles: [escalator], bindings: [binding('RoleBinding', 'esc', 'Role', 'escalator', userSubject('bob'), 'team')] });
    const big = role('Role', 'big', [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }], 'team');
    await expect(check.admit(request('roles', 'create', bob, 'team'), big, undefined)).resolves.toBeUndefined();
    // Not in another namespace.
    expect((await refusal(check.admit(request('roles', 'create', bob, 'other'), { ...big, metadata: { name: 'big', namespace: 'other' } }, undefined))).code).toBe(403);
    // Named escalate: an update of that role, not a create (a create's request has no name).
    const named = role('Role', 'named-esc', [{ verbs: ['escalate'], apiGroups: [g], resources: ['roles'], resourceNames: ['big'] }], 'team');
    const n = fixture({ roles: [named], bindings: [binding('RoleBinding', 'esc', 'Role', 'named-esc', userSubject('bob'), 'team')] });
    const old = role('Role', 'big', [], 'team');
    await expect(n.check.admit(request('roles', 'update', bob, 'team', 'big'), big, old)).resolves.toBeUndefined();
    expect((await refusal(n.check.admit(request('roles', 'create', bob, 'team'), big, undefined))).code).toBe(403);
    expect((await refusal(n.check.admit(request('roles', 'update', bob, 'team', 'other'), { ...big, metadata: { name: 'other', namespace: 'team' } }, old))).code).toBe(403);
  });

  it('system:masters and internal writes (no user) are never checked', async () => {
    const { check } = fixture();
    const big = role('ClusterRole', 'big', [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }]);
    await expect(check.admit(request('clusterroles', 'create', admin, ''), big, undefined)).resolves.toBeUndefined();
    await expect(check.admit(request('clusterroles', 'create', undefined, ''), big, undefined)).resolves.toBeUndefined();
  });

  it('an update is checked on its new rules; changing only finalizers or ownerReferences is not', async () => {
    const { check } = fixture();
    const old = role('Role', 'big', [{ verbs: ['delete'], apiGroups: [''], resources: ['pods'] }], 'team');
    (old.metadata as JsonObject).resourceVersion = '5';
    const gcOnly = structuredClone(old);
    (gcOnly.metadata as JsonObject).finalizers = ['x/y'];
    (gcOnly.metadata as JsonObject).ownerReferences = [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'o', uid: 'u' }];
    expect(isOnlyMutatingGcFields(gcOnly, old)).toBe(true);
    await expect(check.admit(request('roles', 'update', bob, 'team', 'big'), gcOnly, old)).resolves.toBeUndefined();
    const labelled = structuredClone(old);
    (labelled.metadata as JsonObject).labels = { a: 'b' };
    expect(isOnlyMutatingGcFields(labelled, old)).toBe(false);
    expect((await refusal(check.admit(request('roles', 'update', bob, 'team', 'big'), labelled, old))).code).toBe(403);
  });

  it('an aggregationRule needs full authority, as in kube', async () => {
    const escalator = role('ClusterRole', 'esc', [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }]);
    const { check } = fixture({ clusterRoles: [escalator], clusterBindings: [binding('ClusterRoleBinding', 'e', 'ClusterRole', 'esc', userSubject('bob'))] });
    const agg: JsonObject = { ...role('ClusterRole', 'agg', []), aggregationRule: { clusterRoleSelectors: [{ matchLabels: { a: 'b' } }] } };
    expect((await refusal(check.admit(request('clusterroles', 'create', bob, ''), agg, undefined))).message).toBe(
      'clusterroles.rbac.authorization.k8s.io "agg" is forbidden: must have cluster-admin privileges to use the aggregationRule',
    );
  });
});

describe('RoleBinding and ClusterRoleBinding writes', () => {
  it('allows binding a role whose rules are all held in the namespace (a Role or a ClusterRole)', async () => {
    const small = role('Role', 'small', [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }], 'team');
    const { check } = fixture({ roles: [small] });
    await expect(check.admit(request('rolebindings', 'create', bob, 'team'), binding('RoleBinding', 'b', 'Role', 'small', userSubject('eve'), 'team'), undefined)).resolves.toBeUndefined();
    await expect(check.admit(request('rolebindings', 'create', bob, 'team'), binding('RoleBinding', 'b', 'Role', 'pod-worker', userSubject('eve'), 'team'), undefined)).resolves.toBeUndefined();
  });

  it("refuses binding a ClusterRole that is not held, in kube's words", async () => {
    const { check } = fixture();
    const b = binding('RoleBinding', 'eve-deleter', 'ClusterRole', 'pod-deleter', userSubject('eve'), 'team');
    expect(await refusal(check.admit(request('rolebindings', 'create', bob, 'team'), b, undefined))).toEqual({
      code: 403,
      reason: 'Forbidden',
      message: 'rolebindings.rbac.authorization.k8s.io "eve-deleter" is forbidden: user "bob" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}',
      details: { name: 'eve-deleter', group: g, kind: 'rolebindings' },
    });
  });

  it('`bind` on that role by name lifts the check; on another name it does not', async () => {
    const binder = role('Role', 'binder', [{ verbs: ['bind'], apiGroups: [g], resources: ['clusterroles'], resourceNames: ['pod-deleter'] }], 'team');
    const { check } = fixture({ roles: [binder], bindings: [binding('RoleBinding', 'binder', 'Role', 'binder', userSubject('bob'), 'team')] });
    await expect(check.admit(request('rolebindings', 'create', bob, 'team'), binding('RoleBinding', 'x', 'ClusterRole', 'pod-deleter', userSubject('eve'), 'team'), undefined)).resolves.toBeUndefined();
    expect((await refusal(check.admit(request('rolebindings', 'create', bob, 'team'), binding('RoleBinding', 'x', 'ClusterRole', 'cluster-admin', userSubject('eve'), 'team'), undefined))).code).toBe(403);
    // The bind grant is in "team": binding in another namespace is still refused.
    expect((await refusal(check.admit(request('rolebindings', 'create', bob, 'other'), binding('RoleBinding', 'x', 'ClusterRole', 'pod-deleter', userSubject('eve'), 'other'), undefined))).code).toBe(403);
    // `bind` may name a role that does not exist yet.
    const anyBind = fixture({ roles: [role('Role', 'b', [{ verbs: ['bind'], apiGroups: [g], resources: ['roles'] }], 'team')], bindings: [binding('RoleBinding', 'b', 'Role', 'b', userSubject('bob'), 'team')] });
    await expect(anyBind.check.admit(request('rolebindings', 'create', bob, 'team'), binding('RoleBinding', 'x', 'Role', 'later', userSubject('eve'), 'team'), undefined)).resolves.toBeUndefined();
  });

  it('a missing role is a 404 for a user without `bind`', async () => {
    const { check } = fixture();
    expect(await refusal(check.admit(request('rolebindings', 'create', bob, 'team'), binding('RoleBinding', 'x', 'Role', 'nope', userSubject('eve'), 'team'), undefined))).toEqual({
      code: 404,
      reason: 'NotFound',
      message: 'roles.rbac.authorization.k8s.io "nope" not found',
      details: { name: 'nope', group: g, kind: 'roles' },
    });
  });

  it('a ClusterRoleBinding is checked against cluster-wide rights and cluster-wide `bind`', async () => {
    const { check } = fixture({ clusterBindings: [binding('ClusterRoleBinding', 'bob-view', 'ClusterRole', 'view', userSubject('bob'))] });
    await expect(check.admit(request('clusterrolebindings', 'create', bob, ''), binding('ClusterRoleBinding', 'eve-view', 'ClusterRole', 'view', userSubject('eve')), undefined)).resolves.toBeUndefined();
    expect((await refusal(check.admit(request('clusterrolebindings', 'create', bob, ''), binding('ClusterRoleBinding', 'eve-m', 'ClusterRole', 'metrics-reader', userSubject('eve')), undefined))).message).toBe(
      'clusterrolebindings.rbac.authorization.k8s.io "eve-m" is forbidden: user "bob" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{NonResourceURLs:["/metrics"], Verbs:["get"]}',
    );
    // A namespaced bind grant does not reach cluster bindings.
    const nsBinder = fixture({ roles: [role('Role', 'b', [{ verbs: ['bind'], apiGroups: [g], resources: ['clusterroles'] }], 'team')], bindings: [binding('RoleBinding', 'b', 'Role', 'b', userSubject('bob'), 'team')] });
    expect((await refusal(nsBinder.check.admit(request('clusterrolebindings', 'create', bob, ''), binding('ClusterRoleBinding', 'x', 'ClusterRole', 'view', userSubject('eve')), undefined))).code).toBe(403);
  });

  it('resolution errors (a binding to a missing role) are appended as kube does', () => {
    const { policy } = fixture({ clusterBindings: [binding('ClusterRoleBinding', 'dangling', 'ClusterRole', 'gone', userSubject('bob'))] });
    expect(confirmNoEscalation(policy, bob, 'team', [{ verbs: ['delete'], apiGroups: [''], resources: ['pods'] }])).toBe(
      'user "bob" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}; resolution errors: [clusterroles.rbac.authorization.k8s.io "gone" not found]',
    );
    expect(confirmNoEscalation(policy, bob, 'team', [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }])).toBeUndefined();
  });
});
