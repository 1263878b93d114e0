// meta.k8s.io Table responses for kubectl get. Per-kind columns come from the machinery's
// printers; kinds without printers get kube's default table (Name, Created At).

import type { JsonObject, JsonValue } from '../machinery/json.js';
import type { ResourceInfo } from '../machinery/resources.js';
import { metaOf } from './object-meta.js';

export interface TableOptions {
  readonly includeObject: 'None' | 'Metadata' | 'Object';
  readonly metaVersion: 'v1' | 'v1beta1';
  readonly listMeta: JsonObject;
}

export function tableFor(_info: ResourceInfo, objects: JsonObject[], opts: TableOptions): JsonObject {
  const rows: JsonValue[] = objects.map((obj) => {
    const meta = metaOf(obj);
    const row: JsonObject = { cells: [meta.name ?? '', meta.creationTimestamp ?? ''] };
    if (opts.includeObject === 'Object') row.object = obj;
    else if (opts.includeObject === 'Metadata') row.object = { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${opts.metaVersion}`, metadata: meta };
    return row;
  });
  return {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${opts.metaVersion}`,
    metadata: opts.listMeta,
    columnDefinitions: [
      { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
      { name: 'Created At', type: 'date', format: '', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
    ],
    rows,
  };
}
