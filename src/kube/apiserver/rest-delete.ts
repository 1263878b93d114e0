// DELETE of one object and of a collection, with kube's semantics: preconditions, graceful pod
// deletion (deletionTimestamp + grace period, finished by the kubelet's grace-0 delete),
// finalizers (the object stays, marked, until the last finalizer goes), namespaces (Terminating,
// emptied by the namespace cleaner), and propagationPolicy (see cascade.ts for what this server
// does without a garbage collector).

import { isJsonObject, type JsonObject } from '../machinery/json.js';
import type { ResourceInfo } from '../machinery/resources.js';
import { badRequest, conflict, forbidden, successStatus } from '../machinery/status.js';
import { requestNamespace, type ApiContext, type ApiRequest } from './api-context.js';
import { cascadeBackground, cascadeForeground, orphanDependents, type Remover } from './cascade.js';
import { parseBodyValue, readBody, writeJson } from './http-io.js';
import { negotiateOutput } from './negotiation.js';
import { cloneObject, finalizersOf, metaOf, rfc3339 } from './object-meta.js';
import { DELETE_OBJECT, type UpdateResult } from './object-store.js';
import { parseIncludeObject, renderList, renderObject } from './render.js';
import { selectionOf } from './rest-read.js';
import { isDryRun } from './rest-write.js';

export type PropagationPolicy = 'Background' | 'Foreground' | 'Orphan';

export interface DeleteOptions {
  readonly gracePeriodSeconds: number | undefined;
  readonly propagationPolicy: PropagationPolicy;
  readonly preconditionUid: string | undefined;
  readonly preconditionResourceVersion: string | undefined;
  readonly dryRun: boolean;
}

export interface DeleteResult {
  /** The object as it was (deleted) or as it is now (marked for deletion). */
  readonly object: JsonObject;
  readonly deleted: boolean;
}

/** Kinds whose DELETE answers with the object rather than a Success Status (ReturnDeletedObject). */
const returnsDeletedObject = new Set(['Pod', 'Service', 'Namespace']);
const undeletableNamespaces = new Set(['default', 'kube-system', 'kube-public']);

/** DeleteOptions from the body (if any) and the query, the query winning as in kube. */
export async function parseDeleteOptions(req: ApiRequest): Promise<DeleteOptions> {
  const raw = await readBody(req.http);
  let body: JsonObject = {};
  if (raw.length > 0 && raw.toString('utf8').trim() !== '') {
    const value = parseBodyValue(raw, req.http.headers['content-type'], 'DeleteOptions');
    if (!isJsonObject(value)) throw badRequest('DeleteOptions must be a JSON object');
    body = value;
  }
  const q = req.query;
  let grace: number | undefined;
  const graceText = q.get('gracePeriodSeconds');
  if (graceText !== null && graceText !== '') {
    if (!/^-?\d+$/.test(graceText)) throw badRequest(`gracePeriodSeconds: invalid value ${JSON.stringify(graceText)}`);
    grace = Number(graceText);
  } else if (typeof body.gracePeriodSeconds === 'number') {
    grace = body.gracePeriodSeconds;
  }
  let policy = q.get('propagationPolicy') ?? (typeof body.propagationPolicy === 'string' ? body.propagationPolicy : undefined);
  const orphan = q.get('orphanDependents') ?? (typeof body.orphanDependents === 'boolean' ? String(body.orphanDependents) : undefined);
  if (policy !== undefined && orphan !== undefined) throw badRequest('Cannot set both OrphanDependents and PropagationPolicy');
  if (policy === undefined && orphan !== undefined) policy = orphan === 'true' ? 'Orphan' : 'Background';
  policy ??= 'Background';
  if (policy !== 'Background' && policy !== 'Foreground' && policy !== 'Orphan') {
    throw badRequest(`propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`);
  }
  const pre = isJsonObject(body.preconditions) ? body.preconditions : {};
  const dryRunBody = Array.isArray(body.dryRun) && body.dryRun.length > 0;
  return {
    gracePeriodSeconds: grace,
    propagationPolicy: policy,
    preconditionUid: typeof pre.uid === 'string' ? pre.uid : undefined,
    preconditionResourceVersion: typeof pre.resourceVersion === 'string' ? pre.resourceVersion : undefined,
    dryRun: isDryRun(q) || dryRunBody,
  };
}

/** Deletes (or marks for deletion) one object. Used by handlers, the namespace cleaner and cascades. */
export async function deleteObject(ctx: ApiContext, info: ResourceInfo, namespace: string | undefined, name: string, options: DeleteOptions): Promise<DeleteResult> {
  if (info.kind === 'Namespace' && info.group === '') return deleteNamespace(ctx, info, name, options);
  const strategy = ctx.strategyFor(info);
  if (options.propagationPolicy === 'Orphan' && !options.dryRun) {
    const current = await ctx.objects.get(info, namespace, name);
    await orphanDependents(ctx, info, current);
  }
  const hooks = options.dryRun ? undefined : strategy.writeHooks?.();
  let marked = false;
  let dryResult: JsonObject | undefined;
  const result = await ctx.objects.guaranteedUpdate(info, namespace, name, (current): UpdateResult => {
    checkPreconditions(info, name, current, options);
    const meta = metaOf(current);
    const grace = strategy.gracePeriodSeconds(current, options.gracePeriodSeconds);
    const foreground = options.propagationPolicy === 'Foreground' && ownsDependents(info);
    const finalizers = finalizersOf(current);
    if (foreground && !finalizers.includes('foregroundDeletion')) finalizers.push('foregroundDeletion');
    const now = ctx.now();
    let next: JsonObject | typeof DELETE_OBJECT;
    if (meta.deletionTimestamp !== undefined) {
      // Already going: a shorter grace period (e.g. the kubelet's 0) moves the deadline up.
      const currentGrace = typeof meta.deletionGracePeriodSeconds === 'number' ? meta.deletionGracePeriodSeconds : 0;
      if (grace === 0 && finalizers.length === 0) next = DELETE_OBJECT;
      else if (grace < currentGrace) next = markDeleting(current, now, grace, finalizers, false);
      else next = current;
    } else if (grace > 0 || finalizers.length > 0) {
      next = markDeleting(current, now, grace, finalizers, strategy.tracksGeneration);
    } else {
      next = DELETE_OBJECT;
    }
    if (options.dryRun) {
      dryResult = next === DELETE_OBJECT ? current : next;
      marked = next !== DELETE_OBJECT;
      return current;
    }
    marked = next !== DELETE_OBJECT;
    return next;
  });
  if (dryResult !== undefined) return { object: dryResult, deleted: !marked };
  if (result.deleted) {
    await hooks?.committed(result.object, undefined);
    if (options.propagationPolicy === 'Background') cascadeBackground(ctx, info, result.object, remover(ctx));
    return { object: result.object, deleted: true };
  }
  if (options.propagationPolicy === 'Foreground' && finalizersOf(result.object).includes('foregroundDeletion')) {
    cascadeForeground(ctx, info, result.object, remover(ctx));
  }
  return { object: result.object, deleted: false };
}

function remover(ctx: ApiContext): Remover {
  return async (info, namespace, name, policy) => {
    await deleteObject(ctx, info, namespace, name, {
      gracePeriodSeconds: undefined,
      propagationPolicy: policy,
      preconditionUid: undefined,
      preconditionResourceVersion: undefined,
      dryRun: false,
    });
  };
}

/** Kinds whose objects own others in this server's catalogue (cascades look only below these). */
function ownsDependents(info: ResourceInfo): boolean {
  return info.kind === 'Deployment' || info.kind === 'ReplicaSet';
}

function markDeleting(current: JsonObject, now: Date, grace: number, finalizers: string[], bumpGeneration: boolean): JsonObject {
  const next = cloneObject(current);
  const meta = metaOf(next);
  meta.deletionTimestamp = rfc3339(new Date(now.getTime() + grace * 1000));
  meta.deletionGracePeriodSeconds = grace;
  if (finalizers.length > 0) meta.finalizers = finalizers;
  if (bumpGeneration && typeof meta.generation === 'number') meta.generation += 1;
  return next;
}

function checkPreconditions(info: ResourceInfo, name: string, current: JsonObject, options: DeleteOptions): void {
  const meta = metaOf(current);
  if (options.preconditionUid !== undefined && options.preconditionUid !== meta.uid) {
    throw conflict(info, name, `Precondition failed: UID in precondition: ${options.preconditionUid}, UID in object meta: ${String(meta.uid ?? '')}`);
  }
  if (options.preconditionResourceVersion !== undefined && options.preconditionResourceVersion !== meta.resourceVersion) {
    throw conflict(info, name, `Precondition failed: ResourceVersion in precondition: ${options.preconditionResourceVersion}, ResourceVersion in object meta: ${String(meta.resourceVersion ?? '')}`);
  }
}

/**
 * A namespace is not removed at once: it turns Terminating (deletionTimestamp, status.phase) and
 * the namespace cleaner deletes what is in it, then the namespace (kube's namespace controller).
 */
async function deleteNamespace(ctx: ApiContext, info: ResourceInfo, name: string, options: DeleteOptions): Promise<DeleteResult> {
  if (undeletableNamespaces.has(name)) throw forbidden(info, name, 'this namespace may not be deleted');
  let deletedNow = false;
  const result = await ctx.objects.guaranteedUpdate(info, undefined, name, (current): UpdateResult => {
    checkPreconditions(info, name, current, options);
    const meta = metaOf(current);
    const specFinalizers = isJsonObject(current.spec) && Array.isArray(current.spec.finalizers) ? current.spec.finalizers : [];
    if (specFinalizers.length === 0 && finalizersOf(current).length === 0) {
      deletedNow = true;
      return options.dryRun ? current : DELETE_OBJECT;
    }
    if (meta.deletionTimestamp !== undefined) return current;
    const next = cloneObject(current);
    const nextMeta = metaOf(next);
    nextMeta.deletionTimestamp = rfc3339(ctx.now());
    nextMeta.deletionGracePeriodSeconds = 0;
    next.status = { ...(isJsonObject(next.status) ? next.status : {}), phase: 'Terminating' };
    return options.dryRun ? current : next;
  });
  if (!options.dryRun && !result.deleted) ctx.cleanupNamespace(name);
  return { object: result.object, deleted: deletedNow };
}

export async function handleDelete(ctx: ApiContext, req: ApiRequest): Promise<void> {
  const format = negotiateOutput(req.http.headers.accept);
  const options = await parseDeleteOptions(req);
  if (req.target.subresource !== '') throw badRequest(`DELETE is not supported on the ${req.target.subresource} subresource`);
  const result = await deleteObject(ctx, req.info, requestNamespace(req), req.target.name, options);
  if (!result.deleted || returnsDeletedObject.has(req.info.kind)) {
    writeJson(req.res, 200, renderObject(req.view, result.object, format, parseIncludeObject(req.query.get('includeObject'))), format.encoding);
    return;
  }
  const meta = metaOf(result.object);
  const details: { name: string; kind: string; uid?: string; group?: string } = { name: req.target.name, kind: req.view.resource };
  if (req.view.group !== '') details.group = req.view.group;
  if (typeof meta.uid === 'string') details.uid = meta.uid;
  writeJson(req.res, 200, successStatus(details));
}

/** DELETE on a collection: every object the selectors match, one by one (kube does the same). */
export async function handleDeleteCollection(ctx: ApiContext, req: ApiRequest): Promise<void> {
  const format = negotiateOutput(req.http.headers.accept);
  const options = await parseDeleteOptions(req);
  const namespace = requestNamespace(req);
  const selection = selectionOf(req.view, req.query);
  const page = await ctx.objects.list(req.info, namespace === '' ? undefined : namespace, { filter: selection.filter });
  const deleted: JsonObject[] = [];
  for (const item of page.items) {
    const meta = metaOf(item);
    try {
      const result = await deleteObject(ctx, req.info, typeof meta.namespace === 'string' ? meta.namespace : undefined, String(meta.name), options);
      deleted.push(result.object);
    } catch (error) {
      // Gone meanwhile: that is what we wanted.
      if ((error as { reason?: string }).reason !== 'NotFound') throw error;
    }
  }
  writeJson(req.res, 200, renderList(req.view, deleted, { resourceVersion: page.resourceVersion, continueToken: '' }, format, parseIncludeObject(req.query.get('includeObject'))), format.encoding);
}
