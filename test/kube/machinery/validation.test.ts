// Validation messages as kube-apiserver answers them (pkg/apis/core/validation, apps/validation).
// Sample texts are from real clusters, e.g. `kubectl run Bad_Name --image=x`:
//   Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain ...
import { describe, expect, it } from 'vitest';

import { applyDefaults } from '../../../src/kube/machinery/defaults.js';
import type { JsonObject } from '../../../src/kube/machinery/json.js';
import { isDns1035Label, isDns1123Label, isDns1123Subdomain, isQualifiedName, isValidLabelValue, regexError } from '../../../src/kube/machinery/names.js';
import { fieldErrorString, invalid } from '../../../src/kube/machinery/status.js';
import { validate } from '../../../src/kube/machinery/validation.js';

function errors(kind: string, obj: JsonObject, old?: JsonObject): string[] {
  const d = applyDefaults(kind, obj);
  return validate(kind, d, old === undefined ? undefined : applyDefaults(kind, old)).map(fieldErrorString);
}

const pod = (spec: JsonObject, meta: JsonObject = { name: 'p', namespace: 'default' }): JsonObject => ({ kind: 'Pod', metadata: meta, spec });
const deploy = (spec: JsonObject): JsonObject => ({ kind: 'Deployment', metadata: { name: 'web', namespace: 'default' }, spec });
const good = { containers: [{ name: 'c', image: 'nginx', ports: [{ containerPort: 80 }] }] };

describe('name syntax (apimachinery util/validation)', () => {
  it('matches kube texts, including the double space between examples', () => {
    expect(isDns1123Subdomain('Bad_Name')).toEqual([
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ]);
    expect(isDns1123Label('a.b')).toEqual(['must not contain dots']);
    expect(isDns1123Label('x'.repeat(64))).toEqual(['must be no more than 63 characters']);
    expect(isDns1035Label('1abc')[0]).toContain("(e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')");
    expect(isQualifiedName('example.com/app')).toEqual([]);
    expect(isQualifiedName('/app')).toEqual(['prefix part must be non-empty']);
    expect(isQualifiedName('a/b/c')[0]).toMatch(/^a qualified name must consist of/);
    expect(isValidLabelValue('')).toEqual([]);
    expect(isValidLabelValue('-x')).toHaveLength(1);
    expect(regexError('m', 'f')).toBe("m (regex used for validation is 'f')");
  });
});

describe('validate', () => {
  it('accepts good objects of every kind', () => {
    expect(errors('Pod', pod(good))).toEqual([]);
    expect(errors('Deployment', deploy({ selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: good } }))).toEqual([]);
    expect(errors('Service', { metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } })).toEqual([]);
    expect(errors('Namespace', { metadata: { name: 'dev' } })).toEqual([]);
    expect(errors('ConfigMap', { metadata: { name: 'c', namespace: 'd' }, data: { 'a.conf': 'x' } })).toEqual([]);
    expect(errors('Lease', { metadata: { name: 'l', namespace: 'kube-node-lease' }, spec: { holderIdentity: 'n1', leaseDurationSeconds: 40, renewTime: '2024-01-01T00:00:00.000000Z' } })).toEqual([]);
    expect(errors('Node', { metadata: { name: 'n1' } })).toEqual([]);
  });

  it('metadata: names per kind, namespace scope, labels, annotations, finalizers', () => {
    expect(errors('Pod', pod(good, { name: 'Bad_Name', namespace: 'default' }))[0]).toMatch(/^metadata\.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/);
    expect(errors('Pod', pod(good, { namespace: 'default' }))).toEqual(['metadata.name: Required value: name or generateName is required']);
    expect(errors('Pod', pod(good, { generateName: 'web-', namespace: 'default' }))).toEqual([]);
    expect(errors('Pod', pod(good, { name: 'p' }))).toEqual(['metadata.namespace: Required value']);
    expect(errors('Namespace', { metadata: { name: 'a.b' } })).toEqual(['metadata.name: Invalid value: "a.b": must not contain dots']);
    expect(errors('Service', { metadata: { name: '1web', namespace: 'd' }, spec: { ports: [{ port: 80 }] } })[0]).toMatch(/^metadata\.name: Invalid value: "1web": a DNS-1035 label/);
    // Defaulting drops a namespace on cluster-scoped kinds as kube's BeforeCreate does; without it, Forbidden.
    expect(errors('Node', { metadata: { name: 'n', namespace: 'x' } })).toEqual([]);
    expect(validate('Node', { metadata: { name: 'n', namespace: 'x' } }).map(fieldErrorString)).toEqual(['metadata.namespace: Forbidden: not allowed on this type']);
    const l = errors('ConfigMap', { metadata: { name: 'c', namespace: 'd', labels: { 'bad key': 'v', ok: 'bad value' } } });
    expect(l[0]).toMatch(/^metadata\.labels: Invalid value: "bad key": name part must consist of/);
    expect(l[1]).toMatch(/^metadata\.labels: Invalid value: "bad value": a valid label must be an empty string/);
    expect(errors('ConfigMap', { metadata: { name: 'c', namespace: 'd', annotations: { big: 'x'.repeat(300_000) } } })).toEqual([
      'metadata.annotations: Too long: may not be more than 262144 bytes',
    ]);
    expect(errors('ConfigMap', { metadata: { name: 'c', namespace: 'd', finalizers: ['kubernetes', 'example.com/x', 'bogus'] } })).toEqual([
      'metadata.finalizers[2]: Invalid value: "bogus": name is neither a standard finalizer name nor is it fully qualified',
    ]);
  });

  it('pods: required containers, names, images, ports, policies, volume mounts', () => {
    expect(errors('Pod', pod({ containers: [] }))).toEqual(['spec.containers: Required value']);
    expect(errors('Pod', pod({ containers: [{ name: 'c' }] }))).toEqual(['spec.containers[0].image: Required value']);
    expect(errors('Pod', pod({ containers: [{ image: 'x' }] }))).toEqual(['spec.containers[0].name: Required value']);
    expect(errors('Pod', pod({ containers: [{ name: 'c', image: 'x' }, { name: 'c', image: 'y' }] }))).toEqual(['spec.containers[1].name: Duplicate value: "c"']);
    expect(errors('Pod', pod({ containers: [{ name: 'C_1', image: 'x' }] }))[0]).toMatch(/^spec\.containers\[0\]\.name: Invalid value: "C_1": a lowercase RFC 1123 label/);
    expect(errors('Pod', pod({ containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 70000 }, { containerPort: 0 }] }] }))).toEqual([
      'spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive',
      'spec.containers[0].ports[1].containerPort: Required value',
    ]);
    expect(errors('Pod', pod({ containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 1, protocol: 'ICMP' }] }] }))).toEqual([
      'spec.containers[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
    ]);
    expect(errors('Pod', pod({ ...good, restartPolicy: 'Sometimes' }))).toEqual([
      'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
    ]);
    expect(errors('Pod', pod({ containers: [{ name: 'c', image: 'x', volumeMounts: [{ name: 'v', mountPath: '/v' }] }] }))).toEqual([
      'spec.containers[0].volumeMounts[0].name: Not found: "v"',
    ]);
    expect(errors('Pod', pod({ volumes: [{ name: 'v', emptyDir: {} }], containers: [{ name: 'c', image: 'x', volumeMounts: [{ name: 'v', mountPath: '/v' }] }] }))).toEqual([]);
  });

  it('pod updates may only change images, deadlines and add tolerations', () => {
    const base = pod(good);
    // (The stored pull policy travels with the patched object, as it does through kubectl.)
    expect(errors('Pod', pod({ containers: [{ name: 'c', image: 'nginx:2', imagePullPolicy: 'Always', ports: [{ containerPort: 80 }] }] }), base)).toEqual([]);
    const changed = errors('Pod', pod({ containers: [{ name: 'c', image: 'nginx', ports: [{ containerPort: 81 }] }] }), base);
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatch(/^spec: Forbidden: pod updates may not change fields other than `spec\.containers\[\*\]\.image`/);
    expect(errors('Pod', pod({ ...good, tolerations: [{ key: 'x', operator: 'Exists' }] }), base)).toEqual([]);
    // A binding sets spec.nodeName, which a pod update may not: validated as kube's binding path does.
    const bound = applyDefaults('Pod', pod({ ...good, nodeName: 'n1' }));
    expect(validate('Pod', bound, applyDefaults('Pod', base))).toHaveLength(1);
    expect(validate('Pod', bound, applyDefaults('Pod', base), { subresource: 'binding' })).toEqual([]);
    expect(errors('Pod', pod(good, { name: 'p', namespace: 'default', uid: 'b' }), pod(good, { name: 'p', namespace: 'default', uid: 'a' }))).toEqual([
      'metadata.uid: Invalid value: "b": field is immutable',
    ]);
  });

  it('deployments: selector required, must match template labels, immutable; strategy rules', () => {
    const tpl = { metadata: { labels: { app: 'web' } }, spec: good };
    expect(errors('Deployment', deploy({ template: tpl }))).toEqual(['spec.selector: Required value']);
    expect(errors('Deployment', deploy({ selector: { matchLabels: { app: 'other' } }, template: tpl }))).toEqual([
      'spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not match template `labels`',
    ]);
    expect(errors('Deployment', deploy({ selector: {}, template: tpl }))).toEqual(['spec.selector: Invalid value: {}: empty selector is invalid for deployment']);
    expect(errors('Deployment', deploy({ replicas: -1, selector: { matchLabels: { app: 'web' } }, template: tpl }))).toEqual([
      'spec.replicas: Invalid value: -1: must be greater than or equal to 0',
    ]);
    expect(errors('Deployment', deploy({ selector: { matchLabels: { app: 'web' } }, template: { ...tpl, spec: { ...good, restartPolicy: 'Never' } } }))).toEqual([
      'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"',
    ]);
    expect(
      errors('Deployment', deploy({ selector: { matchLabels: { app: 'web' } }, template: tpl, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } } })),
    ).toEqual(['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0']);
    expect(
      errors('Deployment', deploy({ selector: { matchLabels: { app: 'web' } }, template: tpl, strategy: { type: 'Recreate', rollingUpdate: {} } })),
    ).toEqual(["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"]);
    const old = deploy({ selector: { matchLabels: { app: 'web' } }, template: tpl });
    const tpl2 = { metadata: { labels: { app: 'web', v: '2' } }, spec: good };
    expect(errors('Deployment', deploy({ selector: { matchLabels: { app: 'web', v: '2' } }, template: tpl2 }), old)).toEqual([
      'spec.selector: Invalid value: {"matchLabels":{"app":"web","v":"2"}}: field is immutable',
    ]);
    // An invalid pod template reports paths under spec.template.spec.
    expect(errors('ReplicaSet', { kind: 'ReplicaSet', metadata: { name: 'r', namespace: 'd' }, spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c' }] } } } })).toEqual([
      'spec.template.spec.containers[0].image: Required value',
    ]);
  });

  it('services: ports, names, protocol, clusterIP immutable', () => {
    const svc = (spec: JsonObject): JsonObject => ({ metadata: { name: 's', namespace: 'd' }, spec });
    expect(errors('Service', svc({ ports: [] }))).toEqual(['spec.ports: Required value']);
    expect(errors('Service', svc({ clusterIP: 'None' }))).toEqual([]);
    // targetPort defaults to port, so kube reports both.
    expect(errors('Service', svc({ ports: [{ port: 0 }] }))).toEqual([
      'spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive',
      'spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive',
    ]);
    expect(errors('Service', svc({ ports: [{ port: 80 }, { port: 81 }] }))).toEqual(['spec.ports[0].name: Required value', 'spec.ports[1].name: Required value']);
    expect(errors('Service', svc({ ports: [{ port: 80, name: 'a' }, { port: 80, name: 'a' }] }))).toEqual([
      'spec.ports[1].name: Duplicate value: "a"',
      'spec.ports[1]: Duplicate value: {"port":80,"protocol":"TCP"}',
    ]);
    expect(errors('Service', svc({ type: 'Magic', ports: [{ port: 80 }] }))).toEqual([
      'spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
    ]);
    expect(errors('Service', svc({ clusterIP: '10.0.0.9', ports: [{ port: 80 }] }), svc({ clusterIP: '10.0.0.5', ports: [{ port: 80 }] }))).toEqual([
      'spec.clusterIP: Invalid value: "10.0.0.9": field is immutable',
    ]);
    expect(errors('Service', svc({ clusterIP: 'abc', ports: [{ port: 80 }] }))).toEqual(['spec.clusterIP: Invalid value: "abc": must be empty, \'None\', or a valid IP address']);
    expect(errors('Service', svc({ clusterIP: 'fd00::10', ports: [{ port: 80 }] }))).toEqual([]);
  });

  it('configmaps, secrets, leases, events', () => {
    expect(errors('ConfigMap', { metadata: { name: 'c', namespace: 'd' }, data: { 'bad key': 'x' } })).toEqual([
      "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
    ]);
    expect(errors('Secret', { metadata: { name: 's', namespace: 'd' }, type: 'kubernetes.io/tls' }, { metadata: { name: 's', namespace: 'd' } })).toEqual([
      'type: Invalid value: "kubernetes.io/tls": field is immutable',
    ]);
    expect(errors('Lease', { metadata: { name: 'l', namespace: 'd' }, spec: { leaseDurationSeconds: 0, leaseTransitions: -1 } })).toEqual([
      'spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0',
      'spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0',
    ]);
    expect(errors('Event', { metadata: { name: 'e', namespace: 'a' }, involvedObject: { namespace: 'b' } })).toEqual([
      'involvedObject.namespace: Invalid value: "b": does not match event.namespace',
    ]);
  });

  it('feeds the 422 message kubectl prints', () => {
    const errs = validate('Pod', applyDefaults('Pod', pod({ containers: [{ name: 'c' }] }, { name: 'x', namespace: 'default' })));
    expect(invalid('Pod', 'x', errs).message).toBe('Pod "x" is invalid: spec.containers[0].image: Required value');
  });
});
