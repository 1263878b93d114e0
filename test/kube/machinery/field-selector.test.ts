// Field selectors: syntax of k8s.io/apimachinery pkg/fields/selector.go and the selectable fields
// kubectl relies on (REFERENCE.md C4: metadata.name for get -w/rollout/wait, spec.nodeName and
// status.phase for describe node, involvedObject.* for describe's events).
import { describe, expect, it } from 'vitest';

import {
  checkFieldSelector,
  matchesFieldSelector,
  parseFieldSelector,
  parseFieldSelectorFor,
  selectableFields,
  supportedFieldLabels,
} from '../../../src/kube/machinery/field-selector.js';
import { KubeStatusError } from '../../../src/kube/machinery/status.js';

function bad(fn: () => unknown): KubeStatusError {
  try {
    fn();
  } catch (e) {
    if (e instanceof KubeStatusError) return e;
    throw e;
  }
  throw new Error('no error');
}

const pod = {
  metadata: { name: 'web-1', namespace: 'default' },
  spec: { nodeName: 'n1', schedulerName: 'default-scheduler', restartPolicy: 'Always' },
  status: { phase: 'Running', podIP: '10.0.0.5' },
};

describe('field selectors', () => {
  it('parses =, ==, != and sorts by field', () => {
    const s = parseFieldSelector('status.phase!=Succeeded,spec.nodeName=n1,metadata.name==web-1');
    expect(s.requirements).toEqual([
      { field: 'metadata.name', operator: '==', value: 'web-1' },
      { field: 'spec.nodeName', operator: '=', value: 'n1' },
      { field: 'status.phase', operator: '!=', value: 'Succeeded' },
    ]);
    expect(s.requiresExactMatch('metadata.name')).toBe('web-1');
    expect(s.requiresExactMatch('status.phase')).toBeUndefined();
    expect(parseFieldSelector('').isEmpty()).toBe(true);
    expect(parseFieldSelector('a=b,').requirements).toHaveLength(1);
  });

  it('handles escapes and empty values', () => {
    const s = parseFieldSelector('metadata.name=a\\,b\\=c\\\\d');
    expect(s.requirements[0]?.value).toBe('a,b=c\\d');
    expect(s.toString()).toBe('metadata.name=a\\,b\\=c\\\\d');
    expect(parseFieldSelector('spec.nodeName=').requirements[0]).toEqual({ field: 'spec.nodeName', operator: '=', value: '' });
  });

  it('rejects a term without an operator with kube’s message', () => {
    const e = bad(() => parseFieldSelector('metadata.name'));
    expect(e.code).toBe(400);
    expect(e.message).toBe("invalid selector: 'metadata.name'; can't understand 'metadata.name'");
    expect(bad(() => parseFieldSelector('a=b\\x')).code).toBe(400);
  });

  it('describe node: pods on a node that are not finished', () => {
    const sel = parseFieldSelectorFor('Pod', 'spec.nodeName=n1,status.phase!=Succeeded,status.phase!=Failed');
    expect(matchesFieldSelector('Pod', sel, pod)).toBe(true);
    expect(matchesFieldSelector('Pod', sel, { ...pod, status: { phase: 'Succeeded' } })).toBe(false);
    expect(matchesFieldSelector('Pod', sel, { ...pod, spec: { nodeName: 'n2' } })).toBe(false);
    // Unscheduled pods have spec.nodeName "" (what a scheduler watches for).
    const unscheduled = parseFieldSelectorFor('Pod', 'spec.nodeName=');
    expect(matchesFieldSelector('Pod', unscheduled, { metadata: { name: 'x', namespace: 'd' }, spec: {} })).toBe(true);
    expect(matchesFieldSelector('Pod', unscheduled, pod)).toBe(false);
  });

  it('metadata.name works on every kind (kubectl get -w / wait / rollout status)', () => {
    for (const kind of ['Pod', 'Node', 'Namespace', 'Service', 'Deployment', 'ReplicaSet', 'ConfigMap', 'Lease', 'Endpoints']) {
      const sel = parseFieldSelectorFor(kind, 'metadata.name=x');
      expect(matchesFieldSelector(kind, sel, { metadata: { name: 'x' } })).toBe(true);
      expect(matchesFieldSelector(kind, sel, { metadata: { name: 'y' } })).toBe(false);
    }
  });

  it('events by involved object (describe)', () => {
    const ev = {
      metadata: { name: 'web.1', namespace: 'default' },
      involvedObject: { kind: 'Pod', namespace: 'default', name: 'web', uid: 'u1' },
      reason: 'Scheduled', type: 'Normal', source: { component: 'default-scheduler' },
    };
    const sel = parseFieldSelectorFor('Event', 'involvedObject.name=web,involvedObject.namespace=default,involvedObject.kind=Pod,involvedObject.uid=u1');
    expect(matchesFieldSelector('Event', sel, ev)).toBe(true);
    expect(matchesFieldSelector('Event', parseFieldSelectorFor('Event', 'involvedObject.uid=u2'), ev)).toBe(false);
    expect(selectableFields('Event', ev)).toMatchObject({ source: 'default-scheduler', reason: 'Scheduled', type: 'Normal' });
  });

  it('per-kind fields: nodes, secrets, namespaces', () => {
    expect(selectableFields('Node', { metadata: { name: 'n' }, spec: { unschedulable: true } })).toEqual({
      'metadata.name': 'n', 'spec.unschedulable': 'true',
    });
    expect(selectableFields('Node', { metadata: { name: 'n' } })['spec.unschedulable']).toBe('false');
    expect(matchesFieldSelector('Secret', parseFieldSelectorFor('Secret', 'type=Opaque'), { metadata: { name: 's' }, type: 'Opaque' })).toBe(true);
    expect(matchesFieldSelector('Namespace', parseFieldSelectorFor('Namespace', 'status.phase=Active'), { metadata: { name: 'd' }, status: { phase: 'Active' } })).toBe(true);
    expect(supportedFieldLabels('ConfigMap')).toEqual(['metadata.name', 'metadata.namespace']);
  });

  it('unsupported field labels are 400 with kube texts (own conversion vs. the default one)', () => {
    const e = bad(() => parseFieldSelectorFor('ConfigMap', 'data.x=1'));
    expect([e.code, e.reason, e.message]).toEqual([400, 'BadRequest', '"data.x" is not a known field selector: only "metadata.name", "metadata.namespace"']);
    expect(bad(() => parseFieldSelectorFor('Deployment', 'status.replicas=1')).message).toBe(
      '"status.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"',
    );
    expect(bad(() => parseFieldSelectorFor('Pod', 'spec.containers=x')).message).toBe('field label not supported: spec.containers');
    expect(bad(() => parseFieldSelectorFor('Node', 'metadata.namespace=x')).message).toBe('field label not supported: metadata.namespace');
    expect(() => checkFieldSelector('Pod', parseFieldSelector('status.podIP=1.2.3.4'))).not.toThrow();
    // The old spec.host alias still selects on spec.nodeName.
    const alias = parseFieldSelectorFor('Pod', 'spec.host=n1');
    expect(alias.requirements).toEqual([{ field: 'spec.nodeName', operator: '=', value: 'n1' }]);
    expect(matchesFieldSelector('Pod', alias, pod)).toBe(true);
    expect(matchesFieldSelector('Service', parseFieldSelectorFor('Service', 'spec.type=ClusterIP'), { metadata: { name: 's' }, spec: { type: 'ClusterIP' } })).toBe(true);
  });
});
