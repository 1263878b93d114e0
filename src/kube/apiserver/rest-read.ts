// GET of one object and LIST of a collection (with label/field selectors, paging and
// resourceVersion semantics), in the representation the client asked for.

import type { JsonObject } from '../machinery/json.js';
import { storedFieldLabels } from '../machinery/conversion.js';
import { checkFieldSelector, matchesFieldSelector, parseFieldSelector, renameFieldLabels } from '../machinery/field-selector.js';
import { parseLabelSelector } from '../machinery/label-selector.js';
import { apiVersionOf, type ResourceInfo } from '../machinery/resources.js';
import { badRequest } from '../machinery/status.js';
import { requestNamespace, type ApiContext, type ApiRequest } from './api-context.js';
import { writeJson, writeRaw } from './http-io.js';
import { negotiateOutput } from './negotiation.js';
import { stringMap } from './object-meta.js';
import type { ObjectFilter } from './object-store.js';
import { parseIncludeObject, renderList, renderObject } from './render.js';

export async function handleGet(ctx: ApiContext, req: ApiRequest): Promise<void> {
  const format = negotiateOutput(req.http.headers.accept);
  const obj = await ctx.objects.get(req.info, requestNamespace(req), req.target.name);
  writeJson(req.res, 200, renderObject(req.view, obj, format, parseIncludeObject(req.query.get('includeObject'))), format.encoding);
}

export interface Selection {
  readonly filter: ObjectFilter | undefined;
  /** metadata.name pinned by the field selector (narrows the key range). */
  readonly exactName: string | undefined;
}

/**
 * labelSelector and fieldSelector query parameters as one filter over stored objects (400 on bad
 * syntax). Field labels are the addressed resource's (`view`), converted to the stored form's.
 */
export function selectionOf(view: ResourceInfo, query: URLSearchParams): Selection {
  const labels = parseLabelSelector(query.get('labelSelector') ?? '');
  const parsed = parseFieldSelector(query.get('fieldSelector') ?? '');
  const viewLabels = storedFieldLabels(view);
  const fields = viewLabels === undefined ? checkFieldSelector(view.kind, parsed) : renameFieldLabels(parsed, viewLabels);
  if (labels.isEmpty() && fields.isEmpty()) return { filter: undefined, exactName: undefined };
  const filter: ObjectFilter = (obj: JsonObject) =>
    (labels.isEmpty() || labels.matches(stringMap(obj, 'labels'))) && matchesFieldSelector(view.kind, fields, obj);
  return { filter, exactName: fields.requiresExactMatch('metadata.name') };
}

export function parseLimit(value: string | null): number {
  if (value === null || value === '') return 0;
  if (!/^-?\d+$/.test(value)) throw badRequest(`limit: invalid value ${JSON.stringify(value)}`);
  const n = Number(value);
  return n > 0 ? n : 0;
}

export async function handleList(ctx: ApiContext, req: ApiRequest): Promise<void> {
  const format = negotiateOutput(req.http.headers.accept);
  const namespace = requestNamespace(req);
  const selection = selectionOf(req.view, req.query);
  const params = {
    filter: selection.filter,
    limit: parseLimit(req.query.get('limit')),
    continueToken: req.query.get('continue') ?? '',
    resourceVersion: req.query.get('resourceVersion') ?? '',
    resourceVersionMatch: req.query.get('resourceVersionMatch') ?? '',
  };
  // A name pinned by the field selector in a known namespace narrows the range to that key.
  const narrow = selection.exactName !== undefined && selection.exactName !== '' && (!req.info.namespaced || (namespace !== undefined && namespace !== ''));
  const prefix = narrow ? ctx.objects.key(req.info, namespace, selection.exactName as string) : ctx.objects.listPrefix(req.info, namespace === '' ? undefined : namespace);
  if (format.kind === 'object' && format.encoding === 'json' && req.view === req.info) {
    // Plain JSON lists are assembled from the stored texts (no parse/serialise of every item).
    const raw = await ctx.objects.listRawUnder(prefix, params);
    const meta = JSON.stringify(raw.continueToken === '' ? { resourceVersion: raw.resourceVersion } : { resourceVersion: raw.resourceVersion, continue: raw.continueToken });
    const text = `{"kind":${JSON.stringify(req.info.listKind)},"apiVersion":${JSON.stringify(apiVersionOf(req.info))},"metadata":${meta},"items":[${raw.items.join(',')}]}`;
    writeRaw(req.res, 200, text);
    return;
  }
  const page = await ctx.objects.listUnder(prefix, params);
  const body = renderList(req.view, page.items, page, format, parseIncludeObject(req.query.get('includeObject')));
  writeJson(req.res, 200, body, format.encoding);
}
