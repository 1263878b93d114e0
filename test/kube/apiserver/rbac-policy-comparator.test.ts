// kube's rule covering for escalation prevention (Covers, CompactRules, CompactString): which
// rules an owner's rules cover, and how the missing ones are listed in the 403.

import { describe, expect, it } from 'vitest';

import type { PolicyRule } from '../../../src/kube/apiserver/rbac-authorizer.js';
import { breakdownRule, compactRules, compactString, covers, describeMissing } from '../../../src/kube/apiserver/rbac-policy-comparator.js';

const r = (verbs: string[], apiGroups: string[], resources: string[], resourceNames?: string[]): PolicyRule =>
  resourceNames === undefined ? { verbs, apiGroups, resources } : { verbs, apiGroups, resources, resourceNames };
const u = (verbs: string[], nonResourceURLs: string[]): PolicyRule => ({ verbs, nonResourceURLs });

/** [case, owner rules, servant rules, covered?] */
const cases: [string, PolicyRule[], PolicyRule[], boolean][] = [
  ['exact match', [r(['get'], [''], ['pods'])], [r(['get'], [''], ['pods'])], true],
  ['one verb more than held', [r(['get'], [''], ['pods'])], [r(['get', 'delete'], [''], ['pods'])], false],
  ['verbs split over two owner rules', [r(['get'], [''], ['pods']), r(['delete'], [''], ['pods'])], [r(['get', 'delete'], [''], ['pods'])], true],
  ['verb * covers any verb', [r(['*'], [''], ['pods'])], [r(['get', 'escalate', 'bind'], [''], ['pods'])], true],
  ['verb * asked, only named verbs held', [r(['get', 'list'], [''], ['pods'])], [r(['*'], [''], ['pods'])], false],
  ['group * covers any group', [r(['get'], ['*'], ['pods'])], [r(['get'], ['', 'apps', 'x.io'], ['pods'])], true],
  ['other group', [r(['get'], ['apps'], ['deployments'])], [r(['get'], ['extensions'], ['deployments'])], false],
  ['group * asked, one group held', [r(['get'], [''], ['pods'])], [r(['get'], ['*'], ['pods'])], false],
  ['resource * covers any resource', [r(['get'], [''], ['*'])], [r(['get'], [''], ['pods', 'secrets', 'pods/log'])], true],
  ['resource * asked, some held', [r(['get'], [''], ['pods', 'secrets'])], [r(['get'], [''], ['*'])], false],
  ['resource does not cover its subresource', [r(['get'], [''], ['pods'])], [r(['get'], [''], ['pods/status'])], false],
  ['subresource does not cover its resource', [r(['get'], [''], ['pods/status'])], [r(['get'], [''], ['pods'])], false],
  ['exact subresource', [r(['update'], [''], ['pods/status'])], [r(['update'], [''], ['pods/status'])], true],
  ['*/scale covers deployments/scale and replicasets/scale', [r(['update'], ['apps'], ['*/scale'])], [r(['update'], ['apps'], ['deployments/scale', 'replicasets/scale'])], true],
  ['*/scale does not cover deployments', [r(['update'], ['apps'], ['*/scale'])], [r(['update'], ['apps'], ['deployments'])], false],
  ['*/scale does not cover deployments/status', [r(['update'], ['apps'], ['*/scale'])], [r(['update'], ['apps'], ['deployments/status'])], false],
  ['*/scale asked, deployments/scale held', [r(['update'], ['apps'], ['deployments/scale'])], [r(['update'], ['apps'], ['*/scale'])], false],
  ['all names cover one name', [r(['get'], [''], ['configmaps'])], [r(['get'], [''], ['configmaps'], ['a'])], true],
  ['names cover the same names', [r(['get'], [''], ['configmaps'], ['a', 'b'])], [r(['get'], [''], ['configmaps'], ['b'])], true],
  ['names do not cover another name', [r(['get'], [''], ['configmaps'], ['a'])], [r(['get'], [''], ['configmaps'], ['c'])], false],
  ['names do not cover all names', [r(['get'], [''], ['configmaps'], ['a'])], [r(['get'], [''], ['configmaps'])], false],
  ['names held by two owner rules', [r(['get'], [''], ['configmaps'], ['a']), r(['get'], [''], ['configmaps'], ['b'])], [r(['get'], [''], ['configmaps'], ['a', 'b'])], true],
  ['a name held for another verb only', [r(['get'], [''], ['configmaps'], ['a'])], [r(['delete'], [''], ['configmaps'], ['a'])], false],
  ['non-resource URL exact', [u(['get'], ['/healthz'])], [u(['get'], ['/healthz'])], true],
  ['non-resource URL other verb', [u(['get'], ['/healthz'])], [u(['post'], ['/healthz'])], false],
  ['non-resource URL trailing * is a prefix', [u(['get'], ['/apis/*'])], [u(['get'], ['/apis/apps', '/apis/apps/v1', '/apis/'])], true],
  ['non-resource URL prefix does not cover its parent', [u(['get'], ['/apis/*'])], [u(['get'], ['/apis'])], false],
  ['non-resource URL * covers all', [u(['*'], ['*'])], [u(['get', 'post'], ['/metrics', '/logs/x'])], true],
  ['non-resource URL not held by a resource rule', [r(['*'], ['*'], ['*'])], [u(['get'], ['/metrics'])], false],
  ['non-resource URL * asked, prefix held', [u(['get'], ['/apis/*'])], [u(['get'], ['*'])], false],
  ['cluster-admin covers everything', [r(['*'], ['*'], ['*']), u(['*'], ['*'])], [r(['escalate', 'bind'], ['rbac.authorization.k8s.io'], ['clusterroles'], ['x']), u(['get'], ['/x'])], true],
  ['nothing held', [], [r(['get'], [''], ['pods'])], false],
  ['nothing asked', [], [], true],
  ['rule with groups but no resources grants nothing', [], [r(['get'], [''], [])], true],
  ['mixed: covered and uncovered parts', [r(['get', 'list'], [''], ['pods', 'services'])], [r(['get'], [''], ['pods']), r(['list'], [''], ['services']), r(['watch'], [''], ['pods'])], false],
];

describe('Covers (kube semantics)', () => {
  for (const [name, owner, servant, expected] of cases) {
    it(`${expected ? 'covers' : 'refuses'}: ${name}`, () => {
      const result = covers(owner, servant);
      expect(result.covered).toBe(expected);
      expect(result.missing.length === 0).toBe(expected);
    });
  }

  it('lists exactly the atoms left uncovered', () => {
    const result = covers([r(['get'], [''], ['pods']), r(['get'], [''], ['configmaps'], ['a'])], [r(['get', 'delete'], [''], ['pods', 'configmaps'], ['a', 'b'])]);
    expect(result.missing).toEqual([
      r(['delete'], [''], ['pods'], ['a']),
      r(['delete'], [''], ['pods'], ['b']),
      r(['get'], [''], ['configmaps'], ['b']),
      r(['delete'], [''], ['configmaps'], ['a']),
      r(['delete'], [''], ['configmaps'], ['b']),
    ]);
  });

  it('breaks a rule down into one group, resource, verb and name each (URLs with verbs only)', () => {
    expect(breakdownRule(r(['get', 'list'], ['', 'apps'], ['x'], ['n']))).toEqual([
      r(['get'], [''], ['x'], ['n']),
      r(['list'], [''], ['x'], ['n']),
      r(['get'], ['apps'], ['x'], ['n']),
      r(['list'], ['apps'], ['x'], ['n']),
    ]);
    expect(breakdownRule(u(['get', 'post'], ['/a']))).toEqual([u(['get'], ['/a']), u(['post'], ['/a'])]);
  });
});

describe('the missing rules as the 403 prints them', () => {
  it("CompactString is kube's %q layout, fields in kube's order, empty ones left out", () => {
    expect(compactString(r(['delete'], [''], ['pods']))).toBe('{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}');
    expect(compactString(r(['get', 'list'], ['apps'], ['deployments'], ['web']))).toBe('{APIGroups:["apps"], Resources:["deployments"], ResourceNames:["web"], Verbs:["get" "list"]}');
    expect(compactString(u(['get'], ['/metrics']))).toBe('{NonResourceURLs:["/metrics"], Verbs:["get"]}');
    expect(compactString(r(['get'], [''], ['a"b']))).toBe('{APIGroups:[""], Resources:["a\\"b"], Verbs:["get"]}');
  });

  it('CompactRules merges the verbs of simple rules of one group and resource, leaving named and URL rules alone', () => {
    const compacted = compactRules([r(['get'], [''], ['pods']), r(['delete'], [''], ['pods']), r(['get'], [''], ['pods'], ['x']), r(['get'], ['apps'], ['pods']), u(['get'], ['/x'])]);
    expect(compacted).toEqual([r(['get'], [''], ['pods'], ['x']), u(['get'], ['/x']), r(['get', 'delete'], [''], ['pods']), r(['get'], ['apps'], ['pods'])]);
  });

  it('describes the missing rules sorted, unique, one a line', () => {
    const { missing } = covers([], [r(['get', 'delete'], [''], ['pods']), r(['get'], ['apps'], ['deployments']), u(['get'], ['/metrics']), r(['get'], [''], ['pods'])]);
    expect(describeMissing(missing)).toBe(
      [
        '{APIGroups:[""], Resources:["pods"], Verbs:["get" "delete" "get"]}',
        '{APIGroups:["apps"], Resources:["deployments"], Verbs:["get"]}',
        '{NonResourceURLs:["/metrics"], Verbs:["get"]}',
      ].join('\n'),
    );
  });
});
