// meta.k8s.io Table responses for kubectl get, with the machinery's per-kind printers (kube's
// columns; kinds without a printer get kube's default Name / Created At table).

import { fromStoredVersion, needsConversion } from '../machinery/conversion.js';
import { isJsonObject, type JsonObject } from '../machinery/json.js';
import type { ResourceInfo } from '../machinery/resources.js';
import { toTable } from '../machinery/tables.js';

export interface TableOptions {
  readonly includeObject: 'None' | 'Metadata' | 'Object';
  readonly metaVersion: 'v1' | 'v1beta1';
  readonly listMeta: JsonObject;
  /** Leave out columnDefinitions (watch events after a stream's first, as kube does). */
  readonly noHeaders?: boolean;
}

export function tableFor(info: ResourceInfo, objects: JsonObject[], opts: TableOptions): JsonObject {
  const table = toTable(info, objects, {
    includeObject: opts.includeObject,
    now: Date.now(),
    listMeta: opts.listMeta,
    metaVersion: opts.metaVersion,
    noHeaders: opts.noHeaders === true,
  });
  // Cells come from the stored form (one printer per kind); whole row objects are the served form.
  if (needsConversion(info) && opts.includeObject === 'Object') {
    for (const row of table.rows) if (isJsonObject(row.object)) row.object = fromStoredVersion(info, row.object);
  }
  return table as unknown as JsonObject;
}
