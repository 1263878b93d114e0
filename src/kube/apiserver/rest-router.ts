// Dispatch of resource requests to the handlers by verb and subresource, with kube's answers for
// what is not served (404 for unknown paths, 405 for verbs a resource does not allow).

import type { IncomingMessage, ServerResponse } from 'node:http';

import { findResource, storageOf, type ResourceInfo } from '../machinery/resources.js';
import { KubeStatusError, methodNotAllowed } from '../machinery/status.js';
import type { ApiContext, ApiRequest } from './api-context.js';
import type { ResourceRequest } from './request-info.js';
import type { UserInfo } from './user-info.js';
import { handleGet, handleList } from './rest-read.js';
import { handleDelete, handleDeleteCollection } from './rest-delete.js';
import { handleBinding, handleNamespaceFinalize, handleScale } from './rest-subresources.js';
import { handleWatch } from './rest-watch.js';
import { handleCreate, handlePatch, handleUpdate } from './rest-write.js';

/** kube's answer for a path that names nothing: 404 with an empty details object. */
export function pathNotFound(): KubeStatusError {
  return new KubeStatusError({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'the server could not find the requested resource',
    reason: 'NotFound',
    details: {},
    code: 404,
  });
}

export async function routeResource(ctx: ApiContext, target: ResourceRequest, query: URLSearchParams, http: IncomingMessage, res: ServerResponse, user?: UserInfo): Promise<void> {
  const view = findResource(target.group, target.version, target.resource);
  if (view === undefined) throw pathNotFound();
  const info = storageOf(view);
  if (!info.namespaced && target.namespace !== '' && info.kind !== 'Namespace') throw pathNotFound();
  if (info.namespaced && target.name !== '' && target.namespace === '') throw pathNotFound();
  const sub = target.subresource;
  const isFinalize = info.kind === 'Namespace' && sub === 'finalize';
  if (sub !== '' && !isFinalize && !(info.subresources as readonly string[]).includes(sub)) throw pathNotFound();
  const verb = target.verb;
  let effectiveQuery = query;
  if (verb === 'watch' && target.name !== '') {
    // A watch on one object is a watch of the collection pinned to its name.
    effectiveQuery = new URLSearchParams(query);
    const existing = query.get('fieldSelector') ?? '';
    effectiveQuery.set('fieldSelector', existing === '' ? `metadata.name=${target.name}` : `${existing},metadata.name=${target.name}`);
  }
  if (sub === '' && !view.verbs.includes(verb)) throw methodNotAllowed(view, verb);
  const req: ApiRequest = { info, view, target: { ...target, name: verb === 'watch' ? '' : target.name }, verb, query: effectiveQuery, http, res, ...(user === undefined ? {} : { user }) };
  switch (verb) {
    case 'get':
      if (sub === 'scale') return handleScale(ctx, req);
      if (sub === '' || sub === 'status') return handleGet(ctx, req);
      break;
    case 'list':
      if (sub === '') return handleList(ctx, req);
      break;
    case 'watch':
      if (sub === '') return handleWatch(ctx, req);
      break;
    case 'create':
      if (sub === 'binding' && target.name !== '') return handleBinding(ctx, req);
      if (sub === '' && target.name === '') return handleCreate(ctx, req);
      break;
    case 'update':
      if (target.name === '') break;
      if (sub === 'scale') return handleScale(ctx, req);
      if (isFinalize) return handleNamespaceFinalize(ctx, req);
      if (sub === '' || sub === 'status') return handleUpdate(ctx, req);
      break;
    case 'patch':
      if (target.name === '') break;
      if (sub === 'scale') return handleScale(ctx, req);
      if (sub === '' || sub === 'status') return handlePatch(ctx, req);
      break;
    case 'delete':
      if (sub === '') return handleDelete(ctx, req);
      break;
    case 'deletecollection':
      if (sub === '') return handleDeleteCollection(ctx, req);
      break;
  }
  throw methodNotAllowed(subresourceGr(view, sub), verb);
}

function subresourceGr(info: ResourceInfo, sub: string): { group: string; resource: string } {
  return { group: info.group, resource: sub === '' ? info.resource : `${info.resource}/${sub}` };
}
