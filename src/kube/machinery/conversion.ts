// Between a served version and the stored one, for resources that are views of another version's
// objects (ResourceInfo.storedAs). Every other resource is stored as served: identity.

import { coreEventToEventsV1, eventsV1FieldLabels, eventsV1ToCoreEvent } from './event-conversion.js';
import type { JsonObject } from './json.js';
import { apiVersionOf, type ResourceInfo } from './resources.js';

interface Converter {
  fromStored(obj: JsonObject): JsonObject;
  toStored(obj: JsonObject): JsonObject;
  /** Served field label → stored field label; absent = "field label not supported". */
  readonly fieldLabels: Readonly<Record<string, string>>;
}

const converters: Readonly<Record<string, Converter>> = {
  'events.k8s.io/v1 Event': { fromStored: coreEventToEventsV1, toStored: eventsV1ToCoreEvent, fieldLabels: eventsV1FieldLabels },
};

function converterOf(view: ResourceInfo): Converter | undefined {
  if (view.storedAs === undefined) return undefined;
  const found = converters[`${apiVersionOf(view)} ${view.kind}`];
  if (found === undefined) throw new Error(`no conversion for ${apiVersionOf(view)} ${view.kind}`);
  return found;
}

/** True when objects of `view` are stored in another version's form. */
export function needsConversion(view: ResourceInfo): boolean {
  return view.storedAs !== undefined;
}

/** A stored object as `view` serves it (the same object when no conversion applies). */
export function fromStoredVersion(view: ResourceInfo, obj: JsonObject): JsonObject {
  const c = converterOf(view);
  return c === undefined ? obj : c.fromStored(obj);
}

/** A request body of `view` in the stored form (the same object when no conversion applies). */
export function toStoredVersion(view: ResourceInfo, obj: JsonObject): JsonObject {
  const c = converterOf(view);
  return c === undefined ? obj : c.toStored(obj);
}

/**
 * For a view, its field labels → the stored form's labels (kube converts labels on the served
 * version's names before matching the stored objects); undefined when no conversion applies.
 */
export function storedFieldLabels(view: ResourceInfo): Readonly<Record<string, string>> | undefined {
  return converterOf(view)?.fieldLabels;
}
