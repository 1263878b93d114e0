// Defaulting and validation of objects on their way into the store. The per-kind rules live in
// the machinery (defaults.ts, validation.ts); this file is the one place the apiserver calls them.

import { applyDefaults } from '../machinery/defaults.js';
import type { JsonObject } from '../machinery/json.js';
import type { ResourceInfo } from '../machinery/resources.js';
import { invalid } from '../machinery/status.js';
import { validate } from '../machinery/validation.js';
import { nameOf } from './object-meta.js';

/** Fills in kube's defaults, in place (the handlers hold on to `obj`). */
export function applyObjectDefaults(info: ResourceInfo, obj: JsonObject): void {
  const defaulted = applyDefaults(info.kind, obj);
  for (const key of Object.keys(obj)) delete obj[key];
  Object.assign(obj, defaulted);
}

/** Throws 422 Invalid with every field error of the object (and of the change from `old`). */
export function validateObject(info: ResourceInfo, obj: JsonObject, old?: JsonObject, subresource: '' | 'status' = ''): void {
  const errors = validate(info.kind, obj, old, subresource === 'status' ? { subresource: 'status' } : {});
  if (errors.length > 0) throw invalid(info.group === '' ? info.kind : { group: info.group, kind: info.kind }, nameOf(obj), errors);
}
