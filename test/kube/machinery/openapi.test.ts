// The OpenAPI documents: the gnostic protobuf decoded back with the OpenAPIv2.proto field numbers
// (google/gnostic openapiv2/OpenAPIv2.proto), and real kubectl driven against a loopback HTTP
// server that serves only discovery and these documents: `kubectl explain` (v3 and, with
// /openapi/v3 absent, v2), client-side validation in `apply --dry-run=client`, and the strategic
// merge patch kubectl computes from our patch extensions (must be the measured body of
// REFERENCE.md C1). Needs kubectl on PATH (or $KUBECTL); without it the test fails.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { apiGroupList, apiResourceList, apiVersions } from '../../../src/kube/machinery/discovery.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../../../src/kube/machinery/json.js';
import {
  OPENAPI_V2_PROTOBUF_CONTENT_TYPE,
  definitionName,
  openapiDefinitions,
  openapiV2Json,
  openapiV2Protobuf,
  openapiV3Discovery,
  openapiV3Document,
} from '../../../src/kube/machinery/openapi.js';
import { findResource, resourceCatalogue } from '../../../src/kube/machinery/resources.js';

// The subset of OpenAPIv2.proto we emit (field numbers as in gnostic).
const GNOSTIC_SUBSET = `
syntax = "proto3";
package openapi.v2;
message Document { string swagger = 1; Info info = 2; Paths paths = 8; Definitions definitions = 9; }
message Info { string title = 1; string version = 2; }
message Paths { repeated NamedAny vendor_extension = 1; }
message Definitions { repeated NamedSchema additional_properties = 1; }
message NamedSchema { string name = 1; Schema value = 2; }
message Schema {
  string _ref = 1; string format = 2; string description = 4; repeated string required = 19;
  AdditionalPropertiesItem additional_properties = 21; TypeItem type = 22; ItemsItem items = 23;
  Properties properties = 25; repeated NamedAny vendor_extension = 31;
}
message AdditionalPropertiesItem { oneof oneof { Schema schema = 1; bool boolean = 2; } }
message TypeItem { repeated string value = 1; }
message ItemsItem { repeated Schema schema = 1; }
message Properties { repeated NamedSchema additional_properties = 1; }
message NamedAny { string name = 1; Any value = 2; }
message Any { string yaml = 2; }
`;

interface PbSchema {
  _ref?: string;
  format?: string;
  description?: string;
  required?: string[];
  type?: { value: string[] };
  items?: { schema: PbSchema[] };
  properties?: { additionalProperties: { name: string; value: PbSchema }[] };
  additionalProperties?: { schema?: PbSchema };
  vendorExtension?: { name: string; value: { yaml: string } }[];
}

function decodeDoc(): { swagger: string; defs: Map<string, PbSchema> } {
  const root = protobuf.parse(GNOSTIC_SUBSET, { keepCase: false }).root;
  const Document = root.lookupType('openapi.v2.Document');
  const msg = Document.toObject(Document.decode(openapiV2Protobuf()), { defaults: false, arrays: true }) as {
    swagger: string;
    definitions: { additionalProperties: { name: string; value: PbSchema }[] };
  };
  return { swagger: msg.swagger, defs: new Map(msg.definitions.additionalProperties.map((d) => [d.name, d.value])) };
}

function prop(s: PbSchema | undefined, name: string): PbSchema | undefined {
  return s?.properties?.additionalProperties.find((p) => p.name === name)?.value;
}

function ext(s: PbSchema | undefined, name: string): string | undefined {
  return s?.vendorExtension?.find((e) => e.name === name)?.value.yaml;
}

describe('OpenAPI v2 protobuf', () => {
  const { swagger, defs } = decodeDoc();

  it('is a gnostic Document with kube definitions and GVK extensions for every served kind', () => {
    expect(swagger).toBe('2.0');
    expect(defs.size).toBe(Object.keys(openapiDefinitions()).length);
    for (const r of resourceCatalogue) {
      const d = defs.get(definitionName(r));
      expect(d, definitionName(r)).toBeDefined();
      expect(JSON.parse(ext(d, 'x-kubernetes-group-version-kind') ?? 'null')).toEqual([{ group: r.group, kind: r.kind, version: r.version }]);
    }
    expect(JSON.parse(ext(defs.get('io.k8s.api.autoscaling.v1.Scale'), 'x-kubernetes-group-version-kind') ?? 'null')).toEqual([
      { group: 'autoscaling', kind: 'Scale', version: 'v1' },
    ]);
  });

  it('every $ref resolves (kubectl rejects a document with a dangling reference)', () => {
    const refs: string[] = [];
    const walk = (s: PbSchema | undefined): void => {
      if (s === undefined) return;
      if (s._ref !== undefined && s._ref !== '') refs.push(s._ref);
      for (const p of s.properties?.additionalProperties ?? []) walk(p.value);
      for (const i of s.items?.schema ?? []) walk(i);
      walk(s.additionalProperties?.schema);
    };
    for (const d of defs.values()) walk(d);
    expect(refs.length).toBeGreaterThan(100);
    for (const r of refs) expect(defs.has(r.replace('#/definitions/', '')), r).toBe(true);
  });

  it('carries types, required fields, maps and the patch strategies the server applies', () => {
    const container = defs.get('io.k8s.api.core.v1.Container');
    expect(container?.required).toEqual(['name']);
    expect(prop(container, 'ports')?.type?.value).toEqual(['array']);
    expect(ext(prop(container, 'ports'), 'x-kubernetes-patch-merge-key')).toBe('"containerPort"\n');
    expect(ext(prop(container, 'ports'), 'x-kubernetes-patch-strategy')).toBe('"merge"\n');
    expect(prop(defs.get('io.k8s.api.core.v1.ContainerPort'), 'containerPort')?.type?.value).toEqual(['integer']);
    const podSpec = defs.get('io.k8s.api.core.v1.PodSpec');
    expect(ext(prop(podSpec, 'containers'), 'x-kubernetes-patch-merge-key')).toBe('"name"\n');
    expect(ext(prop(podSpec, 'volumes'), 'x-kubernetes-patch-strategy')).toBe('"merge,retainKeys"\n');
    expect(ext(prop(podSpec, 'tolerations'), 'x-kubernetes-patch-strategy')).toBeUndefined();
    expect(ext(prop(defs.get('io.k8s.api.apps.v1.DeploymentSpec'), 'strategy'), 'x-kubernetes-patch-strategy')).toBe('"retainKeys"\n');
    expect(ext(prop(defs.get('io.k8s.api.core.v1.ServiceSpec'), 'ports'), 'x-kubernetes-patch-merge-key')).toBe('"port"\n');
    expect(ext(prop(defs.get('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'), 'finalizers'), 'x-kubernetes-patch-strategy')).toBe('"merge"\n');
    const labels = prop(defs.get('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'), 'labels');
    expect(labels?.type?.value).toEqual(['object']);
    expect(labels?.additionalProperties?.schema?.type?.value).toEqual(['string']);
    expect(defs.get('io.k8s.apimachinery.pkg.util.intstr.IntOrString')?.format).toBe('int-or-string');
    expect(defs.get('io.k8s.apimachinery.pkg.apis.meta.v1.Time')?.format).toBe('date-time');
    expect(openapiV2Json().swagger).toBe('2.0');
  });
});

describe('OpenAPI v3', () => {
  it('discovery lists every group version with a hashed URL; documents hold paths with GVKs', () => {
    const disc = openapiV3Discovery();
    const paths = disc.paths as JsonObject;
    expect(Object.keys(paths).sort()).toEqual([
      'api/v1',
      'apis/apps/v1',
      'apis/authorization.k8s.io/v1',
      'apis/autoscaling/v1',
      'apis/coordination.k8s.io/v1',
      'apis/events.k8s.io/v1',
      'apis/rbac.authorization.k8s.io/v1',
    ]);
    const apps = paths['apis/apps/v1'] as JsonObject;
    expect(apps.serverRelativeURL).toMatch(/^\/openapi\/v3\/apis\/apps\/v1\?hash=[0-9A-F]{128}$/);
    const doc = JSON.parse(openapiV3Document('apis/apps/v1')?.json ?? '{}') as JsonObject;
    const op = ((doc.paths as JsonObject)['/apis/apps/v1/namespaces/{namespace}/deployments/{name}'] as JsonObject).get as JsonObject;
    expect(op['x-kubernetes-group-version-kind']).toEqual({ group: 'apps', kind: 'Deployment', version: 'v1' });
    const schemas = (doc.components as JsonObject).schemas as JsonObject;
    const spec = ((schemas['io.k8s.api.apps.v1.Deployment'] as JsonObject).properties as JsonObject).spec as JsonObject;
    expect(spec.allOf).toEqual([{ $ref: '#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec' }]);
    expect(openapiV3Document('apis/batch/v1')).toBeUndefined();
    expect(openapiV3Document('/api/v1/')?.hash).toBe(openapiV3Document('api/v1')?.hash);
  });
});

// ---- real kubectl against a discovery + OpenAPI stub ----------------------------------------------

const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const LAST_APPLIED: JsonObject = {
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'default' },
  spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx:1.20', ports: [{ containerPort: 80 }] }] } } },
};

class Stub {
  server: Server;
  port = 0;
  serveV3 = true;
  patches: { contentType: string; body: JsonValue }[] = [];
  constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
  }
  private handle(req: IncomingMessage, res: ServerResponse): void {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const json = (code: number, v: JsonValue): void => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(v));
      };
      const path = new URL(req.url ?? '/', 'http://stub').pathname;
      const live: JsonObject = JSON.parse(JSON.stringify(LAST_APPLIED)) as JsonObject;
      (live.metadata as JsonObject).annotations = { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(LAST_APPLIED) };
      (live.metadata as JsonObject).resourceVersion = '5';
      if (req.method === 'PATCH') {
        this.patches.push({ contentType: String(req.headers['content-type']), body: JSON.parse(body) as JsonValue });
        return json(200, live);
      }
      if (path === '/api') return json(200, apiVersions(`127.0.0.1:${this.port}`) as unknown as JsonValue);
      if (path === '/apis') return json(200, apiGroupList() as unknown as JsonValue);
      const gv = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(path);
      if (gv !== null) {
        const list = gv[1] !== undefined ? apiResourceList('', 'v1') : apiResourceList(gv[2] ?? '', gv[3] ?? '');
        return list === undefined ? json(404, {}) : json(200, list as unknown as JsonValue);
      }
      if (path === '/openapi/v2') {
        res.writeHead(200, { 'content-type': OPENAPI_V2_PROTOBUF_CONTENT_TYPE });
        return res.end(Buffer.from(openapiV2Protobuf()));
      }
      if (this.serveV3 && path === '/openapi/v3') return json(200, openapiV3Discovery());
      if (this.serveV3 && path.startsWith('/openapi/v3/')) {
        const doc = openapiV3Document(path.slice('/openapi/v3/'.length));
        if (doc !== undefined) {
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end(doc.json);
        }
      }
      if (path === '/apis/apps/v1/namespaces/default/deployments/web') return json(200, live);
      return json(404, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'not found', reason: 'NotFound', code: 404 });
    });
  }
}

describe('real kubectl against our discovery and OpenAPI documents', () => {
  const stub = new Stub();
  const dir = mkdtempSync(join(tmpdir(), 'ketch-oas-'));
  let cache = 0;

  beforeAll(async () => {
    await new Promise<void>((resolve) => stub.server.listen(0, '127.0.0.1', resolve));
    stub.port = (stub.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => stub.server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  function kubectl(...args: string[]): Promise<{ code: number; out: string }> {
    // A fresh cache per call: kubectl caches discovery and OpenAPI on disk (REFERENCE.md C3).
    const cacheDir = join(dir, `cache-${cache++}`);
    return new Promise((resolve) => {
      execFile(KUBECTL, ['--server', `http://127.0.0.1:${stub.port}`, '--cache-dir', cacheDir, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, out: `${stdout}${stderr}` });
      });
    });
  }

  // kubectl 1.27+ explains from v3, older ones from v2 (then the header spacing differs).
  it('explain (OpenAPI v3 where kubectl uses it)', async () => {
    stub.serveV3 = true;
    const r = await kubectl('explain', 'pod.spec.containers.ports');
    expect(r.out).toMatch(/KIND:\s+Pod/);
    expect(r.out).toMatch(/containerPort\s+<integer> -required-/);
    const d = await kubectl('explain', 'deployments.spec.strategy');
    expect(d.out).toMatch(/(GROUP:\s+apps|VERSION:\s+apps\/v1)/);
    expect(d.out).toMatch(/rollingUpdate\s+<(RollingUpdateDeployment|Object)>/);
  }, 90_000);

  it('explain falls back to OpenAPI v2 when /openapi/v3 is absent', async () => {
    stub.serveV3 = false;
    try {
      const r = await kubectl('explain', 'pod.spec.restartPolicy');
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/FIELD:\s+restartPolicy <string>/);
      const l = await kubectl('explain', 'lease.spec');
      expect(l.out).toMatch(/holderIdentity\s+<string>/);
    } finally {
      stub.serveV3 = true;
    }
  }, 90_000);

  it('client-side validation accepts real manifests and rejects unknown fields like kube', async () => {
    const good = join(dir, 'good.yaml');
    writeFileSync(
      good,
      [
        'apiVersion: apps/v1', 'kind: Deployment', 'metadata: {name: front, labels: {app: web}}', 'spec:', '  replicas: 2',
        '  selector: {matchLabels: {app: web}}', '  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: "25%"}}',
        '  template:', '    metadata: {labels: {app: web}, creationTimestamp: null}', '    spec:', '      containers:',
        '      - name: c', '        image: nginx:1.21', '        ports: [{containerPort: 80}]',
        '        env: [{name: A, value: "1"}, {name: P, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]',
        '        resources: {limits: {cpu: 500m, memory: 128Mi}}', '        livenessProbe: {httpGet: {path: /, port: 80}}',
        '      volumes: [{name: v, emptyDir: {}}]', '---', 'apiVersion: v1', 'kind: Service', 'metadata: {name: web}',
        'spec: {selector: {app: web}, ports: [{port: 80, targetPort: http}]}', '---', 'apiVersion: coordination.k8s.io/v1',
        'kind: Lease', 'metadata: {name: l}', 'spec: {holderIdentity: x, leaseDurationSeconds: 10}', '',
      ].join('\n'),
    );
    const ok = await kubectl('apply', '--dry-run=client', '-f', good);
    expect(ok.out).toContain('deployment.apps/front created (dry run)');
    expect(ok.out).toContain('service/web created (dry run)');
    expect(ok.out).toContain('lease.coordination.k8s.io/l created (dry run)');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {bogusField: 1, selector: {matchLabels: {a: b}}}\n');
    const no = await kubectl('apply', '--dry-run=client', '-f', bad);
    expect(no.code).not.toBe(0);
    expect(no.out).toContain('unknown field "bogusField" in io.k8s.api.apps.v1.DeploymentSpec');
  }, 90_000);

  it('kubectl apply computes the measured strategic merge patch from our patch extensions', async () => {
    const file = join(dir, 'web.yaml');
    writeFileSync(
      file,
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\nspec:\n  selector: {matchLabels: {app: web}}\n' +
        '  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - name: c\n        image: nginx:1.21\n' +
        '        ports: [{containerPort: 80}, {containerPort: 443}]\n',
    );
    stub.patches = [];
    const r = await kubectl('apply', '-f', file);
    expect(r.out).toContain('deployment.apps/web configured');
    expect(stub.patches).toHaveLength(1);
    const p = stub.patches[0];
    expect(p?.contentType).toBe('application/strategic-merge-patch+json');
    const body = p?.body as JsonObject;
    expect(isJsonObject(body.metadata)).toBe(true);
    expect(body.spec).toEqual(
      JSON.parse(
        '{"template":{"spec":{"$setElementOrder/containers":[{"name":"c"}],"containers":[{"$setElementOrder/ports":[{"containerPort":80},{"containerPort":443}],"image":"nginx:1.21","name":"c","ports":[{"containerPort":443}]}]}}}',
      ),
    );
    expect(findResource('apps', 'v1', 'deployments')).toBeDefined();
  }, 90_000);
});
