// kube's validation of the RBAC kinds (pkg/apis/rbac/validation): names are path segments (so
// "system:kube-scheduler" is fine), every rule names verbs and either resources with API groups
// or non-resource URLs (only cluster roles), bindings refer to a role of a valid kind, subjects are
// Users, Groups or ServiceAccounts, and a binding's roleRef never changes.

import { isJsonObject, jsonEqual, type JsonObject, type JsonValue } from './json.js';
import { fieldForbidden, invalidValue, notSupported, required, type FieldError } from './status.js';

const rbacGroup = 'rbac.authorization.k8s.io';

/** path.IsValidPathSegmentName's messages. */
export function isPathSegmentName(name: string): string[] {
  if (name === '.' || name === '..') return [`may not be '${name}'`];
  const out: string[] = [];
  if (name.includes('/')) out.push("may not contain '/'");
  if (name.includes('%')) out.push("may not contain '%'");
  return out;
}

function list(value: JsonValue | undefined): JsonValue[] {
  return Array.isArray(value) ? value : [];
}

export function validateRules(obj: JsonObject, namespaced: boolean): FieldError[] {
  const errs: FieldError[] = [];
  list(obj.rules).forEach((raw, i) => {
    const path = `rules[${i}]`;
    const rule = isJsonObject(raw) ? raw : {};
    if (list(rule.verbs).length === 0) errs.push(required(`${path}.verbs`, 'verbs must contain at least one value'));
    const urls = list(rule.nonResourceURLs);
    if (urls.length > 0) {
      if (namespaced) errs.push(invalidValue(`${path}.nonResourceURLs`, urls, 'namespaced rules cannot apply to non-resource URLs'));
      if (list(rule.apiGroups).length > 0 || list(rule.resources).length > 0 || list(rule.resourceNames).length > 0) {
        errs.push(invalidValue(`${path}.nonResourceURLs`, urls, 'rules cannot apply to both regular resources and non-resource URLs'));
      }
      return;
    }
    if (list(rule.apiGroups).length === 0) errs.push(required(`${path}.apiGroups`, 'resource rules must supply at least one api group'));
    if (list(rule.resources).length === 0) errs.push(required(`${path}.resources`, 'resource rules must supply at least one resource'));
  });
  return errs;
}

export function validateBinding(obj: JsonObject, namespaced: boolean, old: JsonObject | undefined): FieldError[] {
  const errs: FieldError[] = [];
  const ref = isJsonObject(obj.roleRef) ? obj.roleRef : {};
  if (ref.apiGroup !== rbacGroup) errs.push(notSupported('roleRef.apiGroup', ref.apiGroup ?? '', [rbacGroup]));
  const kinds = namespaced ? ['Role', 'ClusterRole'] : ['ClusterRole'];
  if (typeof ref.kind !== 'string' || !kinds.includes(ref.kind)) errs.push(notSupported('roleRef.kind', ref.kind ?? '', kinds));
  if (typeof ref.name !== 'string' || ref.name === '') errs.push(required('roleRef.name', ''));
  else for (const m of isPathSegmentName(ref.name)) errs.push(invalidValue('roleRef.name', ref.name, m));
  list(obj.subjects).forEach((raw, i) => {
    const path = `subjects[${i}]`;
    const s = isJsonObject(raw) ? raw : {};
    if (typeof s.name !== 'string' || s.name === '') errs.push(required(`${path}.name`, ''));
    switch (s.kind) {
      case 'ServiceAccount':
        if (s.apiGroup !== undefined && s.apiGroup !== '') errs.push(notSupported(`${path}.apiGroup`, s.apiGroup, ['']));
        if (!namespaced && (typeof s.namespace !== 'string' || s.namespace === '')) errs.push(required(`${path}.namespace`, ''));
        break;
      case 'User':
      case 'Group':
        if (s.apiGroup !== undefined && s.apiGroup !== rbacGroup) errs.push(notSupported(`${path}.apiGroup`, s.apiGroup, [rbacGroup]));
        break;
      default:
        errs.push(notSupported(`${path}.kind`, s.kind ?? '', ['ServiceAccount', 'User', 'Group']));
    }
  });
  if (old !== undefined && !jsonEqual(obj.roleRef, old.roleRef)) errs.push(invalidValue('roleRef', obj.roleRef ?? null, 'cannot change roleRef'));
  return errs;
}

/** The RBAC part of validate() for Role, ClusterRole, RoleBinding, ClusterRoleBinding; [] for other kinds. */
export function validateRbac(kind: string, obj: JsonObject, old: JsonObject | undefined): FieldError[] {
  switch (kind) {
    case 'Role':
      return validateRules(obj, true);
    case 'ClusterRole':
      if (obj.aggregationRule !== undefined) return [fieldForbidden('aggregationRule', 'aggregated cluster roles are not supported by this server')];
      return validateRules(obj, false);
    case 'RoleBinding':
      return validateBinding(obj, true, old);
    case 'ClusterRoleBinding':
      return validateBinding(obj, false, old);
    default:
      return [];
  }
}

export const rbacKinds: ReadonlySet<string> = new Set(['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding']);
