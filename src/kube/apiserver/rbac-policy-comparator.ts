// Whether one set of RBAC rules covers another, as kube decides it for privilege escalation
// prevention (component-helpers/auth/rbac/validation.Covers, pkg/registry/rbac/validation's
// CompactRules and rbac/v1 CompactString). The servant rules are broken down into atoms of one
// group, resource, verb and at most one name (or one URL and one verb); each atom must be covered
// by a single owner rule. The atoms left over, compacted, are what the 403 lists.

import { goQuote } from '../machinery/status.js';
import type { PolicyRule } from './rbac-authorizer.js';

const all = '*';

/** A rule with every list present (absent lists of a PolicyRule read as empty). */
interface FullRule {
  readonly verbs: readonly string[];
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly resourceNames: readonly string[];
  readonly nonResourceURLs: readonly string[];
}

function full(rule: PolicyRule): FullRule {
  return {
    verbs: rule.verbs,
    apiGroups: rule.apiGroups ?? [],
    resources: rule.resources ?? [],
    resourceNames: rule.resourceNames ?? [],
    nonResourceURLs: rule.nonResourceURLs ?? [],
  };
}

/** kube's breakdownRule: rules of at most one verb, group, resource and name (or URL and verb). */
export function breakdownRule(rule: PolicyRule): PolicyRule[] {
  const r = full(rule);
  const out: PolicyRule[] = [];
  for (const group of r.apiGroups) {
    for (const resource of r.resources) {
      for (const verb of r.verbs) {
        if (r.resourceNames.length > 0) {
          for (const name of r.resourceNames) out.push({ apiGroups: [group], resources: [resource], verbs: [verb], resourceNames: [name] });
        } else {
          out.push({ apiGroups: [group], resources: [resource], verbs: [verb] });
        }
      }
    }
  }
  // Non-resource URLs combine with verbs only.
  for (const url of r.nonResourceURLs) {
    for (const verb of r.verbs) out.push({ nonResourceURLs: [url], verbs: [verb] });
  }
  return out;
}

function hasAll(set: readonly string[], wanted: readonly string[]): boolean {
  return wanted.every((w) => set.includes(w));
}

/** "pods/status" is covered by "pods/status" or "*\/status"; "*" covers everything. */
function resourceCoversAll(owned: readonly string[], wanted: readonly string[]): boolean {
  if (owned.includes(all) || hasAll(owned, wanted)) return true;
  for (const path of wanted) {
    if (owned.includes(path)) continue;
    const slash = path.indexOf('/');
    if (slash < 0) return false;
    if (!owned.includes(`*/${path.slice(slash + 1)}`)) return false;
  }
  return true;
}

function nonResourceUrlCovers(owner: string, path: string): boolean {
  if (owner === path) return true;
  // Go's strings.TrimRight(owner, "*"): every trailing star goes.
  return owner.endsWith('*') && path.startsWith(owner.replace(/\*+$/, ''));
}

function nonResourceUrlsCoverAll(owned: readonly string[], wanted: readonly string[]): boolean {
  return wanted.every((path) => owned.some((owner) => nonResourceUrlCovers(owner, path)));
}

/** kube's ruleCovers: does one owner rule cover a broken-down servant rule? */
export function ruleCovers(ownerRule: PolicyRule, subRule: PolicyRule): boolean {
  const owner = full(ownerRule);
  const sub = full(subRule);
  const verbs = owner.verbs.includes(all) || hasAll(owner.verbs, sub.verbs);
  const groups = owner.apiGroups.includes(all) || hasAll(owner.apiGroups, sub.apiGroups);
  const resources = resourceCoversAll(owner.resources, sub.resources);
  const urls = nonResourceUrlsCoverAll(owner.nonResourceURLs, sub.nonResourceURLs);
  // A rule for named objects is covered by a rule for all names or for those names; a rule for
  // all names only by a rule for all names.
  const names = owner.resourceNames.length === 0 || (sub.resourceNames.length > 0 && hasAll(owner.resourceNames, sub.resourceNames));
  return verbs && groups && resources && names && urls;
}

/** kube's Covers: whether `owner` covers `servant`, and the broken-down servant rules it does not. */
export function covers(owner: readonly PolicyRule[], servant: readonly PolicyRule[]): { covered: boolean; missing: PolicyRule[] } {
  const missing: PolicyRule[] = [];
  for (const rule of servant) {
    for (const sub of breakdownRule(rule)) {
      if (!owner.some((o) => ruleCovers(o, sub))) missing.push(sub);
    }
  }
  return { covered: missing.length === 0, missing };
}

/**
 * kube's CompactRules: rules of one group and one resource with nothing else but verbs merge into
 * one rule per group and resource, verbs in the order met. Other rules stay as they are.
 */
export function compactRules(rules: readonly PolicyRule[]): PolicyRule[] {
  const out: PolicyRule[] = [];
  const simple = new Map<string, { apiGroups: string[]; resources: string[]; verbs: string[] }>();
  for (const rule of rules) {
    const r = full(rule);
    const isSimple = r.resourceNames.length === 0 && r.nonResourceURLs.length === 0 && r.apiGroups.length === 1 && r.resources.length === 1;
    if (!isSimple) {
      out.push(rule);
      continue;
    }
    const key = JSON.stringify([r.apiGroups[0], r.resources[0]]);
    const existing = simple.get(key);
    if (existing === undefined) simple.set(key, { apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs] });
    else existing.verbs.push(...r.verbs);
  }
  out.push(...simple.values());
  return out;
}

/** Go's %q of a []string: ["a" "b"]. */
export function goQuoteList(values: readonly string[]): string {
  return `[${values.map(goQuote).join(' ')}]`;
}

/** kube's rbacv1helpers.CompactString, as the escalation 403 prints each missing rule. */
export function compactString(rule: PolicyRule): string {
  const r = full(rule);
  const parts: string[] = [];
  if (r.apiGroups.length > 0) parts.push(`APIGroups:${goQuoteList(r.apiGroups)}`);
  if (r.resources.length > 0) parts.push(`Resources:${goQuoteList(r.resources)}`);
  if (r.nonResourceURLs.length > 0) parts.push(`NonResourceURLs:${goQuoteList(r.nonResourceURLs)}`);
  if (r.resourceNames.length > 0) parts.push(`ResourceNames:${goQuoteList(r.resourceNames)}`);
  if (r.verbs.length > 0) parts.push(`Verbs:${goQuoteList(r.verbs)}`);
  return `{${parts.join(', ')}}`;
}

/** The missing rules as the 403 lists them: compacted, one per line, sorted and unique (sets.String.List()). */
export function describeMissing(missing: readonly PolicyRule[]): string {
  const lines = [...new Set(compactRules(missing).map(compactString))];
  // Go sorts strings bytewise; these are ASCII-quoted or UTF-8, where code-unit order matches for BMP text.
  lines.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return lines.join('\n');
}
