// kube's RBAC authorizer (plugin/pkg/auth/authorizer/rbac): a request is allowed when a rule of a
// role bound to the user matches it. ClusterRoleBindings apply everywhere; RoleBindings only in
// their namespace, to a Role there or a ClusterRole. Rules match on verbs, apiGroups, resources
// (with "resource/subresource" and "*/subresource"), resourceNames, and nonResourceURLs (with a
// trailing "*" as a prefix). Nothing denies: no matching rule means no opinion.

import { isJsonObject, type JsonObject, type JsonValue } from '../machinery/json.js';
import { noOpinion, allow, type Authorizer, type Decision, type RequestAttributes } from './authorization.js';
import type { UserInfo } from './user-info.js';

export interface PolicyRule {
  readonly verbs: readonly string[];
  readonly apiGroups?: readonly string[];
  readonly resources?: readonly string[];
  readonly resourceNames?: readonly string[];
  readonly nonResourceURLs?: readonly string[];
}

/** Where the authorizer reads the policy (the RBAC objects, as stored). */
export interface RbacPolicySource {
  clusterRole(name: string): JsonObject | undefined;
  role(namespace: string, name: string): JsonObject | undefined;
  clusterRoleBindings(): Iterable<JsonObject>;
  roleBindings(namespace: string): Iterable<JsonObject>;
}

const all = '*';

function strings(value: JsonValue | undefined): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

export function rulesOf(role: JsonObject | undefined): PolicyRule[] {
  if (role === undefined || !Array.isArray(role.rules)) return [];
  return role.rules.filter(isJsonObject).map((r) => ({
    verbs: strings(r.verbs),
    apiGroups: strings(r.apiGroups),
    resources: strings(r.resources),
    resourceNames: strings(r.resourceNames),
    nonResourceURLs: strings(r.nonResourceURLs),
  }));
}

function has(list: readonly string[] | undefined, value: string): boolean {
  return list !== undefined && (list.includes(all) || list.includes(value));
}

function resourceMatches(rule: PolicyRule, resource: string, subresource: string): boolean {
  const combined = subresource === '' ? resource : `${resource}/${subresource}`;
  for (const r of rule.resources ?? []) {
    if (r === all || r === combined) return true;
    if (subresource !== '' && r === `*/${subresource}`) return true;
  }
  return false;
}

function nonResourceUrlMatches(rule: PolicyRule, path: string): boolean {
  for (const url of rule.nonResourceURLs ?? []) {
    if (url === all || url === path) return true;
    if (url.endsWith('*') && path.startsWith(url.slice(0, -1))) return true;
  }
  return false;
}

/** kube's RuleAllows. */
export function ruleAllows(rule: PolicyRule, attrs: RequestAttributes): boolean {
  if (!has(rule.verbs, attrs.verb)) return false;
  if (!attrs.resourceRequest) return nonResourceUrlMatches(rule, attrs.path);
  if (!has(rule.apiGroups, attrs.apiGroup)) return false;
  if (!resourceMatches(rule, attrs.resource, attrs.subresource)) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || names.includes(attrs.name);
}

/** Does a binding's subject list name this user (User, Group, or ServiceAccount by its user name)? */
export function subjectsMatch(binding: JsonObject, user: UserInfo, bindingNamespace: string): boolean {
  if (!Array.isArray(binding.subjects)) return false;
  for (const s of binding.subjects) {
    if (!isJsonObject(s) || typeof s.name !== 'string') continue;
    switch (s.kind) {
      case 'User':
        if (s.name === user.name) return true;
        break;
      case 'Group':
        if (user.groups.includes(s.name)) return true;
        break;
      case 'ServiceAccount': {
        const ns = typeof s.namespace === 'string' && s.namespace !== '' ? s.namespace : bindingNamespace;
        if (user.name === `system:serviceaccount:${ns}:${s.name}`) return true;
        break;
      }
      default:
        break;
    }
  }
  return false;
}

export function roleRefOf(binding: JsonObject): { kind: string; name: string } | undefined {
  const ref = binding.roleRef;
  if (!isJsonObject(ref) || typeof ref.kind !== 'string' || typeof ref.name !== 'string') return undefined;
  return { kind: ref.kind, name: ref.name };
}

export class RbacAuthorizer implements Authorizer {
  constructor(private readonly policy: RbacPolicySource) {}

  authorize(attrs: RequestAttributes): Decision {
    // Missing roles are reported in the 403, as kube's rule resolver does.
    const errors: string[] = [];
    for (const binding of this.policy.clusterRoleBindings()) {
      if (!subjectsMatch(binding, attrs.user, '')) continue;
      const ref = roleRefOf(binding);
      if (ref === undefined || ref.kind !== 'ClusterRole') continue;
      const role = this.policy.clusterRole(ref.name);
      if (role === undefined) {
        errors.push(`clusterrole.rbac.authorization.k8s.io "${ref.name}" not found`);
        continue;
      }
      if (rulesOf(role).some((rule) => ruleAllows(rule, attrs))) return allow;
    }
    if (attrs.namespace !== '') {
      for (const binding of this.policy.roleBindings(attrs.namespace)) {
        if (!subjectsMatch(binding, attrs.user, attrs.namespace)) continue;
        const ref = roleRefOf(binding);
        if (ref === undefined) continue;
        const role = ref.kind === 'ClusterRole' ? this.policy.clusterRole(ref.name) : ref.kind === 'Role' ? this.policy.role(attrs.namespace, ref.name) : undefined;
        if (role === undefined) {
          errors.push(`${ref.kind.toLowerCase()}.rbac.authorization.k8s.io "${ref.name}" not found`);
          continue;
        }
        if (rulesOf(role).some((rule) => ruleAllows(rule, attrs))) return allow;
      }
    }
    if (errors.length === 0) return noOpinion;
    // utilerrors.NewAggregate's text: one error as is, several in brackets.
    return { allowed: false, reason: `RBAC: ${errors.length === 1 ? errors[0] : `[${errors.join(', ')}]`}` };
  }
}
