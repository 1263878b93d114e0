// The subresources that are not plain views of the object: scale (an autoscaling/v1 Scale over
// spec.replicas, what `kubectl scale` patches), pods/binding (the scheduler's bind), and
// namespaces/finalize (removing spec.finalizers, which ends a namespace's deletion).

import { isJsonObject, type JsonObject } from '../machinery/json.js';
import { formatLabelSelector } from '../machinery/label-selector.js';
import { patchTypeOf } from '../machinery/patch.js';
import { badRequest, conflict, invalid, invalidValue, notFound, required, successStatus } from '../machinery/status.js';
import { requestNamespace, type ApiContext, type ApiRequest } from './api-context.js';
import { parseBodyValue, parseObjectBody, readBody, writeJson } from './http-io.js';
import { cloneObject, finalizersOf, metaOf, rfc3339 } from './object-meta.js';
import { DELETE_OBJECT } from './object-store.js';
import { isDryRun, patchObject, updateObject } from './rest-write.js';

const scaleApiVersion = 'autoscaling/v1';

/** The Scale view of a Deployment or ReplicaSet. */
export function scaleOf(obj: JsonObject): JsonObject {
  const meta = metaOf(obj);
  const spec = isJsonObject(obj.spec) ? obj.spec : {};
  const status = isJsonObject(obj.status) ? obj.status : {};
  const scaleMeta: JsonObject = {};
  for (const field of ['name', 'namespace', 'uid', 'resourceVersion', 'creationTimestamp'] as const) {
    if (meta[field] !== undefined) scaleMeta[field] = meta[field];
  }
  return {
    kind: 'Scale',
    apiVersion: scaleApiVersion,
    metadata: scaleMeta,
    spec: { replicas: typeof spec.replicas === 'number' ? spec.replicas : 1 },
    status: { replicas: typeof status.replicas === 'number' ? status.replicas : 0, selector: formatLabelSelector(spec.selector) },
  };
}

function replicasOf(scale: JsonObject, name: string, kind: string): number {
  const spec = isJsonObject(scale.spec) ? scale.spec : {};
  const replicas = spec.replicas;
  if (replicas === undefined) return 0;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas)) throw invalid({ group: 'autoscaling', kind: 'Scale' }, name, [invalidValue('spec.replicas', replicas, 'must be an integer')]);
  if (replicas < 0) throw invalid({ group: 'autoscaling', kind: 'Scale' }, name, [invalidValue('spec.replicas', replicas, 'must be greater than or equal to 0')]);
  void kind;
  return replicas;
}

export async function handleScale(ctx: ApiContext, req: ApiRequest): Promise<void> {
  const { info } = req;
  const namespace = requestNamespace(req);
  const name = req.target.name;
  if (req.verb === 'get') {
    writeJson(req.res, 200, scaleOf(await ctx.objects.get(info, namespace, name)));
    return;
  }
  const dryRun = isDryRun(req.query);
  let computeScale: (currentScale: JsonObject) => JsonObject;
  if (req.verb === 'update') {
    const body = parseObjectBody(await readBody(req.http), req.http.headers['content-type'], 'Scale');
    const bodyName = metaOf(body).name;
    if (bodyName !== undefined && bodyName !== name) throw badRequest(`the name of the object (${String(bodyName)}) does not match the name on the URL (${name})`);
    computeScale = () => body;
  } else if (req.verb === 'patch') {
    const type = patchTypeOf(req.http.headers['content-type']);
    const patch = parseBodyValue(await readBody(req.http), 'application/json', 'patch');
    computeScale = (currentScale) => patchObject(type, currentScale, patch, 'Scale');
  } else {
    throw badRequest(`${req.verb} is not supported on the scale subresource`);
  }
  const result = await updateObject(ctx, info, namespace, name, '', (current) => {
    const wanted = computeScale(scaleOf(current));
    const replicas = replicasOf(wanted, name, info.kind);
    const next = cloneObject(current);
    const spec = isJsonObject(next.spec) ? next.spec : {};
    spec.replicas = replicas;
    next.spec = spec;
    // The Scale's resourceVersion, when given, is a precondition on the object's.
    const rv = metaOf(wanted).resourceVersion;
    metaOf(next).resourceVersion = typeof rv === 'string' && rv !== '' ? rv : (metaOf(current).resourceVersion as string);
    return next;
  }, { dryRun });
  writeJson(req.res, 200, scaleOf(result.object));
}

/** POST pods/<name>/binding: assign the pod to a node once (the scheduler's bind). */
export async function handleBinding(ctx: ApiContext, req: ApiRequest): Promise<void> {
  const { info } = req;
  const namespace = requestNamespace(req);
  const body = parseObjectBody(await readBody(req.http), req.http.headers['content-type'], 'Binding');
  const bodyMeta = metaOf(body);
  const name = typeof bodyMeta.name === 'string' && bodyMeta.name !== '' ? bodyMeta.name : req.target.name;
  if (name !== req.target.name) throw badRequest(`the name of the object (${name}) does not match the name on the URL (${req.target.name})`);
  const target = isJsonObject(body.target) ? body.target : {};
  const node = target.name;
  if (typeof node !== 'string' || node === '') throw invalid('Binding', name, [required('target.name')]);
  if (target.kind !== undefined && target.kind !== '' && target.kind !== 'Node') {
    throw invalid('Binding', name, [invalidValue('target.kind', target.kind, 'must be empty or Node')]);
  }
  const bindingResource = { group: '', resource: 'pods/binding' };
  await ctx.objects.guaranteedUpdate(info, namespace, name, (current) => {
    const spec = isJsonObject(current.spec) ? current.spec : {};
    const meta = metaOf(current);
    if (meta.deletionTimestamp !== undefined) throw conflict(bindingResource, name, `pod ${name} is being deleted, cannot be assigned to a host`);
    if (typeof spec.nodeName === 'string' && spec.nodeName !== '') {
      throw conflict(bindingResource, name, `pod ${name} is already assigned to node ${JSON.stringify(spec.nodeName)}`);
    }
    const next = cloneObject(current);
    const nextSpec = isJsonObject(next.spec) ? next.spec : {};
    nextSpec.nodeName = node;
    next.spec = nextSpec;
    if (isJsonObject(bodyMeta.annotations)) {
      const m = metaOf(next);
      m.annotations = { ...(isJsonObject(m.annotations) ? m.annotations : {}), ...bodyMeta.annotations };
    }
    const status = isJsonObject(next.status) ? next.status : {};
    const conditions = Array.isArray(status.conditions) ? status.conditions.filter((c) => !(isJsonObject(c) && c.type === 'PodScheduled')) : [];
    conditions.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: rfc3339(ctx.now()) });
    status.conditions = conditions;
    next.status = status;
    return next;
  });
  writeJson(req.res, 201, successStatus());
}

/** PUT namespaces/<name>/finalize: replace spec.finalizers; the last one gone ends a deletion. */
export async function handleNamespaceFinalize(ctx: ApiContext, req: ApiRequest): Promise<void> {
  const body = parseObjectBody(await readBody(req.http), req.http.headers['content-type'], 'Namespace');
  const spec = isJsonObject(body.spec) ? body.spec : {};
  const wanted = Array.isArray(spec.finalizers) ? spec.finalizers.filter((f): f is string => typeof f === 'string') : [];
  const result = await finalizeNamespace(ctx, req.info, req.target.name, () => wanted);
  writeJson(req.res, 200, result);
}

/** Sets a namespace's spec.finalizers; deletes it when it is terminating and nothing holds it. */
export async function finalizeNamespace(ctx: ApiContext, info: ApiRequest['info'], name: string, finalizers: (current: string[]) => string[]): Promise<JsonObject> {
  const result = await ctx.objects.guaranteedUpdate(info, undefined, name, (current) => {
    const next = cloneObject(current);
    const spec = isJsonObject(next.spec) ? next.spec : {};
    const currentList = Array.isArray(spec.finalizers) ? spec.finalizers.filter((f): f is string => typeof f === 'string') : [];
    spec.finalizers = finalizers(currentList);
    next.spec = spec;
    if (metaOf(next).deletionTimestamp !== undefined && spec.finalizers.length === 0 && finalizersOf(next).length === 0) return DELETE_OBJECT;
    return next;
  });
  if (result.object === undefined) throw notFound(info, name);
  return result.object;
}
