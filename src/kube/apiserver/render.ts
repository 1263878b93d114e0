// Turning stored objects into response bodies: plain objects and typed lists, server-side Tables
// for kubectl get, and PartialObjectMetadata for metadata-only clients.

import { fromStoredVersion } from '../machinery/conversion.js';
import type { JsonObject } from '../machinery/json.js';
import type { ResourceInfo } from '../machinery/resources.js';
import { apiVersionOf } from '../machinery/resources.js';
import type { OutputFormat } from './negotiation.js';
import { metaOf } from './object-meta.js';
import { tableFor } from './tables-adapter.js';

export interface ListMeta {
  readonly resourceVersion: string;
  readonly continueToken: string;
  readonly remainingItemCount?: number;
}

/** includeObject query parameter (Table rows): None, Metadata (default) or Object. */
export type IncludeObject = 'None' | 'Metadata' | 'Object';

export function parseIncludeObject(value: string | null): IncludeObject {
  return value === 'None' || value === 'Object' ? value : 'Metadata';
}

function listMetadata(meta: ListMeta): JsonObject {
  const out: JsonObject = { resourceVersion: meta.resourceVersion };
  if (meta.continueToken !== '') out.continue = meta.continueToken;
  if (meta.remainingItemCount !== undefined) out.remainingItemCount = meta.remainingItemCount;
  return out;
}

export function partialMetadata(obj: JsonObject, metaVersion: string): JsonObject {
  return { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${metaVersion}`, metadata: metaOf(obj) };
}

/** A single (stored) object in the requested form; `info` is the resource the client addressed. */
export function renderObject(info: ResourceInfo, obj: JsonObject, format: OutputFormat, include: IncludeObject, noHeaders = false): JsonObject {
  switch (format.kind) {
    case 'table':
      return tableFor(info, [obj], { includeObject: include, metaVersion: format.metaVersion, listMeta: { resourceVersion: metaOf(obj).resourceVersion as string }, noHeaders });
    case 'metadata':
      return partialMetadata(obj, format.metaVersion);
    default:
      return fromStoredVersion(info, obj);
  }
}

/** A list page in the requested form. */
export function renderList(info: ResourceInfo, items: JsonObject[], meta: ListMeta, format: OutputFormat, include: IncludeObject): JsonObject {
  switch (format.kind) {
    case 'table':
      return tableFor(info, items, { includeObject: include, metaVersion: format.metaVersion, listMeta: listMetadata(meta) });
    case 'metadata':
      return {
        kind: 'PartialObjectMetadataList',
        apiVersion: `meta.k8s.io/${format.metaVersion}`,
        metadata: listMetadata(meta),
        items: items.map((item) => partialMetadata(item, format.metaVersion)),
      };
    default:
      return { kind: info.listKind, apiVersion: apiVersionOf(info), metadata: listMetadata(meta), items: items.map((item) => fromStoredVersion(info, item)) };
  }
}
