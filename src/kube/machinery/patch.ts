// The three PATCH bodies kubectl sends (REFERENCE.md C1, C5): JSON merge patch (RFC 7386, for
// `kubectl scale`), JSON patch (RFC 6902, for `rollout undo`) and strategic merge patch (for
// `kubectl apply`, `label`, `annotate`, `edit`). The strategic merge follows
// k8s.io/apimachinery pkg/util/strategicpatch/patch.go (mergeMap, mergeSlice, $setElementOrder
// ordering) with the patch strategies and merge keys of the Go API types (`patchStrategy` /
// `patchMergeKey` tags, published as x-kubernetes-patch-strategy / -merge-key in swagger.json).
// All functions are pure: inputs are never mutated.
import { cloneJson, isJsonObject, jsonEqual, type JsonObject, type JsonValue } from './json.js';
import { badRequest, KubeStatusError, requestRejected, unsupportedMediaType } from './status.js';

export const PATCH_CONTENT_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;
export type PatchType = keyof typeof PATCH_CONTENT_TYPES;

/** Map a request Content-Type (parameters ignored) to a patch type, or 415 like kube. */
export function patchTypeOf(contentType: string | undefined, allowed: readonly PatchType[] = ['json', 'merge', 'strategic']): PatchType {
  const base = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  for (const t of allowed) if (PATCH_CONTENT_TYPES[t] === base) return t;
  throw unsupportedMediaType(allowed.map((t) => PATCH_CONTENT_TYPES[t]));
}

// ---- RFC 7386 merge patch ------------------------------------------------------------------

/** RFC 7386: objects merge recursively, null deletes, anything else replaces (arrays whole). */
export function applyMergePatch(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isJsonObject(patch)) return cloneJson(patch);
  const out: JsonObject = isJsonObject(target) ? cloneJson(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

// ---- RFC 6902 JSON patch --------------------------------------------------------------------

export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: JsonValue;
}

/** A JSON patch that cannot be applied: 422 like kube (reason kept as a cause). */
function jsonPatchFailed(reason: string): KubeStatusError {
  return requestRejected(reason);
}

/** Parse and check a JSON patch document; malformed documents are 400 as in kube (DecodePatch). */
export function parseJsonPatch(doc: JsonValue): JsonPatchOperation[] {
  if (!Array.isArray(doc)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  return doc.map((raw, i): JsonPatchOperation => {
    if (!isJsonObject(raw)) throw badRequest(`json patch operation ${i} is not an object`);
    const op = raw.op;
    if (op !== 'add' && op !== 'remove' && op !== 'replace' && op !== 'move' && op !== 'copy' && op !== 'test') {
      throw badRequest(`Unexpected kind: ${String(op)}`);
    }
    if (typeof raw.path !== 'string') throw badRequest(`json patch operation ${i} (${op}) has no "path"`);
    const out: JsonPatchOperation = { op, path: raw.path };
    if (op === 'move' || op === 'copy') {
      if (typeof raw.from !== 'string') throw badRequest(`json patch operation ${i} (${op}) has no "from"`);
      out.from = raw.from;
    }
    if (op === 'add' || op === 'replace' || op === 'test') {
      if (!('value' in raw)) throw badRequest(`json patch operation ${i} (${op}) has no "value"`);
      out.value = raw.value ?? null;
    }
    return out;
  });
}

/** RFC 6901 pointer → unescaped tokens ("~1" is "/", "~0" is "~"). */
function pointerTokens(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw jsonPatchFailed(`invalid JSON pointer: ${pointer}`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function arrayIndex(token: string, length: number, forInsert: boolean, path: string): number {
  if (forInsert && token === '-') return length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw jsonPatchFailed(`invalid array index ${token} in ${path}`);
  const i = Number(token);
  if (i > length || (!forInsert && i === length)) throw jsonPatchFailed(`array index ${i} out of bounds in ${path}`);
  return i;
}

/** The container holding the last token of `path`, and that token. */
function parentOf(doc: JsonValue, path: string): { parent: JsonObject | JsonValue[]; key: string } {
  const tokens = pointerTokens(path);
  const key = tokens.pop();
  if (key === undefined) throw jsonPatchFailed(`the root cannot be the target of this operation: ${path}`);
  let cur: JsonValue = doc;
  for (const t of tokens) {
    let next: JsonValue | undefined;
    if (Array.isArray(cur)) next = cur[arrayIndex(t, cur.length, false, path)];
    else if (isJsonObject(cur)) next = Object.prototype.hasOwnProperty.call(cur, t) ? cur[t] : undefined;
    if (next === undefined || next === null || (typeof next !== 'object')) throw jsonPatchFailed(`doc is missing path: ${path}`);
    cur = next;
  }
  if (!Array.isArray(cur) && !isJsonObject(cur)) throw jsonPatchFailed(`doc is missing path: ${path}`);
  return { parent: cur, key };
}

function getAt(doc: JsonValue, path: string): JsonValue {
  if (path === '') return doc;
  const { parent, key } = parentOf(doc, path);
  if (Array.isArray(parent)) return parent[arrayIndex(key, parent.length, false, path)] ?? null;
  if (!Object.prototype.hasOwnProperty.call(parent, key)) throw jsonPatchFailed(`doc is missing key: ${path}`);
  return parent[key] ?? null;
}

function removeAt(doc: JsonValue, path: string): JsonValue {
  const { parent, key } = parentOf(doc, path);
  if (Array.isArray(parent)) {
    const i = arrayIndex(key, parent.length, false, path);
    return parent.splice(i, 1)[0] ?? null;
  }
  if (!Object.prototype.hasOwnProperty.call(parent, key)) throw jsonPatchFailed(`Unable to remove nonexistent key: ${key}: missing value`);
  const old = parent[key] ?? null;
  delete parent[key];
  return old;
}

/** add: insert into arrays, set on objects; the whole document when path is "". */
function addAt(doc: JsonValue, path: string, value: JsonValue): JsonValue {
  if (path === '') return value;
  const { parent, key } = parentOf(doc, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(key, parent.length, true, path), 0, value);
  else parent[key] = value;
  return doc;
}

function replaceAt(doc: JsonValue, path: string, value: JsonValue): JsonValue {
  if (path === '') return value;
  const { parent, key } = parentOf(doc, path);
  if (Array.isArray(parent)) parent[arrayIndex(key, parent.length, false, path)] = value;
  else {
    if (!Object.prototype.hasOwnProperty.call(parent, key)) throw jsonPatchFailed(`replace operation does not apply: doc is missing key: ${path}`);
    parent[key] = value;
  }
  return doc;
}

/** Apply RFC 6902 operations in order; any failure aborts the whole patch (atomic). */
export function applyJsonPatch(document: JsonValue, patch: JsonValue): JsonValue {
  const ops = parseJsonPatch(patch);
  let doc = cloneJson(document);
  for (const op of ops) {
    switch (op.op) {
      case 'add':
        doc = addAt(doc, op.path, cloneJson(op.value ?? null));
        break;
      case 'remove':
        removeAt(doc, op.path);
        break;
      case 'replace':
        doc = replaceAt(doc, op.path, cloneJson(op.value ?? null));
        break;
      case 'move': {
        const from = op.from ?? '';
        if (op.path.startsWith(`${from}/`)) throw jsonPatchFailed(`cannot move ${from} into its own child ${op.path}`);
        if (from === op.path) break;
        const v = removeAt(doc, from);
        doc = addAt(doc, op.path, v);
        break;
      }
      case 'copy':
        doc = addAt(doc, op.path, cloneJson(getAt(doc, op.from ?? '')));
        break;
      case 'test': {
        let have: JsonValue | undefined;
        try {
          have = getAt(doc, op.path);
        } catch {
          have = undefined;
        }
        if (!jsonEqual(have, op.value ?? null)) throw jsonPatchFailed(`testing value ${op.path} failed: test failed`);
        break;
      }
    }
  }
  return doc;
}

// ---- strategic merge patch: schema -------------------------------------------------------------

/** Patch metadata of one field: its struct type (for recursion) and list strategy/merge key. */
export interface FieldMeta {
  readonly type?: string;
  readonly strategy?: 'merge' | 'replace';
  readonly mergeKey?: string;
}
export type StructMeta = Readonly<Record<string, FieldMeta>>;

const mergeBy = (mergeKey: string, type?: string): FieldMeta => (type === undefined ? { strategy: 'merge', mergeKey } : { strategy: 'merge', mergeKey, type });

/**
 * The patch tags of the API types we serve (k8s.io/api core/v1, apps/v1 types.go). Fields not
 * listed merge as plain maps, and their lists are replaced whole: kube does the same for fields
 * without a patchStrategy (e.g. tolerations, endpoints subsets, lease spec).
 */
export const SMP_TYPES: Readonly<Record<string, StructMeta>> = {
  ObjectMeta: { finalizers: { strategy: 'merge' }, ownerReferences: mergeBy('uid') },
  PodTemplateSpec: { metadata: { type: 'ObjectMeta' }, spec: { type: 'PodSpec' } },
  PodSpec: {
    volumes: mergeBy('name'), // "merge,retainKeys": $retainKeys in items is handled generically
    initContainers: mergeBy('name', 'Container'),
    containers: mergeBy('name', 'Container'),
    ephemeralContainers: mergeBy('name', 'Container'),
    imagePullSecrets: mergeBy('name'),
    hostAliases: mergeBy('ip'),
    topologySpreadConstraints: mergeBy('topologyKey'),
    schedulingGates: mergeBy('name'),
    resourceClaims: mergeBy('name'),
  },
  Container: {
    ports: mergeBy('containerPort'),
    env: mergeBy('name'),
    volumeMounts: mergeBy('mountPath'),
    volumeDevices: mergeBy('devicePath'),
  },
  PodStatus: { conditions: mergeBy('type'), podIPs: mergeBy('ip'), hostIPs: mergeBy('ip') },
  Pod: { metadata: { type: 'ObjectMeta' }, spec: { type: 'PodSpec' }, status: { type: 'PodStatus' } },
  NodeSpec: { podCIDRs: { strategy: 'merge' } },
  NodeStatus: { conditions: mergeBy('type'), addresses: mergeBy('type') },
  Node: { metadata: { type: 'ObjectMeta' }, spec: { type: 'NodeSpec' }, status: { type: 'NodeStatus' } },
  ServiceSpec: { ports: mergeBy('port') },
  ServiceStatus: { conditions: mergeBy('type') },
  Service: { metadata: { type: 'ObjectMeta' }, spec: { type: 'ServiceSpec' }, status: { type: 'ServiceStatus' } },
  ConditionsStatus: { conditions: mergeBy('type') },
  Namespace: { metadata: { type: 'ObjectMeta' }, status: { type: 'ConditionsStatus' } },
  ServiceAccount: { metadata: { type: 'ObjectMeta' }, secrets: mergeBy('name') },
  // Deployment strategy is "retainKeys": apply sends $retainKeys, handled generically.
  DeploymentSpec: { template: { type: 'PodTemplateSpec' } },
  Deployment: { metadata: { type: 'ObjectMeta' }, spec: { type: 'DeploymentSpec' }, status: { type: 'ConditionsStatus' } },
  ReplicaSetSpec: { template: { type: 'PodTemplateSpec' } },
  ReplicaSet: { metadata: { type: 'ObjectMeta' }, spec: { type: 'ReplicaSetSpec' }, status: { type: 'ConditionsStatus' } },
  MetadataOnly: { metadata: { type: 'ObjectMeta' } },
};

const KINDS_WITH_OWN_SCHEMA = new Set(['Pod', 'Node', 'Service', 'Namespace', 'ServiceAccount', 'Deployment', 'ReplicaSet']);

/** Kinds strategic merge patch knows; others only get ObjectMeta's tags (see applyStrategicMergePatch). */
export function strategicSchemaFor(kind: string): string {
  return KINDS_WITH_OWN_SCHEMA.has(kind) ? kind : 'MetadataOnly';
}

function fieldMeta(type: string | undefined, field: string): FieldMeta {
  if (type === undefined) return {};
  return SMP_TYPES[type]?.[field] ?? {};
}

// ---- strategic merge patch: algorithm ----------------------------------------------------------

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const SET_ORDER_PREFIX = '$setElementOrder/';
const DELETE_PRIMITIVE_PREFIX = '$deleteFromPrimitiveList/';

function smpError(message: string): KubeStatusError {
  return badRequest(message);
}

/**
 * A value taken from the patch as is (a key the original lacks): directives and nulls inside it
 * are dropped, as kube's typed decoding of the result would drop them.
 */
function cleanNew(v: JsonValue): JsonValue {
  if (Array.isArray(v)) {
    return v.filter((e) => !(isJsonObject(e) && DIRECTIVE in e && Object.keys(e).length === 1)).map(cleanNew);
  }
  if (isJsonObject(v)) {
    const out: JsonObject = {};
    for (const [k, e] of Object.entries(v)) {
      if (k.startsWith('$') || e === null) continue;
      out[k] = cleanNew(e);
    }
    return out;
  }
  return v;
}

type Kind = 'map' | 'scalar';

/** Go's sliceElementType: one element type across the lists (strings and numbers differ). */
function elementKind(...lists: JsonValue[][]): Kind | undefined {
  let kind: Kind | undefined;
  let goType: string | undefined;
  for (const l of lists) {
    for (const v of l) {
      if (Array.isArray(v)) throw invalidNoListOfLists();
      const t = v === null ? 'null' : typeof v;
      if (goType === undefined) {
        goType = t;
        kind = isJsonObject(v) ? 'map' : 'scalar';
      } else if (goType !== t) throw smpError('list element types are not identical');
    }
  }
  return kind;
}

function invalidNoListOfLists(): KubeStatusError {
  // mergepatch.ErrNoListOfLists is a 422 in kube's interpretStrategicMergePatchError.
  return requestRejected('lists of lists are not supported');
}

/** Index of `item` in `list`: by merge key value for maps, by value for scalars. */
function indexIn(list: readonly JsonValue[], item: JsonValue, mergeKey: string | undefined): number {
  if (mergeKey === undefined) return list.findIndex((e) => jsonEqual(e, item));
  if (!isJsonObject(item)) return -1;
  const want = item[mergeKey];
  return list.findIndex((e) => isJsonObject(e) && e[mergeKey] !== undefined && jsonEqual(e[mergeKey], want));
}

function requireMergeKey(items: readonly JsonValue[], mergeKey: string): void {
  for (const it of items) {
    if (!isJsonObject(it) || !(mergeKey in it)) {
      throw smpError(`map: ${JSON.stringify(it)} does not contain declared merge key: ${mergeKey}`);
    }
  }
}

/** Items of `merged` present in `by` (the patch or $setElementOrder list), and the rest. */
function partition(merged: JsonValue[], by: readonly JsonValue[], mergeKey: string | undefined): [JsonValue[], JsonValue[]] {
  if (mergeKey !== undefined) requireMergeKey(merged, mergeKey);
  const inPatch: JsonValue[] = [];
  const serverOnly: JsonValue[] = [];
  for (const v of merged) (indexIn(by, v, mergeKey) >= 0 ? inPatch : serverOnly).push(v);
  return [inPatch, serverOnly];
}

function sortByOrder(items: JsonValue[], order: readonly JsonValue[], mergeKey: string | undefined): JsonValue[] {
  return items
    .map((v, i) => ({ v, i, at: indexIn(order, v, mergeKey) }))
    .sort((a, b) => (a.at >= 0 && b.at >= 0 && a.at !== b.at ? a.at - b.at : a.i - b.i))
    .map((x) => x.v);
}

/**
 * kube's normalizeElementOrder: patch items in patch (or $setElementOrder) order, server-only
 * items in live order, then interleaved: a server-only item goes before the next patch item when
 * it came before it in the live list (mergeSortedSlice).
 */
function normalizeOrder(
  patchItems: JsonValue[],
  serverOnly: JsonValue[],
  patchOrder: readonly JsonValue[],
  serverOrder: readonly JsonValue[],
  mergeKey: string | undefined,
): JsonValue[] {
  const right = sortByOrder(patchItems, patchOrder, mergeKey);
  const left = sortByOrder(serverOnly, serverOrder, mergeKey);
  const out: JsonValue[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    if (i >= left.length) out.push(right[j++] as JsonValue);
    else if (j >= right.length) out.push(left[i++] as JsonValue);
    else {
      const li = indexIn(serverOrder, left[i] as JsonValue, mergeKey);
      const ri = indexIn(serverOrder, right[j] as JsonValue, mergeKey);
      if (li >= 0 && ri >= 0 && li < ri) out.push(left[i++] as JsonValue);
      else out.push(right[j++] as JsonValue);
    }
  }
  return out;
}

function mergeSlice(original: JsonValue[], patch: JsonValue[], meta: FieldMeta, isDeleteList: boolean): JsonValue[] {
  if (original.length === 0 && patch.length === 0) return original;
  const kind = elementKind(original, patch);
  let merged: JsonValue[];
  let orig = original;
  let pat = patch;
  if (kind !== 'map') {
    if (isDeleteList) return original.filter((v) => !patch.some((d) => jsonEqual(v, d)));
    merged = [];
    for (const v of [...original, ...patch]) if (!merged.some((m) => jsonEqual(m, v))) merged.push(v);
  } else {
    const mergeKey = meta.mergeKey;
    if (mergeKey === undefined) throw smpError('cannot merge lists without merge key');
    // Elements carrying $patch: delete removes by key, replace makes the list the patch's.
    const plain: JsonValue[] = [];
    let replace = false;
    for (const v of pat) {
      const m = v as JsonObject;
      const directive = m[DIRECTIVE];
      if (directive === undefined) plain.push(v);
      else if (directive === 'delete') {
        if (!(mergeKey in m)) throw smpError(`map: ${JSON.stringify(m)} does not contain declared merge key: ${mergeKey}`);
        orig = orig.filter((e) => !(isJsonObject(e) && jsonEqual(e[mergeKey], m[mergeKey])));
      } else if (directive === 'replace') replace = true;
      else if (directive === 'merge') throw smpError('merging lists cannot yet be specified in the patch');
      else throw smpError(`unknown patch type: ${String(directive)} in map: ${JSON.stringify(m)}`);
    }
    if (replace) {
      orig = plain.map(cleanNew);
      pat = [];
    } else pat = plain;
    merged = [...orig];
    for (const v of pat) {
      const m = v as JsonObject;
      if (!(mergeKey in m)) throw smpError(`map: ${JSON.stringify(m)} does not contain declared merge key: ${mergeKey}`);
      const at = indexIn(merged, m, mergeKey);
      if (at >= 0) merged[at] = mergeMap(merged[at] as JsonObject, m, meta.type);
      else merged.push(cleanNew(m));
    }
  }
  const mk = kind === 'map' ? meta.mergeKey : undefined;
  const [inPatch, serverOnly] = partition(merged, pat, mk);
  return normalizeOrder(inPatch, serverOnly, pat, orig, mk);
}

function mergeSliceHandler(original: JsonValue, patch: JsonValue, meta: FieldMeta, isDeleteList: boolean): JsonValue[] {
  if (!Array.isArray(original) || !Array.isArray(patch)) throw smpError('invalid patch: expected a list');
  if (meta.strategy === 'merge') return mergeSlice(original, patch, meta, isDeleteList);
  return cleanNew(patch) as JsonValue[];
}

/**
 * The live list as kube's mergePatchIntoOriginal sees it when it orders a merged list: Go's
 * mergeSlice deletes and appends in place, so the caller's view of the original slice (same
 * backing array, old length) shows elements shifted left by deletions and patch items appended
 * into the freed slots. kube orders server-only items by that view, so we must too (found by
 * the differential test against kubectl).
 */
function aliasedServerOrder(original: readonly JsonValue[], patch: readonly JsonValue[], mergeKey: string): JsonValue[] {
  const n = original.length;
  const backing: JsonValue[] = [...original];
  let len = n;
  const keyOf = (v: JsonValue | undefined): JsonValue | undefined => (isJsonObject(v) ? v[mergeKey] : undefined);
  const find = (key: JsonValue | undefined): number => {
    for (let i = 0; i < Math.min(len, n); i++) if (key !== undefined && jsonEqual(keyOf(backing[i]), key)) return i;
    return -1;
  };
  let replace = false;
  for (const item of patch) {
    if (!isJsonObject(item) || item[DIRECTIVE] === undefined) continue;
    if (item[DIRECTIVE] === 'replace') replace = true;
    if (item[DIRECTIVE] !== 'delete') continue;
    for (let i = find(item[mergeKey]); i >= 0; i = find(item[mergeKey])) {
      for (let k = i; k < len - 1 && k + 1 < n; k++) backing[k] = backing[k + 1] as JsonValue;
      len--;
    }
  }
  if (replace) return backing;
  for (const item of patch) {
    if (!isJsonObject(item) || item[DIRECTIVE] !== undefined) continue;
    if (find(item[mergeKey]) >= 0) continue; // merged in place: same key at the same index
    if (len < n) backing[len] = item;
    len++;
  }
  return backing;
}

/**
 * kube's validatePatchWithSetOrderList: the patch list's items (deletions aside) must appear in
 * the $setElementOrder list, in the same relative order.
 */
function checkOrderAgainstPatch(patchList: readonly JsonValue[], order: readonly JsonValue[], mergeKey: string | undefined): void {
  if (patchList.length === 0 || order.length === 0) return;
  const items = patchList.filter((v) => !(isJsonObject(v) && DIRECTIVE in v));
  const same = (a: JsonValue, b: JsonValue): boolean => {
    if (mergeKey === undefined) return jsonEqual(a, b);
    if (!isJsonObject(a) || !isJsonObject(b) || !(mergeKey in a) || !(mergeKey in b)) {
      throw smpError(`map: ${JSON.stringify(isJsonObject(a) && !(mergeKey in a) ? a : b)} does not contain declared merge key: ${mergeKey}`);
    }
    return jsonEqual(a[mergeKey], b[mergeKey]);
  };
  let p = 0;
  let o = 0;
  while (p < items.length && o < order.length) {
    if (same(items[p] as JsonValue, order[o] as JsonValue)) p++;
    o++;
  }
  if (p < items.length) {
    throw smpError(`The order in patch list:\n${JSON.stringify(patchList)}\n doesn't match $setElementOrder list:\n${JSON.stringify(order)}\n`);
  }
}

/** mergeMap: `original` is owned (already a copy) and is modified in place and returned. */
function mergeMap(original: JsonObject, patchIn: JsonObject, type: string | undefined): JsonObject {
  const directive = patchIn[DIRECTIVE];
  if (directive !== undefined) {
    if (directive === 'replace') {
      const p = { ...patchIn };
      delete p[DIRECTIVE];
      return cleanNew(p) as JsonObject;
    }
    if (directive === 'delete') return {};
    throw smpError(`unknown patch type: ${String(directive)} in map: ${JSON.stringify(patchIn)}`);
  }
  const patch: JsonObject = { ...patchIn };

  // $retainKeys: drop original keys not listed; the patch may only set listed keys.
  if (RETAIN_KEYS in patch) {
    const retain = patch[RETAIN_KEYS];
    delete patch[RETAIN_KEYS];
    if (!Array.isArray(retain)) throw smpError('invalid patch format of retainKeys');
    for (const [k, v] of Object.entries(patch)) {
      if (v === null || k.startsWith(SET_ORDER_PREFIX) || k.startsWith(DELETE_PRIMITIVE_PREFIX)) continue;
      if (!retain.includes(k)) throw smpError('invalid patch format of retainKeys');
    }
    for (const k of Object.keys(original)) if (!retain.includes(k)) delete original[k];
  }

  // $setElementOrder/<list>: merge that list now and order it as the directive says.
  for (const key of Object.keys(patch)) {
    if (!key.startsWith(SET_ORDER_PREFIX)) continue;
    const order = patch[key];
    delete patch[key];
    if (!Array.isArray(order)) throw smpError('invalid patch format of setElementOrder list');
    const listKey = key.slice(SET_ORDER_PREFIX.length);
    if (listKey === '') throw smpError('invalid patch format of setElementOrder list');
    const foundOriginal = Array.isArray(original[listKey]);
    const foundPatch = listKey in patch && patch[listKey] !== null;
    if (listKey in original && !foundOriginal) throw smpError(`invalid value for ${listKey}: expected a list`);
    if (foundPatch && !Array.isArray(patch[listKey])) throw smpError(`invalid value for ${listKey}: expected a list`);
    const originalList = foundOriginal ? (original[listKey] as JsonValue[]) : [];
    const patchList = foundPatch ? (patch[listKey] as JsonValue[]) : [];
    const meta = fieldMeta(type, listKey);
    checkOrderAgainstPatch(patchList, order, meta.strategy === 'merge' ? meta.mergeKey : undefined);
    let merged: JsonValue[];
    if (foundOriginal && foundPatch) merged = mergeSliceHandler(originalList, patchList, meta, false);
    else if (foundPatch) merged = mergeSliceHandler([], patchList, meta, false);
    else if (foundOriginal) merged = originalList;
    else continue;
    // kube takes the element type from both lists and fails when both are empty.
    if (originalList.length === 0 && patchList.length === 0) throw smpError('no elements in any of the given slices');
    const kind = elementKind(originalList, patchList);
    const mk = kind === 'map' ? meta.mergeKey : undefined;
    if (kind === 'map' && mk === undefined) {
      original[listKey] = merged; // a replace list: the order directive has nothing to reorder
    } else {
      const [inOrder, serverOnly] = partition(merged, order, mk);
      const serverOrder = mk !== undefined && foundOriginal && foundPatch ? aliasedServerOrder(originalList, patchList, mk) : originalList;
      original[listKey] = normalizeOrder(inOrder, serverOnly, order, serverOrder, mk);
    }
    delete patch[listKey];
  }

  for (const [rawKey, patchV] of Object.entries(patch)) {
    let k = rawKey;
    let isDeleteList = false;
    if (rawKey.startsWith(DELETE_PRIMITIVE_PREFIX)) {
      k = rawKey.slice(DELETE_PRIMITIVE_PREFIX.length);
      isDeleteList = true;
      if (!Array.isArray(patchV)) throw smpError('invalid patch format of primitive list');
    } else if (rawKey.startsWith('$')) {
      continue; // an unknown directive: nothing in the typed object can hold it
    }
    if (patchV === null) {
      delete original[k];
      continue;
    }
    if (!(k in original)) {
      if (!isDeleteList) original[k] = cleanNew(patchV);
      continue;
    }
    const ov = original[k] as JsonValue;
    const bothMaps = isJsonObject(ov) && isJsonObject(patchV);
    const bothLists = Array.isArray(ov) && Array.isArray(patchV);
    const meta = fieldMeta(type, k);
    if (bothMaps) {
      original[k] = meta.strategy === 'replace' ? cleanNew(patchV) : mergeMap(ov, patchV, meta.type);
    } else if (bothLists) {
      original[k] = mergeSliceHandler(ov, patchV, isDeleteList ? { ...meta, strategy: 'merge' } : meta, isDeleteList);
    } else if (!isDeleteList) {
      original[k] = cleanNew(patchV);
    }
  }
  return original;
}

/**
 * Apply a strategic merge patch to an object of `kind` (server side, as kube-apiserver does with
 * MergeParallelList and IgnoreUnmatchedNulls). Kinds outside our catalogue only get ObjectMeta's
 * merge keys (kube would refuse SMP for unregistered kinds; we are lenient). Throws 400 for
 * malformed patches.
 */
export function applyStrategicMergePatch(original: JsonObject, patch: JsonValue, kind: string): JsonObject {
  if (!isJsonObject(patch)) throw badRequest('invalid JSON document');
  return mergeMap(cloneJson(original), patch, strategicSchemaFor(kind));
}

/** Dispatch on the patch type (what a PATCH handler needs). */
export function applyPatch(type: PatchType, original: JsonObject, patch: JsonValue, kind: string): JsonValue {
  switch (type) {
    case 'json':
      return applyJsonPatch(original, patch);
    case 'merge':
      return applyMergePatch(original, patch);
    case 'strategic':
      return applyStrategicMergePatch(original, patch, kind);
    case 'apply':
      throw unsupportedMediaType([PATCH_CONTENT_TYPES.json, PATCH_CONTENT_TYPES.merge, PATCH_CONTENT_TYPES.strategic]);
  }
}
