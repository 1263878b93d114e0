// POST (create), PUT (update) and PATCH of objects and of their status subresource, with kube's
// semantics: generateName, namespace lifecycle admission, optimistic concurrency, create-on-update
// for the kinds that allow it, dry runs, and the patch types kubectl sends.

import { fromStoredVersion, toStoredVersion } from '../machinery/conversion.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../machinery/json.js';
import { applyPatch, patchTypeOf, type PatchType } from '../machinery/patch.js';
import { findResource, type ResourceInfo } from '../machinery/resources.js';
import { badRequest, invalid, namespaceTerminating, notFound, type KubeStatusError } from '../machinery/status.js';
import { validateForRequestVersion } from '../machinery/validation.js';
import { requestNamespace, type ApiContext, type ApiRequest } from './api-context.js';
import { parseBodyValue, parseObjectBody, readBody, writeJson } from './http-io.js';
import { negotiateOutput } from './negotiation.js';
import { cloneObject, metaOf, metaString } from './object-meta.js';
import { checkNamespace, checkTypeMeta, generatedName, prepareCreate, prepareUpdate } from './object-pipeline.js';
import { DELETE_OBJECT, type UpdateResult } from './object-store.js';
import { parseIncludeObject, renderObject } from './render.js';
import type { WriteHooks } from './resource-strategy.js';

const namespacesResource = { group: '', resource: 'namespaces' };
const namespaceInfo = findResource('', 'v1', 'namespaces') as ResourceInfo;
const generateNameAttempts = 8;

export function isDryRun(query: URLSearchParams): boolean {
  const values = query.getAll('dryRun');
  for (const value of values) {
    if (value !== 'All') throw badRequest(`dryRun: Unsupported value: "${value}": supported values: "All"`);
  }
  return values.length > 0;
}

/** kube's NamespaceLifecycle admission: no new objects in a missing or terminating namespace. */
export async function admitNamespace(ctx: ApiContext, info: ResourceInfo, namespace: string, name: string): Promise<void> {
  if (!info.namespaced) return;
  const known = ctx.namespaceState(namespace);
  if (known === 'active') return;
  if (known === 'terminating') throw namespaceTerminating(info, name, namespace);
  const ns = await ctx.objects.getMaybe(namespaceInfo, undefined, namespace);
  if (ns === undefined) throw notFound(namespacesResource, namespace);
  if (metaOf(ns).deletionTimestamp !== undefined || (isJsonObject(ns.status) && ns.status.phase === 'Terminating')) {
    throw namespaceTerminating(info, name, namespace);
  }
}

/** Creates `body` (already type- and namespace-checked) with generateName retries and write hooks. */
export async function createObject(ctx: ApiContext, info: ResourceInfo, body: JsonObject, dryRun: boolean): Promise<JsonObject> {
  const strategy = ctx.strategyFor(info);
  const generateName = metaString(body, 'generateName');
  const named = metaString(body, 'name');
  const useGenerated = (named === undefined || named === '') && generateName !== undefined && generateName !== '';
  for (let attempt = 1; ; attempt++) {
    const obj = cloneObject(body);
    if (useGenerated) metaOf(obj).name = generatedName(generateName);
    prepareCreate(info, strategy, obj, ctx.now());
    if (dryRun) return obj;
    const hooks: WriteHooks | undefined = strategy.writeHooks?.();
    try {
      await hooks?.admit(obj, undefined);
      const lease = info.kind === 'Event' && info.group === '' ? await ctx.eventLease() : undefined;
      const created = await ctx.objects.create(info, obj, lease);
      await hooks?.committed(undefined, created);
      return created;
    } catch (error) {
      await hooks?.aborted();
      if (useGenerated && attempt < generateNameAttempts && (error as KubeStatusError).reason === 'AlreadyExists') continue;
      throw error;
    }
  }
}

export async function handleCreate(ctx: ApiContext, req: ApiRequest): Promise<void> {
  const format = negotiateOutput(req.http.headers.accept);
  const dryRun = isDryRun(req.query);
  const served = parseObjectBody(await readBody(req.http), req.http.headers['content-type'], req.view.kind);
  checkTypeMeta(req.view, served);
  const body = toStoredVersion(req.view, served);
  const namespace = requestNamespace(req) ?? '';
  checkNamespace(req.info, body, namespace);
  checkRequestVersion(req, body, undefined);
  ctx.admitCreate?.(req, body);
  await admitNamespace(ctx, req.info, namespace, metaString(body, 'name') ?? '');
  await ctx.admitWrite?.(req, body, undefined);
  const created = await createObject(ctx, req.info, body, dryRun);
  writeJson(req.res, 201, renderObject(req.view, created, format, parseIncludeObject(req.query.get('includeObject'))), format.encoding);
}

/**
 * The update loop shared by PUT and PATCH: `compute` turns the current object into the client's
 * intended next object; the pipeline, hooks and CAS retries do the rest.
 */
export async function updateObject(
  ctx: ApiContext,
  info: ResourceInfo,
  namespace: string | undefined,
  name: string,
  subresource: '' | 'status',
  compute: (current: JsonObject) => JsonObject,
  opts: {
    dryRun: boolean;
    createIfMissing?: () => Promise<JsonObject | undefined>;
    /** Admission of the client's next object over the current one, before the pipeline (may throw a Status). */
    admit?: (next: JsonObject, current: JsonObject) => Promise<void>;
  },
): Promise<{ object: JsonObject; created: boolean }> {
  const strategy = ctx.strategyFor(info);
  const hooks: WriteHooks | undefined = opts.dryRun ? undefined : strategy.writeHooks?.();
  let seen: JsonObject | undefined;
  let dryResult: JsonObject | undefined;
  const createIfMissing = opts.createIfMissing;
  const create =
    createIfMissing === undefined
      ? undefined
      : async (): Promise<JsonObject | undefined> => {
          const fresh = await createIfMissing();
          if (fresh === undefined) return undefined;
          if (opts.dryRun) {
            // Nothing is written: the 404 below is turned into this answer.
            dryResult = fresh;
            return undefined;
          }
          await hooks?.admit(fresh, undefined);
          return fresh;
        };
  try {
    const result = await ctx.objects.guaranteedUpdate(
      info,
      namespace,
      name,
      async (current): Promise<UpdateResult> => {
        seen = cloneObject(current);
        const next = compute(current);
        await opts.admit?.(next, current);
        const expected = metaString(next, 'resourceVersion') ?? '';
        const prepared = prepareUpdate(info, { strategy, expectedResourceVersion: expected, subresource }, next, current);
        if (prepared === DELETE_OBJECT) {
          if (opts.dryRun) {
            dryResult = current;
            return current;
          }
          return DELETE_OBJECT;
        }
        if (opts.dryRun) {
          dryResult = prepared;
          return current;
        }
        await hooks?.admit(prepared, current);
        return prepared;
      },
      create === undefined ? {} : { createIfMissing: create },
    );
    if (dryResult !== undefined) return { object: dryResult, created: false };
    await hooks?.committed(result.created ? undefined : seen, result.deleted ? undefined : result.object);
    return { object: result.object, created: result.created };
  } catch (error) {
    await hooks?.aborted();
    if (dryResult !== undefined && (error as KubeStatusError).reason === 'NotFound') return { object: dryResult, created: true };
    throw error;
  }
}

/** ctx.admitWrite for updates of the main resource (a status update cannot change what it checks). */
function admitUpdate(ctx: ApiContext, req: ApiRequest, subresource: '' | 'status'): { admit?: (next: JsonObject, current: JsonObject) => Promise<void> } {
  const admitWrite = ctx.admitWrite;
  if (admitWrite === undefined || subresource !== '') return {};
  return { admit: (next, current) => admitWrite(req, next, current) };
}

function subresourceOf(req: ApiRequest): '' | 'status' {
  const sub = req.target.subresource;
  if (sub === '' || sub === 'status') return sub;
  throw notFound(req.info, `${req.target.name}/${sub}`);
}

export async function handleUpdate(ctx: ApiContext, req: ApiRequest): Promise<void> {
  const format = negotiateOutput(req.http.headers.accept);
  const dryRun = isDryRun(req.query);
  const subresource = subresourceOf(req);
  const served = parseObjectBody(await readBody(req.http), req.http.headers['content-type'], req.view.kind);
  checkTypeMeta(req.view, served);
  const body = toStoredVersion(req.view, served);
  const namespace = requestNamespace(req);
  checkNamespace(req.info, body, namespace ?? '');
  const bodyName = metaString(body, 'name') ?? '';
  if (bodyName !== req.target.name) {
    throw badRequest(`the name of the object (${bodyName}) does not match the name on the URL (${req.target.name})`);
  }
  const strategy = ctx.strategyFor(req.info);
  const createIfMissing =
    strategy.allowCreateOnUpdate && subresource === ''
      ? async (): Promise<JsonObject | undefined> => {
          await admitNamespace(ctx, req.info, namespace ?? '', bodyName);
          const fresh = cloneObject(body);
          checkRequestVersion(req, fresh, undefined);
          await ctx.admitWrite?.(req, fresh, undefined);
          prepareCreate(req.info, strategy, fresh, ctx.now());
          return fresh;
        }
      : undefined;
  const result = await updateObject(ctx, req.info, namespace, req.target.name, subresource, (current) => {
    checkRequestVersion(req, body, current);
    return cloneObject(body);
  }, {
    dryRun,
    ...(createIfMissing === undefined ? {} : { createIfMissing }),
    ...admitUpdate(ctx, req, subresource),
  });
  writeJson(req.res, result.created ? 201 : 200, renderObject(req.view, result.object, format, parseIncludeObject(req.query.get('includeObject'))), format.encoding);
}

/** The patched object, or a 4xx for a patch that does not apply or does not yield an object. */
export function patchObject(type: PatchType, current: JsonObject, patch: JsonValue, kind: string): JsonObject {
  const patched = applyPatch(type, current, patch, kind);
  if (!isJsonObject(patched)) throw badRequest('the patch did not produce an object');
  return patched;
}

export async function handlePatch(ctx: ApiContext, req: ApiRequest): Promise<void> {
  const format = negotiateOutput(req.http.headers.accept);
  const dryRun = isDryRun(req.query);
  const subresource = subresourceOf(req);
  const contentType = req.http.headers['content-type'];
  const type = patchTypeOf(contentType, ['json', 'merge', 'strategic', 'apply']);
  const patch = parseBodyValue(await readBody(req.http), type === 'apply' ? 'application/yaml' : 'application/json', 'patch');
  const namespace = requestNamespace(req);
  const name = req.target.name;
  if (type === 'apply') {
    await handleApply(ctx, req, patch, subresource, dryRun);
    return;
  }
  const result = await updateObject(ctx, req.info, namespace, name, subresource, (current) => {
    // The patch is in the addressed version's terms: applied to that form, then stored back.
    const served = fromStoredVersion(req.view, current);
    const patched = patchObject(type, served, patch, req.view.kind);
    checkPatchedIdentity(req.view, patched, served);
    const next = toStoredVersion(req.view, patched);
    checkRequestVersion(req, next, current);
    return next;
  }, { dryRun, ...admitUpdate(ctx, req, subresource) });
  writeJson(req.res, 200, renderObject(req.view, result.object, format, parseIncludeObject(req.query.get('includeObject'))), format.encoding);
}

/** A patch may not rename or move the object (kube answers 400 for both... via validation). */
function checkPatchedIdentity(info: ResourceInfo, patched: JsonObject, current: JsonObject): void {
  const meta = metaOf(patched);
  const cur = metaOf(current);
  if (meta.name !== cur.name) throw badRequest(`the name of the object (${String(meta.name)}) does not match the name on the URL (${String(cur.name)})`);
  if (info.namespaced && meta.namespace !== cur.namespace) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  checkTypeMeta(info, patched);
}

/**
 * Server-side apply, simplified: a missing object is created from the applied configuration; an
 * existing one gets it as a strategic merge patch. There is no field ownership (managedFields),
 * so fields dropped from the configuration are not removed and there are no conflicts.
 */
async function handleApply(ctx: ApiContext, req: ApiRequest, patch: JsonValue, subresource: '' | 'status', dryRun: boolean): Promise<void> {
  const format = negotiateOutput(req.http.headers.accept);
  if (!isJsonObject(patch)) throw badRequest('the apply configuration is not an object');
  if (req.query.get('fieldManager') === null || req.query.get('fieldManager') === '') {
    throw badRequest('PATCH requests of type application/apply-patch+yaml must have a fieldManager');
  }
  const config = cloneObject(patch);
  checkTypeMeta(req.view, config);
  const namespace = requestNamespace(req);
  checkNamespace(req.info, config, namespace ?? '');
  const cfgMeta = metaOf(config);
  if (cfgMeta.name !== undefined && cfgMeta.name !== req.target.name) {
    throw badRequest(`the name of the object (${String(cfgMeta.name)}) does not match the name on the URL (${req.target.name})`);
  }
  cfgMeta.name = req.target.name;
  delete cfgMeta.resourceVersion;
  delete cfgMeta.managedFields;
  const strategy = ctx.strategyFor(req.info);
  const result = await updateObject(ctx, req.info, namespace, req.target.name, subresource, (current) => {
    const next = toStoredVersion(req.view, patchObject('strategic', fromStoredVersion(req.view, current), config, req.view.kind));
    checkRequestVersion(req, next, current);
    return next;
  }, {
    dryRun,
    ...admitUpdate(ctx, req, subresource),
    createIfMissing: async () => {
      if (subresource !== '') return undefined;
      await admitNamespace(ctx, req.info, namespace ?? '', req.target.name);
      const fresh = toStoredVersion(req.view, cloneObject(config));
      checkRequestVersion(req, fresh, undefined);
      await ctx.admitWrite?.(req, fresh, undefined);
      prepareCreate(req.info, strategy, fresh, ctx.now());
      return fresh;
    },
  });
  writeJson(req.res, result.created ? 201 : 200, renderObject(req.view, result.object, format, parseIncludeObject(req.query.get('includeObject'))), format.encoding);
}

/**
 * Checks that depend on the version the client wrote through (kube validates with the request's
 * group/version): events.k8s.io/v1 Events are held to the newer, stricter rules. 422 on failure.
 */
function checkRequestVersion(req: ApiRequest, stored: JsonObject, current: JsonObject | undefined): void {
  const errors = validateForRequestVersion(req.view.group, req.view.kind, stored, current);
  if (errors.length > 0) throw invalid(req.view.group === '' ? req.view.kind : { group: req.view.group, kind: req.view.kind }, metaString(stored, 'name') ?? '', errors);
}
