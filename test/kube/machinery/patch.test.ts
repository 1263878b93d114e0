// Patches as kube-apiserver applies them. The strategic merge cases are the bodies kubectl
// actually sends (REFERENCE.md C1: measured with kubectl 1.20 apply) and cases from
// k8s.io/apimachinery pkg/util/strategicpatch/patch_test.go semantics (server-only items keep
// their place, $patch: delete/replace, $retainKeys, $deleteFromPrimitiveList, $setElementOrder).
import { describe, expect, it } from 'vitest';

import type { JsonObject, JsonValue } from '../../../src/kube/machinery/json.js';
import {
  applyJsonPatch,
  applyMergePatch,
  applyPatch,
  applyStrategicMergePatch,
  patchTypeOf,
} from '../../../src/kube/machinery/patch.js';
import { KubeStatusError } from '../../../src/kube/machinery/status.js';

function statusOf(fn: () => unknown): KubeStatusError {
  try {
    fn();
  } catch (e) {
    if (e instanceof KubeStatusError) return e;
    throw e;
  }
  throw new Error('expected a KubeStatusError');
}

function deployment(containers: JsonValue[]): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'web' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers, tolerations: [{ key: 'a', operator: 'Exists' }] } },
    },
  };
}

function containersOf(o: JsonValue): JsonValue {
  return (((o as JsonObject).spec as JsonObject).template as JsonObject).spec as JsonObject;
}

describe('strategic merge patch', () => {
  it('kubectl apply: image change plus an added port keeps port 80 (measured body, REFERENCE C1)', () => {
    const orig = deployment([{ name: 'c', image: 'nginx:1.20', ports: [{ containerPort: 80, protocol: 'TCP' }] }]);
    const patch = JSON.parse(
      '{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"c"}],"containers":[{"$setElementOrder/ports":[{"containerPort":80},{"containerPort":443}],"image":"nginx:1.21","name":"c","ports":[{"containerPort":443}]}]}}}}',
    ) as JsonValue;
    const out = applyStrategicMergePatch(orig, patch, 'Deployment');
    expect((containersOf(out) as JsonObject).containers).toEqual([
      { name: 'c', image: 'nginx:1.21', ports: [{ containerPort: 80, protocol: 'TCP' }, { containerPort: 443 }] },
    ]);
    // A plain JSON merge patch would have dropped port 80: the reason SMP exists.
    const naive = applyMergePatch(orig, patch) as JsonObject;
    expect(((containersOf(naive) as JsonObject).containers as JsonObject[])[0]?.ports).toEqual([{ containerPort: 443 }]);
    // Inputs are untouched.
    expect(JSON.stringify(orig)).toContain('nginx:1.20');
  });

  it('kubectl apply: removing a container sends $patch: delete', () => {
    const orig = deployment([{ name: 'a', image: 'x' }, { name: 'b', image: 'y' }]);
    const patch = { spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'a' }], containers: [{ $patch: 'delete', name: 'b' }] } } } };
    const out = applyStrategicMergePatch(orig, patch, 'Deployment');
    expect((containersOf(out) as JsonObject).containers).toEqual([{ name: 'a', image: 'x' }]);
  });

  it('a new list item lands where $setElementOrder puts it; server-only items keep their place', () => {
    const orig = deployment([
      { name: 'c', image: 'x', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }, { name: 'C', value: '3' }] },
    ]);
    const add = {
      spec: { template: { spec: { containers: [{ name: 'c', '$setElementOrder/env': [{ name: 'A' }, { name: 'X' }, { name: 'B' }, { name: 'C' }], env: [{ name: 'X', value: 'new' }] }] } } },
    };
    const env = (o: JsonObject): JsonValue => (((containersOf(o) as JsonObject).containers as JsonObject[])[0] as JsonObject).env ?? null;
    expect(env(applyStrategicMergePatch(orig, add, 'Deployment'))).toEqual([
      { name: 'A', value: '1' }, { name: 'X', value: 'new' }, { name: 'B', value: '2' }, { name: 'C', value: '3' },
    ]);
    // B was added by someone else (not in the order list): it stays between A and C.
    const change = {
      spec: { template: { spec: { containers: [{ name: 'c', '$setElementOrder/env': [{ name: 'A' }, { name: 'C' }], env: [{ name: 'C', value: 'changed' }] }] } } },
    };
    expect(env(applyStrategicMergePatch(orig, change, 'Deployment'))).toEqual([
      { name: 'A', value: '1' }, { name: 'B', value: '2' }, { name: 'C', value: 'changed' },
    ]);
  });

  it('without an order directive new items come first, then server-only ones (kube mergeSlice)', () => {
    const svc = { kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 80, targetPort: 8080 }] } };
    const out = applyStrategicMergePatch(svc, { spec: { ports: [{ port: 443 }] } }, 'Service');
    expect((out.spec as JsonObject).ports).toEqual([{ port: 443 }, { port: 80, targetPort: 8080 }]);
    const upd = applyStrategicMergePatch(svc, { spec: { ports: [{ port: 80, targetPort: 9090 }] } }, 'Service');
    expect((upd.spec as JsonObject).ports).toEqual([{ port: 80, targetPort: 9090 }]);
  });

  it('lists without a strategy (tolerations) are replaced; maps merge; null deletes', () => {
    const orig = deployment([{ name: 'c', image: 'x' }]);
    const out = applyStrategicMergePatch(
      orig,
      { metadata: { labels: { app: null, tier: 'front' } }, spec: { template: { spec: { tolerations: [{ key: 'b', operator: 'Exists' }] } } } },
      'Deployment',
    );
    expect((out.metadata as JsonObject).labels).toEqual({ tier: 'front' });
    expect((containersOf(out) as JsonObject).tolerations).toEqual([{ key: 'b', operator: 'Exists' }]);
    expect((containersOf(out) as JsonObject).containers).toEqual([{ name: 'c', image: 'x' }]);
  });

  it('$retainKeys on the deployment strategy (apply switching to Recreate)', () => {
    const orig = deployment([{ name: 'c', image: 'x' }]);
    const out = applyStrategicMergePatch(
      orig,
      { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate', rollingUpdate: null } } },
      'Deployment',
    );
    expect((out.spec as JsonObject).strategy).toEqual({ type: 'Recreate' });
    expect(statusOf(() => applyStrategicMergePatch(orig, { spec: { strategy: { $retainKeys: ['type'], rollingUpdate: {} } } }, 'Deployment')).code).toBe(400);
  });

  it('finalizers merge as a primitive list; $deleteFromPrimitiveList removes', () => {
    const pod = { kind: 'Pod', metadata: { name: 'p', finalizers: ['a', 'b'] }, spec: {} };
    expect((applyStrategicMergePatch(pod, { metadata: { finalizers: ['c', 'a'] } }, 'Pod').metadata as JsonObject).finalizers).toEqual([
      'c', 'a', 'b',
    ]);
    expect(
      (applyStrategicMergePatch(pod, { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } }, 'Pod').metadata as JsonObject).finalizers,
    ).toEqual(['b']);
    expect(
      (applyStrategicMergePatch(pod, { metadata: { '$setElementOrder/finalizers': ['b', 'a'] } }, 'Pod').metadata as JsonObject).finalizers,
    ).toEqual(['b', 'a']);
    // Deleting from a list the object does not have is a no-op.
    const bare = { kind: 'Pod', metadata: { name: 'p' } };
    expect(applyStrategicMergePatch(bare, { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } }, 'Pod').metadata).toEqual({ name: 'p' });
  });

  it('ownerReferences merge by uid, conditions by type', () => {
    const rs = {
      kind: 'ReplicaSet',
      metadata: { name: 'r', ownerReferences: [{ uid: 'u1', name: 'd', kind: 'Deployment', apiVersion: 'apps/v1' }] },
      status: { conditions: [{ type: 'A', status: 'True' }] },
    };
    const out = applyStrategicMergePatch(
      rs,
      { metadata: { ownerReferences: [{ uid: 'u2', name: 'e', kind: 'Deployment', apiVersion: 'apps/v1' }] }, status: { conditions: [{ type: 'A', status: 'False' }] } },
      'ReplicaSet',
    );
    expect(((out.metadata as JsonObject).ownerReferences as JsonObject[]).map((o) => o.uid)).toEqual(['u2', 'u1']);
    expect((out.status as JsonObject).conditions).toEqual([{ type: 'A', status: 'False' }]);
  });

  it('$patch: replace on a list and on a map; $patch: delete on a map', () => {
    const orig = deployment([{ name: 'a', image: 'x' }, { name: 'b', image: 'y' }]);
    const out = applyStrategicMergePatch(orig, { spec: { template: { spec: { containers: [{ name: 'z', image: 'q' }, { $patch: 'replace' }] } } } }, 'Deployment');
    expect((containersOf(out) as JsonObject).containers).toEqual([{ name: 'z', image: 'q' }]);
    const sel = applyStrategicMergePatch(orig, { spec: { selector: { $patch: 'replace', matchLabels: { app: 'other' } } } }, 'Deployment');
    expect((sel.spec as JsonObject).selector).toEqual({ matchLabels: { app: 'other' } });
    const del = applyStrategicMergePatch(orig, { spec: { strategy: { $patch: 'delete' } } }, 'Deployment');
    expect((del.spec as JsonObject).strategy).toEqual({});
  });

  it('volumes merge by name and volumeMounts by mountPath', () => {
    const pod = {
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: {
        volumes: [{ name: 'v1', emptyDir: {} }],
        containers: [{ name: 'c', image: 'i', volumeMounts: [{ name: 'v1', mountPath: '/a' }] }],
      },
    };
    const out = applyStrategicMergePatch(
      pod,
      { spec: { volumes: [{ name: 'v2', configMap: { name: 'cm' } }], containers: [{ name: 'c', volumeMounts: [{ name: 'v2', mountPath: '/b' }] }] } },
      'Pod',
    );
    expect(((out.spec as JsonObject).volumes as JsonObject[]).map((v) => v.name)).toEqual(['v2', 'v1']);
    expect((((out.spec as JsonObject).containers as JsonObject[])[0] as JsonObject).volumeMounts).toEqual([
      { name: 'v2', mountPath: '/b' }, { name: 'v1', mountPath: '/a' },
    ]);
  });

  it('kubectl label/annotate/scale-style patches and directives inside new content are dropped', () => {
    const cm = { kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: '1' } };
    const out = applyStrategicMergePatch(cm, { metadata: { labels: { x: 'y' }, annotations: { n: 'v' } }, data: { b: '2', a: null } }, 'ConfigMap');
    expect(out).toEqual({ kind: 'ConfigMap', metadata: { name: 'c', labels: { x: 'y' }, annotations: { n: 'v' } }, data: { b: '2' } });
    const pod = { kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i' }] } };
    const withEnv = applyStrategicMergePatch(
      pod,
      { spec: { containers: [{ name: 'c', '$setElementOrder/env': [{ name: 'A' }], env: [{ name: 'A', value: '1' }] }] } },
      'Pod',
    );
    expect((withEnv.spec as JsonObject).containers).toEqual([{ name: 'c', image: 'i', env: [{ name: 'A', value: '1' }] }]);
  });

  it('malformed patches are 400 (missing merge key, bad directive, not an object)', () => {
    const orig = deployment([{ name: 'a', image: 'x' }]);
    const noKey = statusOf(() => applyStrategicMergePatch(orig, { spec: { template: { spec: { containers: [{ image: 'y' }] } } } }, 'Deployment'));
    expect(noKey.code).toBe(400);
    expect(noKey.message).toContain('does not contain declared merge key: name');
    expect(statusOf(() => applyStrategicMergePatch(orig, { spec: { $patch: 'explode' } }, 'Deployment')).message).toMatch(/^unknown patch type: explode/);
    expect(statusOf(() => applyStrategicMergePatch(orig, [] as JsonValue, 'Deployment')).code).toBe(400);
    expect(statusOf(() => applyStrategicMergePatch(orig, { spec: { template: { spec: { '$setElementOrder/containers': 'x' } } } }, 'Deployment')).code).toBe(400);
  });
});

describe('JSON merge patch (RFC 7386)', () => {
  // Test vectors from RFC 7386 appendix A.
  const cases: [JsonValue, JsonValue, JsonValue][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  it.each(cases)('%j + %j', (target, patch, want) => {
    expect(applyMergePatch(target, patch)).toEqual(want);
  });

  it('kubectl scale body on a Scale', () => {
    const scale = { kind: 'Scale', apiVersion: 'autoscaling/v1', metadata: { name: 'web' }, spec: { replicas: 1 }, status: { replicas: 1 } };
    expect(applyPatch('merge', scale, { spec: { replicas: 3 } }, 'Scale')).toMatchObject({ spec: { replicas: 3 }, status: { replicas: 1 } });
  });
});

describe('JSON patch (RFC 6902)', () => {
  const doc: JsonObject = { foo: 'bar', baz: ['a', 'b'], 'x/y': 1, 'm~n': 2, obj: { k: 'v' } };

  it('add, remove, replace, move, copy, test with ~0/~1 escapes', () => {
    expect(applyJsonPatch(doc, [{ op: 'add', path: '/baz/1', value: 'q' }])).toMatchObject({ baz: ['a', 'q', 'b'] });
    expect(applyJsonPatch(doc, [{ op: 'add', path: '/baz/-', value: 'z' }])).toMatchObject({ baz: ['a', 'b', 'z'] });
    expect(applyJsonPatch(doc, [{ op: 'add', path: '/new', value: { a: 1 } }])).toMatchObject({ new: { a: 1 } });
    expect(applyJsonPatch(doc, [{ op: 'remove', path: '/x~1y' }])).not.toHaveProperty('x/y');
    expect(applyJsonPatch(doc, [{ op: 'replace', path: '/m~0n', value: 3 }])).toMatchObject({ 'm~n': 3 });
    expect(applyJsonPatch(doc, [{ op: 'move', from: '/foo', path: '/obj/foo' }])).toEqual({
      baz: ['a', 'b'], 'x/y': 1, 'm~n': 2, obj: { k: 'v', foo: 'bar' },
    });
    expect(applyJsonPatch(doc, [{ op: 'copy', from: '/obj', path: '/obj2' }])).toMatchObject({ obj: { k: 'v' }, obj2: { k: 'v' } });
    expect(applyJsonPatch(doc, [{ op: 'test', path: '/baz', value: ['a', 'b'] }, { op: 'remove', path: '/baz/0' }])).toMatchObject({ baz: ['b'] });
    expect(applyJsonPatch(doc, [{ op: 'replace', path: '', value: { whole: true } }])).toEqual({ whole: true });
    expect(doc.foo).toBe('bar'); // input untouched
  });

  it('kubectl rollout undo body: replace template and annotations', () => {
    const d = deployment([{ name: 'c', image: 'nginx:1.21' }]);
    (d.metadata as JsonObject).annotations = { 'deployment.kubernetes.io/revision': '2' };
    const tmpl = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx:1.20' }] } };
    const out = applyJsonPatch(d, [
      { op: 'replace', path: '/spec/template', value: tmpl },
      { op: 'replace', path: '/metadata/annotations', value: { 'deployment.kubernetes.io/revision': '1' } },
    ]) as JsonObject;
    expect((out.spec as JsonObject).template).toEqual(tmpl);
    // replace of a missing key fails in RFC 6902; kube's json-patch library does the same.
    expect(statusOf(() => applyJsonPatch({ a: 1 }, [{ op: 'replace', path: '/metadata/annotations', value: {} }])).code).toBe(422);
  });

  it('a failed test or bad path aborts atomically with 422; bad documents are 400', () => {
    const failed = statusOf(() => applyJsonPatch(doc, [{ op: 'remove', path: '/foo' }, { op: 'test', path: '/baz/0', value: 'nope' }]));
    expect([failed.code, failed.reason]).toEqual([422, 'Invalid']);
    expect(failed.status.details?.causes?.[0]?.message).toContain('test failed');
    expect(statusOf(() => applyJsonPatch(doc, [{ op: 'remove', path: '/nope' }])).code).toBe(422);
    expect(statusOf(() => applyJsonPatch(doc, [{ op: 'add', path: '/baz/7', value: 1 }])).code).toBe(422);
    expect(statusOf(() => applyJsonPatch(doc, [{ op: 'move', from: '/obj', path: '/obj/inner' }])).code).toBe(422);
    expect(statusOf(() => applyJsonPatch(doc, { op: 'add' })).code).toBe(400);
    expect(statusOf(() => applyJsonPatch(doc, [{ op: 'frobnicate', path: '/a' }])).code).toBe(400);
    expect(statusOf(() => applyJsonPatch(doc, [{ op: 'add', path: '/a' }])).code).toBe(400);
  });
});

describe('patch content types', () => {
  it('maps Content-Type to patch types and answers 415 otherwise', () => {
    expect(patchTypeOf('application/strategic-merge-patch+json')).toBe('strategic');
    expect(patchTypeOf('application/merge-patch+json; charset=utf-8')).toBe('merge');
    expect(patchTypeOf('application/json-patch+json')).toBe('json');
    const e = statusOf(() => patchTypeOf('application/json'));
    expect(e.code).toBe(415);
    expect(e.message).toBe(
      'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json',
    );
    expect(statusOf(() => patchTypeOf('application/apply-patch+yaml')).code).toBe(415);
  });
});
