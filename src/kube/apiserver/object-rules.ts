// Defaulting and validation of objects on their way into the store. The per-kind rules live in
// the machinery (defaults.ts, validation.ts); this file is the one place the apiserver calls them.

import type { JsonObject } from '../machinery/json.js';
import { isDns1035Label, isDns1123Label, isDns1123Subdomain } from '../machinery/names.js';
import type { ResourceInfo } from '../machinery/resources.js';
import { invalid, invalidValue, required, type FieldError } from '../machinery/status.js';
import { metaOf, nameOf } from './object-meta.js';

export function applyObjectDefaults(_info: ResourceInfo, _obj: JsonObject): void {
  // Filled in by the machinery's defaults once it lands.
}

/** Throws 422 Invalid with every field error of the object (and of the change from `old`). */
export function validateObject(info: ResourceInfo, obj: JsonObject, old?: JsonObject): void {
  const errors: FieldError[] = [...metadataErrors(info, obj)];
  void old;
  if (errors.length > 0) throw invalid(info.group === '' ? info.kind : { group: info.group, kind: info.kind }, nameOf(obj), errors);
}

function metadataErrors(info: ResourceInfo, obj: JsonObject): FieldError[] {
  const meta = metaOf(obj);
  const name = meta.name;
  if (typeof name !== 'string' || name === '') return [required('metadata.name', 'name or generateName is required')];
  const check = info.kind === 'Namespace' ? isDns1123Label : info.kind === 'Service' ? isDns1035Label : isDns1123Subdomain;
  return check(name).map((msg) => invalidValue('metadata.name', name, msg));
}
