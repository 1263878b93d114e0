// Strategic merge patch checked against the real implementation: `kubectl patch --local
// --type strategic` runs k8s.io/apimachinery's strategicpatch with the Go API structs (the same
// code and patch tags kube-apiserver uses) without a server. Every case must give the object
// kubectl gives. Needs kubectl on PATH (or $KUBECTL); without it the test fails.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import type { JsonObject, JsonValue } from '../../../src/kube/machinery/json.js';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from '../../../src/kube/machinery/patch.js';

const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const dir = mkdtempSync(join(tmpdir(), 'ketch-smp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function kubectlPatch(name: string, original: JsonObject, patch: JsonValue, type = 'strategic'): Promise<JsonObject> {
  const file = join(dir, `${name.replace(/[^a-z0-9]+/gi, '-')}.json`);
  writeFileSync(file, JSON.stringify(original));
  return new Promise((resolve, reject) => {
    execFile(
      KUBECTL,
      ['patch', '-f', file, '--local', '--type', type, '-p', JSON.stringify(patch), '-o', 'json', '--server', 'http://127.0.0.1:1'],
      { timeout: 30_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`kubectl failed: ${stderr || err.message}`));
        else resolve(JSON.parse(stdout) as JsonObject);
      },
    );
  });
}

const meta = { name: 'x', namespace: 'default' };

function deploy(spec: JsonObject, extraMeta: JsonObject = {}): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { ...meta, labels: { app: 'web' }, ...extraMeta },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      template: { metadata: { labels: { app: 'web' } }, spec },
    },
  };
}

const c3: JsonObject = {
  containers: [
    {
      name: 'c',
      image: 'nginx:1.20',
      ports: [{ containerPort: 80, protocol: 'TCP' }, { containerPort: 8080, name: 'alt' }],
      env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }, { name: 'C', value: '3' }],
      volumeMounts: [{ name: 'v', mountPath: '/v' }],
    },
    { name: 'side', image: 'busybox' },
  ],
  volumes: [{ name: 'v', emptyDir: {} }],
  tolerations: [{ key: 't1', operator: 'Exists' }],
  imagePullSecrets: [{ name: 'reg' }],
};

const tpl = (spec: JsonObject): JsonObject => ({ spec: { template: { spec } } });

const cases: [string, JsonObject, JsonObject][] = [
  [
    'measured apply body: image change and added port',
    deploy(c3),
    JSON.parse(
      '{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"c"},{"name":"side"}],"containers":[{"$setElementOrder/ports":[{"containerPort":80},{"containerPort":443}],"image":"nginx:1.21","name":"c","ports":[{"containerPort":443}]}]}}}}',
    ) as JsonObject,
  ],
  ['delete a container', deploy(c3), tpl({ '$setElementOrder/containers': [{ name: 'side' }], containers: [{ $patch: 'delete', name: 'c' }] })],
  [
    'insert env in the middle by order',
    deploy(c3),
    tpl({ containers: [{ name: 'c', '$setElementOrder/env': [{ name: 'A' }, { name: 'X' }, { name: 'B' }, { name: 'C' }], env: [{ name: 'X', value: 'x' }] }] }),
  ],
  ['server-only env stays in place', deploy(c3), tpl({ containers: [{ name: 'c', '$setElementOrder/env': [{ name: 'C' }, { name: 'A' }], env: [{ name: 'C', value: 'z' }] }] })],
  ['new items without order directive', deploy(c3), tpl({ containers: [{ name: 'c', env: [{ name: 'Z', value: 'z' }, { name: 'A', value: 'a' }] }] })],
  ['reorder containers only', deploy(c3), tpl({ '$setElementOrder/containers': [{ name: 'side' }, { name: 'c' }] })],
  ['tolerations and imagePullSecrets', deploy(c3), tpl({ tolerations: [{ key: 't2', operator: 'Exists' }], imagePullSecrets: [{ name: 'other' }] })],
  ['replace a list', deploy(c3), tpl({ containers: [{ name: 'n', image: 'i' }, { $patch: 'replace' }] })],
  ['replace a map', deploy(c3), { spec: { selector: { $patch: 'replace', matchLabels: { app: 'x' } } } }],
  ['delete a map', deploy(c3), { spec: { strategy: { $patch: 'delete' } } }],
  ['retainKeys on strategy', deploy(c3), { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate', rollingUpdate: null } } }],
  ['retainKeys on a volume', deploy(c3), tpl({ volumes: [{ name: 'v', $retainKeys: ['name', 'configMap'], configMap: { name: 'cm' } }] })],
  ['labels, annotations, null deletes', deploy(c3, { annotations: { a: '1', b: '2' } }), { metadata: { labels: { app: null, t: 'x' }, annotations: { a: null } }, spec: { replicas: 5 } }],
  ['finalizers merge', deploy(c3, { finalizers: ['a', 'b'] }), { metadata: { finalizers: ['c', 'a'] } }],
  ['finalizers delete', deploy(c3, { finalizers: ['a', 'b'] }), { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } }],
  ['finalizers order', deploy(c3, { finalizers: ['a', 'b'] }), { metadata: { '$setElementOrder/finalizers': ['b', 'a'], finalizers: ['b'] } }],
  [
    'ownerReferences by uid',
    deploy(c3, { ownerReferences: [{ apiVersion: 'v1', kind: 'X', name: 'o', uid: 'u1' }] }),
    { metadata: { ownerReferences: [{ apiVersion: 'v1', kind: 'X', name: 'o2', uid: 'u2' }, { apiVersion: 'v1', kind: 'X', name: 'renamed', uid: 'u1' }] } },
  ],
  [
    'service ports by port',
    { apiVersion: 'v1', kind: 'Service', metadata: meta, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }, { port: 81 }] } },
    { spec: { '$setElementOrder/ports': [{ port: 443 }, { port: 80 }, { port: 81 }], ports: [{ port: 443, targetPort: 8443 }, { port: 80, name: 'http' }] } },
  ],
  [
    'pod status conditions by type',
    {
      apiVersion: 'v1', kind: 'Pod', metadata: meta,
      spec: { containers: [{ name: 'c', image: 'i' }] },
      status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True' }, { type: 'Ready', status: 'False' }] },
    },
    { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }, { type: 'Initialized', status: 'True' }], podIPs: [{ ip: '10.0.0.1' }] } },
  ],
  [
    'node addresses and conditions',
    {
      apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, spec: { podCIDRs: ['10.0.0.0/24'] },
      status: { addresses: [{ type: 'InternalIP', address: '1.1.1.1' }], conditions: [{ type: 'Ready', status: 'True' }] },
    },
    { spec: { podCIDRs: ['10.0.1.0/24'] }, status: { addresses: [{ type: 'Hostname', address: 'n1' }], conditions: [{ type: 'Ready', status: 'False', reason: 'KubeletNotReady' }] } },
  ],
  [
    'configmap data',
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta, data: { a: '1', b: '2' } },
    { data: { a: null, c: '3' }, metadata: { labels: { x: 'y' } } },
  ],
  [
    'lease spec replaced field-wise',
    { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: meta, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } },
    { spec: { holderIdentity: 'b', renewTime: '2024-01-01T00:00:00.000000Z' } },
  ],
];

describe('strategic merge patch matches kubectl patch --local', () => {
  it.each(cases)('%s', async (name, original, patch) => {
    const want = await kubectlPatch(name, original, patch);
    const got = applyStrategicMergePatch(original, patch, String(original.kind));
    // toEqual compares lists in order, so item placement must match kubectl's too.
    expect(got).toEqual(want);
  }, 60_000);
});

describe('JSON patch and merge patch match kubectl patch --local', () => {
  const d = deploy(c3, { annotations: { 'deployment.kubernetes.io/revision': '2' } });
  it('rollout-undo style JSON patch with add/remove/move/copy/test', async () => {
    const ops: JsonValue = [
      { op: 'test', path: '/spec/replicas', value: 2 },
      { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'nginx:1.19' },
      { op: 'add', path: '/spec/template/spec/containers/0/env/1', value: { name: 'N', value: 'n' } },
      { op: 'remove', path: '/spec/template/spec/containers/1' },
      { op: 'copy', from: '/metadata/labels', path: '/metadata/annotations/copied~1labels' },
      { op: 'move', from: '/spec/strategy', path: '/spec/oldStrategy' },
      { op: 'add', path: '/spec/template/spec/tolerations/-', value: { key: 'e', operator: 'Exists' } },
    ];
    expect(applyJsonPatch(d, ops)).toEqual(await kubectlPatch('json-1', d, ops, 'json'));
  }, 60_000);
  it('merge patch replaces lists whole and deletes with null', async () => {
    const p: JsonValue = { metadata: { labels: { app: null, z: '1' } }, spec: { replicas: 4, template: { spec: { tolerations: [] } } } };
    expect(applyMergePatch(d, p)).toEqual(await kubectlPatch('merge-1', d, p, 'merge'));
  }, 60_000);
});
