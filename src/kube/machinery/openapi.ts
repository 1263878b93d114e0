// The OpenAPI documents kubectl asks for (REFERENCE.md C2):
// - /openapi/v2 as a gnostic OpenAPIv2 protobuf Document (google/gnostic openapiv2/OpenAPIv2.proto),
//   served with Content-Type application/com.github.proto-openapi.spec.v2.v1.0+protobuf. It holds
//   kube's definitions of the kinds we serve (generated/openapi-definitions.ts) with
//   x-kubernetes-group-version-kind and the patch strategy/merge key extensions, so
//   `kubectl explain` works, kubectl's client-side validation knows our kinds, and kubectl apply
//   computes strategic merge patches with the same merge keys the server applies.
// - /openapi/v3 (kubectl 1.27+): client-go's discovery document
//   {"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=…"}, …}} and one OpenAPI
//   3.0 JSON document per group version with the same schemas under components.schemas.
// Everything is computed once and cached; no I/O here.
import { createHash } from 'node:crypto';

import protobuf from 'protobufjs';

import { openapiDefinitionsJson } from './generated/openapi-definitions.js';
import { cloneJson, isJsonObject, type JsonObject, type JsonValue } from './json.js';
import { SMP_TYPES } from './patch.js';
import { groupVersions, resourcesIn, type ResourceInfo } from './resources.js';

export const OPENAPI_V2_PROTOBUF_CONTENT_TYPE = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';
export const OPENAPI_V3_PROTOBUF_CONTENT_TYPE = 'application/com.github.proto-openapi.spec.v3.v1.0+protobuf';

const CORE = 'io.k8s.api.core.v1';
const APPS = 'io.k8s.api.apps.v1';
const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';

/** patch.ts's type names → kube definition names carrying those patch tags. */
const SMP_DEFINITIONS: Readonly<Record<string, readonly string[]>> = {
  ObjectMeta: [`${META}.ObjectMeta`],
  PodSpec: [`${CORE}.PodSpec`],
  Container: [`${CORE}.Container`, `${CORE}.EphemeralContainer`],
  PodStatus: [`${CORE}.PodStatus`],
  NodeSpec: [`${CORE}.NodeSpec`],
  NodeStatus: [`${CORE}.NodeStatus`],
  ServiceSpec: [`${CORE}.ServiceSpec`],
  ServiceStatus: [`${CORE}.ServiceStatus`],
  ServiceAccount: [`${CORE}.ServiceAccount`],
  ConditionsStatus: [`${CORE}.NamespaceStatus`, `${APPS}.DeploymentStatus`, `${APPS}.ReplicaSetStatus`],
};

/** Strategies patch.ts handles through directives rather than its table (kube's retainKeys). */
const RETAIN_KEYS: readonly [string, string, string][] = [
  [`${CORE}.PodSpec`, 'volumes', 'merge,retainKeys'],
  [`${CORE}.PodSpec`, 'resourceClaims', 'merge,retainKeys'],
  [`${APPS}.DeploymentSpec`, 'strategy', 'retainKeys'],
];

let definitionsCache: Record<string, JsonObject> | undefined;

/** The swagger definitions, keyed by kube's names, with kube's patch extensions added. */
export function openapiDefinitions(): Readonly<Record<string, JsonObject>> {
  if (definitionsCache !== undefined) return definitionsCache;
  const defs: Record<string, JsonObject> = {};
  for (const [name, json] of Object.entries(openapiDefinitionsJson)) defs[name] = JSON.parse(json) as JsonObject;
  const setExt = (def: string, field: string, strategy: string, mergeKey?: string): void => {
    const props = defs[def]?.properties;
    const prop = isJsonObject(props) ? props[field] : undefined;
    if (!isJsonObject(prop)) return;
    if (mergeKey !== undefined) prop['x-kubernetes-patch-merge-key'] = mergeKey;
    prop['x-kubernetes-patch-strategy'] = strategy;
  };
  for (const [typeName, fields] of Object.entries(SMP_TYPES)) {
    for (const def of SMP_DEFINITIONS[typeName] ?? []) {
      for (const [field, meta] of Object.entries(fields)) {
        if (meta.strategy !== undefined) setExt(def, field, meta.strategy, meta.mergeKey);
      }
    }
  }
  for (const [def, field, strategy] of RETAIN_KEYS) {
    const prop = defs[def]?.properties;
    const mk = isJsonObject(prop) && isJsonObject(prop[field]) ? prop[field]['x-kubernetes-patch-merge-key'] : undefined;
    setExt(def, field, strategy, typeof mk === 'string' ? mk : undefined);
  }
  definitionsCache = defs;
  return defs;
}

/** The whole swagger 2.0 document as JSON (what kube serves for Accept: application/json). */
export function openapiV2Json(): JsonObject {
  return {
    swagger: '2.0',
    info: { title: 'Kubernetes', version: 'v1.20.2' },
    paths: {},
    definitions: cloneJson(openapiDefinitions() as JsonObject),
  };
}

// ---- gnostic protobuf encoding ------------------------------------------------------------------

type Writer = protobuf.Writer;

function sub(w: Writer, field: number, body: (w: Writer) => void): void {
  w.uint32((field << 3) | 2).fork();
  body(w);
  w.ldelim();
}

function str(w: Writer, field: number, v: string): void {
  w.uint32((field << 3) | 2).string(v);
}

/** A YAML rendering of JSON, good enough for vendor extension values (JSON is YAML). */
function yamlOf(v: JsonValue): string {
  return `${JSON.stringify(v)}\n`;
}

/** NamedAny{name, Any{yaml}}: how gnostic carries x-* extensions. */
function vendorExtension(w: Writer, field: number, name: string, value: JsonValue): void {
  sub(w, field, (n) => {
    str(n, 1, name);
    sub(n, 2, (a) => str(a, 2, yamlOf(value)));
  });
}

/** openapi.v2.Schema, field numbers from OpenAPIv2.proto. */
function encodeSchema(w: Writer, s: JsonObject): void {
  if (typeof s.$ref === 'string') str(w, 1, s.$ref);
  if (typeof s.format === 'string') str(w, 2, s.format);
  if (typeof s.title === 'string') str(w, 3, s.title);
  if (typeof s.description === 'string') str(w, 4, s.description);
  if (Array.isArray(s.required)) for (const r of s.required) if (typeof r === 'string') str(w, 19, r);
  if (isJsonObject(s.additionalProperties)) {
    const ap = s.additionalProperties;
    sub(w, 21, (x) => sub(x, 1, (y) => encodeSchema(y, ap)));
  } else if (typeof s.additionalProperties === 'boolean') {
    const b = s.additionalProperties;
    sub(w, 21, (x) => x.uint32((2 << 3) | 0).bool(b));
  }
  if (typeof s.type === 'string') {
    const t = s.type;
    sub(w, 22, (x) => str(x, 1, t));
  }
  if (isJsonObject(s.items)) {
    const items = s.items;
    sub(w, 23, (x) => sub(x, 1, (y) => encodeSchema(y, items)));
  }
  if (isJsonObject(s.properties)) {
    const props = s.properties;
    sub(w, 25, (x) => {
      for (const [name, p] of Object.entries(props)) {
        if (!isJsonObject(p)) continue;
        sub(x, 1, (ns) => {
          str(ns, 1, name);
          sub(ns, 2, (v) => encodeSchema(v, p));
        });
      }
    });
  }
  for (const [k, v] of Object.entries(s)) if (k.startsWith('x-')) vendorExtension(w, 31, k, v);
}

let protobufCache: Uint8Array | undefined;

/** GET /openapi/v2 (Accept: …protobuf): the gnostic Document bytes. */
export function openapiV2Protobuf(): Uint8Array {
  if (protobufCache !== undefined) return protobufCache;
  const w = protobuf.Writer.create();
  str(w, 1, '2.0'); // swagger
  sub(w, 2, (info) => {
    str(info, 1, 'Kubernetes');
    str(info, 2, 'v1.20.2');
  });
  sub(w, 8, () => undefined); // paths: empty
  const defs = openapiDefinitions();
  sub(w, 9, (d) => {
    for (const name of Object.keys(defs).sort()) {
      const schema = defs[name] as JsonObject;
      sub(d, 1, (ns) => {
        str(ns, 1, name);
        sub(ns, 2, (s) => encodeSchema(s, schema));
      });
    }
  });
  protobufCache = w.finish();
  return protobufCache;
}

/** A strong ETag for a document, as kube sends for /openapi/v2 (clients cache on it). */
export function documentEtag(bytes: Uint8Array | string): string {
  return `"${createHash('sha512').update(bytes).digest('hex').toUpperCase()}"`;
}

// ---- OpenAPI v3 -------------------------------------------------------------------------------

/** "api/v1", "apis/apps/v1", … for every group version served (plus autoscaling/v1 for Scale). */
export function openapiV3Paths(): string[] {
  const paths = groupVersions().map((gv) => (gv.group === '' ? `api/${gv.version}` : `apis/${gv.group}/${gv.version}`));
  if (!paths.includes('apis/autoscaling/v1')) paths.push('apis/autoscaling/v1');
  return paths;
}

/** v2 schema → v3: refs move to components, and a $ref with siblings is wrapped in allOf (as kube does). */
function toV3(v: JsonValue): JsonValue {
  if (Array.isArray(v)) return v.map(toV3);
  if (!isJsonObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, e] of Object.entries(v)) out[k] = k === '$ref' && typeof e === 'string' ? e.replace('#/definitions/', '#/components/schemas/') : toV3(e);
  if (typeof out.$ref === 'string' && Object.keys(out).length > 1) {
    const ref = out.$ref;
    delete out.$ref;
    out.allOf = [{ $ref: ref }];
  }
  return out;
}

/**
 * A GET operation per resource carrying x-kubernetes-group-version-kind: kubectl explain's v3
 * template finds a resource's kind through these paths before it looks at the schemas.
 */
function v3Paths(gvPath: string): JsonObject {
  const parts = gvPath.split('/');
  const group = parts[0] === 'api' ? '' : (parts[1] ?? '');
  const version = parts[parts.length - 1] ?? '';
  const paths: JsonObject = {};
  for (const r of resourcesIn(group, version)) {
    const path = resourcePath(gvPath, r);
    paths[path] = {
      get: {
        description: `read the specified ${r.kind}`,
        operationId: `read${r.namespaced ? 'Namespaced' : ''}${r.kind}`,
        responses: { '200': { description: 'OK', content: { 'application/json': { schema: { $ref: `#/components/schemas/${definitionName(r)}` } } } } },
        'x-kubernetes-action': 'get',
        'x-kubernetes-group-version-kind': { group: r.group, kind: r.kind, version: r.version },
      },
    };
  }
  return paths;
}

function resourcePath(gvPath: string, r: ResourceInfo): string {
  return r.namespaced ? `/${gvPath}/namespaces/{namespace}/${r.resource}/{name}` : `/${gvPath}/${r.resource}/{name}`;
}

/** kube's definition name of a served kind, e.g. io.k8s.api.apps.v1.Deployment. */
export function definitionName(r: Pick<ResourceInfo, 'group' | 'version' | 'kind'>): string {
  // kube's Go package names: core, apps, coordination, rbac (rbac.authorization.k8s.io), authorization.
  const pkg = r.group === '' ? 'core' : r.group === 'rbac.authorization.k8s.io' ? 'rbac' : r.group.replace(/\.k8s\.io$/, '');
  return `io.k8s.api.${pkg}.${r.version}.${r.kind}`;
}

const v3Cache = new Map<string, { doc: JsonObject; json: string; hash: string }>();

function v3Entry(path: string): { doc: JsonObject; json: string; hash: string } | undefined {
  if (!openapiV3Paths().includes(path)) return undefined;
  const cached = v3Cache.get(path);
  if (cached !== undefined) return cached;
  const schemas: JsonObject = {};
  for (const [name, schema] of Object.entries(openapiDefinitions())) schemas[name] = toV3(schema);
  const doc: JsonObject = { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.20.2' }, paths: v3Paths(path), components: { schemas } };
  const json = JSON.stringify(doc);
  const entry = { doc, json, hash: createHash('sha512').update(json).digest('hex').toUpperCase() };
  v3Cache.set(path, entry);
  return entry;
}

/** GET /openapi/v3: client-go's discovery of per-group-version documents. */
export function openapiV3Discovery(): JsonObject {
  const paths: JsonObject = {};
  for (const p of openapiV3Paths()) {
    const e = v3Entry(p);
    if (e !== undefined) paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${e.hash}` };
  }
  return { paths };
}

/** GET /openapi/v3/<path> ("api/v1", "apis/apps/v1"): the document, its JSON text and hash. */
export function openapiV3Document(path: string): { json: string; hash: string } | undefined {
  const e = v3Entry(path.replace(/^\/+|\/+$/g, ''));
  return e === undefined ? undefined : { json: e.json, hash: e.hash };
}
