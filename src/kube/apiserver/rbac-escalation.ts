// kube's RBAC privilege escalation prevention (pkg/registry/rbac: escalation_check.go, the
// policybased storages of the four kinds, and validation.ConfirmNoEscalation). A user may write a
// Role or ClusterRole only with rules it already holds in that scope, unless it may `escalate`
// roles there; a RoleBinding or ClusterRoleBinding only to a role whose rules it holds in the
// binding's scope, unless it may `bind` that role. system:masters skips both checks, and so do
// internal writes (no user: bootstrap). Refusals are kube's 403, word for word.

import { isJsonObject, jsonEqual, type JsonObject } from '../machinery/json.js';
import { findResource, type ResourceInfo } from '../machinery/resources.js';
import { forbidden, goQuote, notFound } from '../machinery/status.js';
import { requestNamespace, type ApiRequest } from './api-context.js';
import type { Authorizer, RequestAttributes } from './authorization.js';
import { cloneObject, metaOf, metaString } from './object-meta.js';
import type { ObjectStore } from './object-store.js';
import { roleRefOf, rulesOf, subjectsMatch, type PolicyRule, type RbacPolicySource } from './rbac-authorizer.js';
import { covers, describeMissing, goQuoteList } from './rbac-policy-comparator.js';
import { systemMasters, type UserInfo } from './user-info.js';

const rbacGroup = 'rbac.authorization.k8s.io';

/** What setting an aggregationRule needs (it can gather any rule): everything. */
const fullAuthority: readonly PolicyRule[] = [
  { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
  { verbs: ['*'], nonResourceURLs: ['*'] },
];

function rbacInfo(resource: string): ResourceInfo {
  const info = findResource(rbacGroup, 'v1', resource);
  if (info === undefined) throw new Error(`${resource} missing from the resource catalogue`);
  return info;
}

/** kube's EscalationAllowed: system:masters is the apiserver's own privileged group. */
export function escalationAllowed(user: UserInfo): boolean {
  return user.groups.includes(systemMasters);
}

/**
 * kube's DefaultRuleResolver.RulesFor: the rules of every ClusterRoleBinding of the user, and in a
 * namespace also of its RoleBindings there. Missing roles are errors that do not stop the walk
 * (policy is additive); their text is kube's registry NotFound (plural resource).
 */
export function rulesFor(policy: RbacPolicySource, user: UserInfo, namespace: string): { rules: PolicyRule[]; errors: string[] } {
  const rules: PolicyRule[] = [];
  const errors: string[] = [];
  for (const binding of policy.clusterRoleBindings()) {
    if (!subjectsMatch(binding, user, '')) continue;
    const ref = roleRefOf(binding);
    if (ref === undefined) continue;
    if (ref.kind !== 'ClusterRole') {
      errors.push(`unsupported role reference kind: ${goQuote(ref.kind)}`);
      continue;
    }
    const role = policy.clusterRole(ref.name);
    if (role === undefined) errors.push(`clusterroles.${rbacGroup} ${goQuote(ref.name)} not found`);
    else rules.push(...rulesOf(role));
  }
  if (namespace !== '') {
    for (const binding of policy.roleBindings(namespace)) {
      if (!subjectsMatch(binding, user, namespace)) continue;
      const ref = roleRefOf(binding);
      if (ref === undefined) continue;
      const role = ref.kind === 'ClusterRole' ? policy.clusterRole(ref.name) : ref.kind === 'Role' ? policy.role(namespace, ref.name) : undefined;
      if (role === undefined) errors.push(`${ref.kind === 'Role' ? 'roles' : 'clusterroles'}.${rbacGroup} ${goQuote(ref.name)} not found`);
      else rules.push(...rulesOf(role));
    }
  }
  return { rules, errors };
}

/** utilerrors.NewAggregate(errs).Error(): one as is, several (unique) in brackets. */
function aggregateText(errors: readonly string[]): string {
  const unique = [...new Set(errors)];
  return unique.length === 1 ? (unique[0] as string) : `[${unique.join(', ')}]`;
}

/**
 * kube's ConfirmNoEscalation: undefined when the user's rules in `namespace` cover `rules`,
 * otherwise the refusal text (the missing rules, compacted, one a line).
 */
export function confirmNoEscalation(policy: RbacPolicySource, user: UserInfo, namespace: string, rules: readonly PolicyRule[]): string | undefined {
  const owned = rulesFor(policy, user, namespace);
  const result = covers(owned.rules, rules);
  if (result.covered) return undefined;
  let msg = `user ${goQuote(user.name)} (groups=${goQuoteList(user.groups)}) is attempting to grant RBAC permissions not currently held:\n${describeMissing(result.missing)}`;
  // Go's %v of a []error holding the one aggregate.
  if (owned.errors.length > 0) msg += `; resolution errors: [${aggregateText(owned.errors)}]`;
  return msg;
}

/** kube's IsOnlyMutatingGCFields: the update changes nothing but ownerReferences, finalizers or selfLink. */
export function isOnlyMutatingGcFields(next: JsonObject, old: JsonObject): boolean {
  const copied = cloneObject(next);
  const meta = metaOf(copied);
  const oldMeta = metaOf(old);
  for (const field of ['ownerReferences', 'finalizers', 'selfLink'] as const) {
    const value = oldMeta[field];
    if (value === undefined) delete meta[field];
    else meta[field] = value;
  }
  return jsonEqual(copied, old);
}

function hasAggregationRule(role: JsonObject | undefined): boolean {
  if (role === undefined || !isJsonObject(role.aggregationRule)) return false;
  const selectors = role.aggregationRule.clusterRoleSelectors;
  return Array.isArray(selectors) && selectors.length > 0;
}

/** The escalation checks of the four RBAC kinds, run on the body of a create or an update. */
export class RbacEscalationCheck {
  private readonly roles = rbacInfo('roles');
  private readonly clusterRoles = rbacInfo('clusterroles');

  constructor(
    private readonly policy: RbacPolicySource,
    /** The whole authorizer chain, for the `escalate` and `bind` verbs. */
    private readonly authorizer: Authorizer,
    /** Where a binding's role is read: the store itself, so a role created a moment ago is found. */
    private readonly objects: ObjectStore,
  ) {}

  /** Throws kube's Status to refuse; `old` is the stored object on an update, undefined on a create. */
  async admit(req: ApiRequest, obj: JsonObject, old: JsonObject | undefined): Promise<void> {
    const user = req.user;
    if (user === undefined || req.info.group !== rbacGroup || escalationAllowed(user)) return;
    const kind = req.info.kind;
    if (kind !== 'Role' && kind !== 'ClusterRole' && kind !== 'RoleBinding' && kind !== 'ClusterRoleBinding') return;
    // Finalizers and owner references (the garbage collector's fields) change without a check.
    if (old !== undefined && isOnlyMutatingGcFields(obj, old)) return;
    const namespace = requestNamespace(req) ?? '';
    const name = metaString(obj, 'name') ?? '';
    if (kind === 'Role' || kind === 'ClusterRole') await this.admitRole(req, user, namespace, name, obj, old);
    else await this.admitBinding(req, user, namespace, name, obj);
  }

  private async admitRole(req: ApiRequest, user: UserInfo, namespace: string, name: string, obj: JsonObject, old: JsonObject | undefined): Promise<void> {
    // kube's RoleEscalationAuthorized: the request's own resource, name (empty on a create) and namespace.
    if (await this.allows(user, 'escalate', req.info.resource, req.target.namespace, req.target.name)) return;
    const resource = { group: rbacGroup, resource: req.info.resource };
    const refusal = confirmNoEscalation(this.policy, user, namespace, rulesOf(obj));
    if (refusal !== undefined) throw forbidden(resource, name, refusal);
    if (req.info.kind === 'ClusterRole' && (hasAggregationRule(obj) || hasAggregationRule(old))) {
      if (confirmNoEscalation(this.policy, user, '', fullAuthority) !== undefined) {
        throw forbidden(resource, name, 'must have cluster-admin privileges to use the aggregationRule');
      }
    }
  }

  private async admitBinding(req: ApiRequest, user: UserInfo, namespace: string, name: string, obj: JsonObject): Promise<void> {
    const ref = roleRefOf(obj);
    // A malformed roleRef is validation's to refuse (422), as it cannot grant anything.
    if (ref === undefined || (ref.kind !== 'Role' && ref.kind !== 'ClusterRole') || ref.name === '') return;
    const apiGroup = isJsonObject(obj.roleRef) && typeof obj.roleRef.apiGroup === 'string' ? obj.roleRef.apiGroup : '';
    // kube's BindingAuthorized: `bind` on that role by name, in the binding's namespace ('' for a ClusterRoleBinding).
    if (await this.allows(user, 'bind', ref.kind === 'Role' ? 'roles' : 'clusterroles', namespace, ref.name, apiGroup)) return;
    // GetRoleReferenceRules: a missing role is a 404 here, as in kube.
    const role = ref.kind === 'Role' ? await this.objects.getMaybe(this.roles, namespace, ref.name) : await this.objects.getMaybe(this.clusterRoles, undefined, ref.name);
    if (role === undefined) throw notFound({ group: rbacGroup, resource: ref.kind === 'Role' ? 'roles' : 'clusterroles' }, ref.name);
    const refusal = confirmNoEscalation(this.policy, user, namespace, rulesOf(role));
    if (refusal !== undefined) throw forbidden({ group: rbacGroup, resource: req.info.resource }, name, refusal);
  }

  private async allows(user: UserInfo, verb: string, resource: string, namespace: string, name: string, apiGroup = rbacGroup): Promise<boolean> {
    const attrs: RequestAttributes = { user, verb, resourceRequest: true, path: '', apiGroup, apiVersion: '*', namespace, resource, subresource: '', name };
    return (await this.authorizer.authorize(attrs)).allowed;
  }
}
