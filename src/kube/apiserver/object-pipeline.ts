// What happens to an object between the request body and the store, for creates and updates
// (kube's rest.BeforeCreate / rest.BeforeUpdate): type and namespace checks, system metadata
// (uid, creationTimestamp, generation), the kind's strategy, defaulting and validation, and the
// end of a deletion once the last finalizer is gone.

import { randomInt, randomUUID } from 'node:crypto';

import { isJsonObject, jsonEqual, type JsonObject } from '../machinery/json.js';
import { apiVersionOf, type ResourceInfo } from '../machinery/resources.js';
import { badRequest, conflict, fieldForbidden, invalid, invalidValue, type FieldError } from '../machinery/status.js';
import { finalizersOf, metaOf, nameOf, rfc3339 } from './object-meta.js';
import { applyObjectDefaults, validateObject } from './object-rules.js';
import { DELETE_OBJECT } from './object-store.js';
import type { ResourceStrategy } from './resource-strategy.js';

/** kube's name generator alphabet (no vowels, no confusable characters). */
const generateAlphabet = 'bcdfghjklmnpqrstvwxz2456789';

export function generatedName(base: string): string {
  const maxBase = 63 - 5;
  const prefix = base.length > maxBase ? base.slice(0, maxBase) : base;
  let suffix = '';
  for (let i = 0; i < 5; i++) suffix += generateAlphabet[randomInt(generateAlphabet.length)];
  return prefix + suffix;
}

/** The body's apiVersion and kind must name this resource (absent means "this one"). */
export function checkTypeMeta(info: ResourceInfo, obj: JsonObject): void {
  const expected = apiVersionOf(info);
  if (obj.apiVersion !== undefined && obj.apiVersion !== expected) {
    throw badRequest(`the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${expected})`);
  }
  if (obj.kind !== undefined && obj.kind !== info.kind) {
    throw badRequest(`the kind in the data (${String(obj.kind)}) does not match the expected kind (${info.kind})`);
  }
  obj.apiVersion = expected;
  obj.kind = info.kind;
}

/** The URL's namespace wins; a different one in the body is a 400, as in kube. */
export function checkNamespace(info: ResourceInfo, obj: JsonObject, urlNamespace: string): void {
  const meta = metaOf(obj);
  if (!info.namespaced) {
    if (info.kind !== 'Namespace') delete meta.namespace;
    else delete meta.namespace;
    return;
  }
  if (typeof meta.namespace === 'string' && meta.namespace !== '' && meta.namespace !== urlNamespace) {
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
  meta.namespace = urlNamespace;
}

/** Create: system metadata, strategy, defaults, validation. The name must be final already. */
export function prepareCreate(info: ResourceInfo, strategy: ResourceStrategy, obj: JsonObject, now: Date): void {
  const meta = metaOf(obj);
  delete meta.resourceVersion;
  delete meta.selfLink;
  delete meta.deletionTimestamp;
  delete meta.deletionGracePeriodSeconds;
  meta.uid = randomUUID();
  meta.creationTimestamp = rfc3339(now);
  if (strategy.tracksGeneration) meta.generation = 1;
  else delete meta.generation;
  strategy.prepareForCreate(obj);
  applyObjectDefaults(info, obj);
  validateObject(info, obj);
}

export interface UpdateInput {
  readonly strategy: ResourceStrategy;
  /** The resourceVersion the client based its change on ('' = unconditional). */
  readonly expectedResourceVersion: string;
  readonly subresource: '' | 'status';
}

/**
 * Update: `next` (the client's object, or the patched one) becomes what is stored over
 * `current`. Throws 409 on a stale resourceVersion, 422 on invalid changes. Returns DELETE_OBJECT
 * when the update removed the last finalizer of an object being deleted.
 */
export function prepareUpdate(info: ResourceInfo, input: UpdateInput, next: JsonObject, current: JsonObject): JsonObject | typeof DELETE_OBJECT {
  const currentMeta = metaOf(current);
  const name = nameOf(current);
  if (input.expectedResourceVersion !== '' && input.expectedResourceVersion !== currentMeta.resourceVersion) {
    throw conflict(info, name);
  }
  const nextMeta = metaOf(next);
  const errors: FieldError[] = [];
  if (typeof nextMeta.uid === 'string' && nextMeta.uid !== '' && nextMeta.uid !== currentMeta.uid) {
    errors.push(invalidValue('metadata.uid', nextMeta.uid, 'field is immutable'));
  }
  if (errors.length > 0) throw invalid(info.group === '' ? info.kind : { group: info.group, kind: info.kind }, name, errors);
  let result: JsonObject;
  if (input.subresource === 'status') {
    result = input.strategy.prepareForStatusUpdate(next, current);
  } else {
    result = next;
    input.strategy.prepareForUpdate(result, current);
  }
  const meta = metaOf(result);
  for (const field of ['uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'namespace', 'name'] as const) {
    if (currentMeta[field] === undefined) delete meta[field];
    else meta[field] = currentMeta[field];
  }
  delete meta.selfLink;
  meta.resourceVersion = currentMeta.resourceVersion ?? '';
  result.apiVersion = current.apiVersion ?? apiVersionOf(info);
  result.kind = current.kind ?? info.kind;
  if (currentMeta.deletionTimestamp !== undefined) {
    // kube: no new finalizers on an object that is going away.
    const before = new Set(finalizersOf(current));
    const added = finalizersOf(result).filter((f) => !before.has(f));
    if (added.length > 0) {
      throw invalid(info.group === '' ? info.kind : { group: info.group, kind: info.kind }, name, [
        fieldForbidden('metadata.finalizers', `no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`),
      ]);
    }
  }
  if (input.strategy.tracksGeneration) {
    const generation = typeof currentMeta.generation === 'number' ? currentMeta.generation : 1;
    meta.generation = input.subresource === '' && !jsonEqual(specOf(result), specOf(current)) ? generation + 1 : generation;
  } else if (currentMeta.generation === undefined) {
    delete meta.generation;
  } else {
    meta.generation = currentMeta.generation;
  }
  applyObjectDefaults(info, result);
  validateObject(info, result, current, input.subresource);
  if (currentMeta.deletionTimestamp !== undefined && finalizersOf(result).length === 0 && specFinalizers(info, result).length === 0) {
    const grace = meta.deletionGracePeriodSeconds;
    if (grace === undefined || grace === 0) return DELETE_OBJECT;
  }
  return result;
}

/** A namespace is also held by spec.finalizers ("kubernetes": its content is not gone yet). */
function specFinalizers(info: ResourceInfo, obj: JsonObject): unknown[] {
  if (info.kind !== 'Namespace' || !isJsonObject(obj.spec)) return [];
  return Array.isArray(obj.spec.finalizers) ? obj.spec.finalizers : [];
}

function specOf(obj: JsonObject): JsonObject | undefined {
  return isJsonObject(obj.spec) ? obj.spec : undefined;
}
