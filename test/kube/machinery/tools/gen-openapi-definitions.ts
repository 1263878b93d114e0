// Generates src/kube/machinery/generated/openapi-definitions.ts: OpenAPI v2 (swagger) definitions,
// with kube's definition names and field descriptions, for the kinds ketch-apiserver serves and
// everything they reference. Source: the `kubernetes-types` npm package (TypeScript declarations
// generated from Kubernetes' own swagger.json, descriptions included), read with the TypeScript
// compiler API. Run by hand when the served kinds change:
//
//   cd /tmp && npm pack kubernetes-types@1.30.0 && tar xzf kubernetes-types-1.30.0.tgz
//   npx tsc -p tsconfig.json && node dist/test/kube/machinery/tools/gen-openapi-definitions.js /tmp/package
//
// Lossy spots, fixed up here: TypeScript's `number` does not say integer or float (every number in
// these kinds is an integer in kube, so: integer), and int-or-string fields are `number | string`.
// Patch strategies and merge keys are added at run time by openapi.ts from patch.ts's table.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import ts from 'typescript';

type Schema = Record<string, unknown>;

/** kubernetes-types module → kube's definition name prefix. */
const MODULES: Record<string, string> = {
  'core/v1': 'io.k8s.api.core.v1',
  'apps/v1': 'io.k8s.api.apps.v1',
  'coordination/v1': 'io.k8s.api.coordination.v1',
  'events/v1': 'io.k8s.api.events.v1',
  'autoscaling/v1': 'io.k8s.api.autoscaling.v1',
  'rbac/v1': 'io.k8s.api.rbac.v1',
  'authorization/v1': 'io.k8s.api.authorization.v1',
  'meta/v1': 'io.k8s.apimachinery.pkg.apis.meta.v1',
  'api/resource': 'io.k8s.apimachinery.pkg.api.resource',
  runtime: 'io.k8s.apimachinery.pkg.runtime',
};

const INT_OR_STRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';

/** The kinds we serve (and their lists), plus what handlers answer with. */
const ROOTS = [
  'core/v1:Pod', 'core/v1:PodList', 'core/v1:Node', 'core/v1:NodeList', 'core/v1:Service', 'core/v1:ServiceList',
  'core/v1:Endpoints', 'core/v1:EndpointsList', 'core/v1:ConfigMap', 'core/v1:ConfigMapList', 'core/v1:Secret',
  'core/v1:SecretList', 'core/v1:Event', 'core/v1:EventList', 'events/v1:Event', 'events/v1:EventList', 'core/v1:ServiceAccount', 'core/v1:ServiceAccountList',
  'core/v1:Namespace', 'core/v1:NamespaceList', 'core/v1:Binding', 'apps/v1:Deployment', 'apps/v1:DeploymentList',
  'apps/v1:ReplicaSet', 'apps/v1:ReplicaSetList', 'coordination/v1:Lease', 'coordination/v1:LeaseList',
  'autoscaling/v1:Scale', 'rbac/v1:Role', 'rbac/v1:RoleList', 'rbac/v1:ClusterRole', 'rbac/v1:ClusterRoleList',
  'rbac/v1:RoleBinding', 'rbac/v1:RoleBindingList', 'rbac/v1:ClusterRoleBinding', 'rbac/v1:ClusterRoleBindingList',
  'authorization/v1:SelfSubjectAccessReview', 'authorization/v1:SubjectAccessReview', 'meta/v1:Status', 'meta/v1:APIResourceList', 'meta/v1:APIGroupList', 'meta/v1:APIVersions',
];

interface Decl {
  module: string;
  name: string;
  node: ts.InterfaceDeclaration | ts.TypeAliasDeclaration;
  imports: Map<string, string>;
}

function docOf(node: ts.Node): string {
  const docs = ts.getJSDocCommentsAndTags(node).filter(ts.isJSDoc);
  return docs.map((d) => ts.getTextOfJSDocComment(d.comment) ?? '').join('\n').trim();
}

function load(root: string): Map<string, Decl> {
  const decls = new Map<string, Decl>();
  for (const mod of Object.keys(MODULES)) {
    const text = readFileSync(join(root, `${mod}.d.ts`), 'utf8');
    const sf = ts.createSourceFile(`${mod}.d.ts`, text, ts.ScriptTarget.ES2022, true);
    const imports = new Map<string, string>();
    for (const st of sf.statements) {
      if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier)) {
        const target = join(mod, '..', st.moduleSpecifier.text).replace(/\\/g, '/');
        const bindings = st.importClause?.namedBindings;
        if (bindings !== undefined && ts.isNamedImports(bindings)) for (const el of bindings.elements) imports.set(el.name.text, target);
      }
      if (ts.isInterfaceDeclaration(st) || ts.isTypeAliasDeclaration(st)) {
        decls.set(`${mod}:${st.name.text}`, { module: mod, name: st.name.text, node: st, imports });
      }
    }
  }
  return decls;
}

function defName(key: string): string {
  const [mod, name] = key.split(':') as [string, string];
  const prefix = MODULES[mod];
  if (prefix === undefined) throw new Error(`no prefix for ${mod}`);
  return `${prefix}.${name}`;
}

function generate(root: string): Record<string, Schema> {
  const decls = load(root);
  const out: Record<string, Schema> = {};
  const queue = [...ROOTS];
  const seen = new Set<string>();

  const typeSchema = (t: ts.TypeNode, d: Decl): Schema => {
    if (t.kind === ts.SyntaxKind.StringKeyword) return { type: 'string' };
    if (t.kind === ts.SyntaxKind.NumberKeyword) return { type: 'integer', format: 'int32' };
    if (t.kind === ts.SyntaxKind.BooleanKeyword) return { type: 'boolean' };
    if (ts.isLiteralTypeNode(t) && ts.isStringLiteral(t.literal)) return { type: 'string' };
    if (ts.isArrayTypeNode(t)) return { type: 'array', items: typeSchema(t.elementType, d) };
    if (ts.isUnionTypeNode(t)) {
      const kinds = t.types.map((x) => x.kind).sort();
      if (kinds.length === 2 && kinds.includes(ts.SyntaxKind.NumberKeyword) && kinds.includes(ts.SyntaxKind.StringKeyword)) {
        return { $ref: `#/definitions/${INT_OR_STRING}` };
      }
      throw new Error(`unsupported union in ${d.name}`);
    }
    if (ts.isTypeLiteralNode(t)) {
      const sig = t.members[0];
      if (t.members.length === 1 && sig !== undefined && ts.isIndexSignatureDeclaration(sig)) {
        return { type: 'object', additionalProperties: typeSchema(sig.type, d) };
      }
      throw new Error(`unsupported type literal in ${d.name}`);
    }
    if (ts.isTypeReferenceNode(t)) {
      const name = t.typeName.getText();
      if (name === 'Array') {
        const arg = t.typeArguments?.[0];
        if (arg === undefined) throw new Error('Array without argument');
        return { type: 'array', items: typeSchema(arg, d) };
      }
      const mod = d.imports.get(name) ?? d.module;
      const key = `${mod}:${name}`;
      if (!decls.has(key)) throw new Error(`unresolved ${key} (from ${d.module}:${d.name})`);
      queue.push(key);
      return { $ref: `#/definitions/${defName(key)}` };
    }
    throw new Error(`unsupported type ${ts.SyntaxKind[t.kind]} in ${d.name}`);
  };

  while (queue.length > 0) {
    const key = queue.shift() as string;
    if (seen.has(key)) continue;
    seen.add(key);
    const d = decls.get(key);
    if (d === undefined) throw new Error(`missing ${key}`);
    const description = docOf(d.node);
    let schema: Schema;
    if (ts.isTypeAliasDeclaration(d.node)) {
      // Quantity, Time, MicroTime are strings; Time/MicroTime carry date-time like kube's.
      schema = { type: 'string' };
      if (d.name === 'Time' || d.name === 'MicroTime') schema.format = 'date-time';
    } else {
      const properties: Record<string, Schema> = {};
      const required: string[] = [];
      let group: string | undefined;
      let version: string | undefined;
      let kind: string | undefined;
      for (const m of d.node.members) {
        if (!ts.isPropertySignature(m) || m.type === undefined) continue;
        const name = m.name.getText().replace(/^"|"$/g, '');
        const prop = typeSchema(m.type, d);
        const doc = docOf(m);
        // A $ref cannot carry siblings in swagger 2; kube puts the description next to it anyway
        // (kubectl explain prints it), so do the same.
        if (doc !== '') prop.description = doc;
        properties[name] = prop;
        if (m.questionToken === undefined) required.push(name);
        if (ts.isLiteralTypeNode(m.type) && ts.isStringLiteral(m.type.literal)) {
          if (name === 'apiVersion') {
            const av = m.type.literal.text;
            [group, version] = av.includes('/') ? (av.split('/') as [string, string]) : ['', av];
          }
          if (name === 'kind') kind = m.type.literal.text;
        }
      }
      schema = { type: 'object', properties };
      if (required.length > 0) schema.required = required;
      if (kind !== undefined && version !== undefined) {
        schema['x-kubernetes-group-version-kind'] = [{ group: group ?? '', kind, version }];
      }
    }
    if (description !== '') schema = { description, ...schema };
    out[defName(key)] = schema;
  }
  out[INT_OR_STRING] = {
    description: 'IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type.  This allows you to have, for example, a JSON field that can accept a name or number.',
    type: 'string',
    format: 'int-or-string',
  };
  // RawExtension and FieldsV1 hold arbitrary JSON.
  for (const name of ['io.k8s.apimachinery.pkg.runtime.RawExtension', 'io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1']) {
    const s = out[name];
    if (s !== undefined) out[name] = { description: s.description, type: 'object' };
  }
  return out;
}

function main(): void {
  const root = process.argv[2];
  if (root === undefined) throw new Error('usage: gen-openapi-definitions <kubernetes-types package dir>');
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const defs = generate(root);
  const names = Object.keys(defs).sort();
  const lines = names.map((n) => `  ${JSON.stringify(n)}: ${JSON.stringify(JSON.stringify(defs[n]))},`);
  const file = [
    '// GENERATED by test/kube/machinery/tools/gen-openapi-definitions.ts from kubernetes-types@' + version + '. Do not edit.',
    '// OpenAPI v2 definitions (kube names, descriptions) of the served kinds, one JSON string each.',
    '',
    'export const KUBERNETES_TYPES_VERSION = ' + JSON.stringify(version) + ';',
    '',
    'export const openapiDefinitionsJson: Readonly<Record<string, string>> = {',
    ...lines,
    '};',
    '',
  ].join('\n');
  const target = new URL('../../../../../src/kube/machinery/generated/openapi-definitions.ts', import.meta.url);
  const srcTarget = target.pathname.replace('/dist/src/', '/src/');
  writeFileSync(srcTarget, file);
  process.stdout.write(`${names.length} definitions → ${srcTarget}\n`);
}

main();
