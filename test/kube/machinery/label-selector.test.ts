// Label selectors against k8s.io/apimachinery pkg/labels/selector.go behaviour: the grammar
// examples and error texts come from its Parse doc comment and selector_test.go cases.
import { describe, expect, it } from 'vitest';

import {
  formatLabelSelector,
  labelSelectorErrors,
  labelSelectorFromObject,
  parseLabelSelector,
  selectorFromSet,
} from '../../../src/kube/machinery/label-selector.js';
import { KubeStatusError } from '../../../src/kube/machinery/status.js';

function badMessage(text: string): string {
  try {
    parseLabelSelector(text);
  } catch (e) {
    if (e instanceof KubeStatusError) {
      expect(e.code).toBe(400);
      expect(e.reason).toBe('BadRequest');
      return e.message;
    }
    throw e;
  }
  throw new Error(`"${text}" parsed`);
}

describe('label selector strings', () => {
  const web = { app: 'web', tier: 'front', 'example.com/team': 'a' };

  it('equality, inequality and absence semantics', () => {
    expect(parseLabelSelector('app=web').matches(web)).toBe(true);
    expect(parseLabelSelector('app==web').matches(web)).toBe(true);
    expect(parseLabelSelector('app=db').matches(web)).toBe(false);
    expect(parseLabelSelector('app!=db').matches(web)).toBe(true);
    // != and notin match objects without the label at all.
    expect(parseLabelSelector('env!=prod').matches(web)).toBe(true);
    expect(parseLabelSelector('env notin (prod)').matches(web)).toBe(true);
    expect(parseLabelSelector('env in (prod)').matches(web)).toBe(false);
    expect(parseLabelSelector('app').matches(web)).toBe(true);
    expect(parseLabelSelector('!app').matches(web)).toBe(false);
    expect(parseLabelSelector('!env').matches(web)).toBe(true);
    expect(parseLabelSelector('example.com/team=a').matches(web)).toBe(true);
    expect(parseLabelSelector('app=web,tier=back').matches(web)).toBe(false);
    expect(parseLabelSelector('').matches(web)).toBe(true);
    expect(parseLabelSelector('').isEmpty()).toBe(true);
    expect(parseLabelSelector('app=web').matches(undefined)).toBe(false);
    expect(parseLabelSelector('app!=web').matches(null)).toBe(true);
  });

  it('set syntax with spaces, empty values and keywords as values', () => {
    const s = parseLabelSelector('x in (foo,,baz),y,z notin ()');
    expect(s.requirements).toEqual([
      { key: 'x', operator: 'in', values: ['', 'baz', 'foo'] },
      { key: 'y', operator: 'exists', values: [] },
      { key: 'z', operator: 'notin', values: [''] },
    ]);
    expect(s.toString()).toBe('x in (,baz,foo),y,z notin ()');
    expect(parseLabelSelector('  tier   in  ( front , back )  ').matches(web)).toBe(true);
    expect(parseLabelSelector('a in (in,notin)').matches({ a: 'notin' })).toBe(true);
    expect(parseLabelSelector('a=').matches({ a: '' })).toBe(true);
    expect(parseLabelSelector('a=').matches({})).toBe(false);
    expect(parseLabelSelector('a=,b=c').requirements).toHaveLength(2);
  });

  it('gt and lt compare integers', () => {
    expect(parseLabelSelector('n>5').matches({ n: '10' })).toBe(true);
    expect(parseLabelSelector('n<5').matches({ n: '10' })).toBe(false);
    expect(parseLabelSelector('n>5').matches({ n: 'x' })).toBe(false);
    expect(parseLabelSelector('n>5').matches({})).toBe(false);
  });

  it('sorts requirements by key and prints canonically', () => {
    expect(parseLabelSelector('z=1,a!=2,m').toString()).toBe('a!=2,m,z=1');
    expect(parseLabelSelector('!b,a==c').toString()).toBe('a==c,!b');
  });

  it('rejects bad syntax with kube parser messages as 400', () => {
    expect(badMessage('a b')).toBe("unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt");
    expect(badMessage('a=b c')).toBe("found 'c', expected: ',' or 'end of string'");
    expect(badMessage('a=b,')).toBe("found '', expected: identifier after ','");
    expect(badMessage('x in a')).toBe("unable to parse requirement: found 'a' expected: '('");
    expect(badMessage('x in (a')).toBe("unable to parse requirement: found '', expected: ',' or ')'");
    expect(badMessage('!a=b')).toBe("found '=', expected: ',' or 'end of string'");
    expect(badMessage('=a')).toBe("found '=', expected: !, identifier, or 'end of string'");
    expect(badMessage('a=b=c')).toBe("found '=', expected: ',' or 'end of string'");
    expect(badMessage('n>x')).toMatch(/for 'Gt', 'Lt' operators, the value must be an integer/);
    expect(badMessage('a_=b')).toBe(
      'unable to parse requirement: <nil>: Invalid value: "a_": name part must consist of alphanumeric characters, ' +
        "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or " +
        "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
    );
    expect(badMessage('a=b!')).toMatch(/^unable to parse requirement|^found/);
    expect(badMessage(`a=${'v'.repeat(64)}`)).toMatch(/must be no more than 63 characters/);
  });
});

describe('metav1.LabelSelector objects', () => {
  it('nil matches nothing, empty matches everything', () => {
    expect(labelSelectorFromObject(undefined).matches({ a: 'b' })).toBe(false);
    expect(labelSelectorFromObject(null).matches({})).toBe(false);
    expect(labelSelectorFromObject({}).matches({ a: 'b' })).toBe(true);
    expect(labelSelectorFromObject({}).isEmpty()).toBe(true);
  });

  it('combines matchLabels and matchExpressions', () => {
    const sel = labelSelectorFromObject({
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['front', 'edge'] },
        { key: 'canary', operator: 'DoesNotExist' },
        { key: 'env', operator: 'NotIn', values: ['dev'] },
        { key: 'team', operator: 'Exists' },
      ],
    });
    expect(sel.matches({ app: 'web', tier: 'edge', team: 'x' })).toBe(true);
    expect(sel.matches({ app: 'web', tier: 'edge', team: 'x', canary: '1' })).toBe(false);
    expect(sel.matches({ app: 'web', tier: 'edge', team: 'x', env: 'dev' })).toBe(false);
    expect(sel.matches({ app: 'web', tier: 'back', team: 'x' })).toBe(false);
    expect(sel.toString()).toBe('app=web,!canary,env notin (dev),team,tier in (edge,front)');
    expect(() => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Equals', values: ['b'] }] })).toThrow(
      '"Equals" is not a valid label selector operator',
    );
    expect(() => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] })).toThrow(
      "values set can't be empty",
    );
  });

  it('formats like metav1.FormatLabelSelector (kubectl SELECTOR columns)', () => {
    expect(formatLabelSelector({ matchLabels: { app: 'web', 'pod-template-hash': 'abc' } })).toBe('app=web,pod-template-hash=abc');
    expect(formatLabelSelector({})).toBe('<none>');
    expect(formatLabelSelector(undefined)).toBe('<none>');
    expect(formatLabelSelector({ matchExpressions: [{ key: 'a', operator: 'Bad' }] })).toBe('<error>');
  });

  it('selectorFromSet is exact match on every pair', () => {
    const s = selectorFromSet({ b: '2', a: '1' });
    expect(s.toString()).toBe('a=1,b=2');
    expect(s.matches({ a: '1', b: '2', c: '3' })).toBe(true);
    expect(s.matches({ a: '1' })).toBe(false);
  });

  it('reports field errors for validation', () => {
    expect(labelSelectorErrors({ matchLabels: { app: 'web' } }, 'spec.selector')).toEqual([]);
    const errs = labelSelectorErrors(
      { matchLabels: { 'bad key!': 'v' }, matchExpressions: [{ key: 'a', operator: 'In' }, { key: 'b', operator: 'Exists', values: ['x'] }] },
      'spec.selector',
    );
    expect(errs.map((e) => [e.type, e.field])).toEqual([
      ['FieldValueInvalid', 'spec.selector.matchLabels'],
      ['FieldValueRequired', 'spec.selector.matchExpressions[0].values'],
      ['FieldValueForbidden', 'spec.selector.matchExpressions[1].values'],
    ]);
  });
});
