// Accessors for the metadata of Kubernetes objects held as plain JSON.

import { isJsonObject, type JsonObject, type JsonValue } from '../machinery/json.js';

/** metadata of an object, created empty when absent or not an object. */
export function metaOf(obj: JsonObject): JsonObject {
  const meta = obj.metadata;
  if (isJsonObject(meta)) return meta;
  const created: JsonObject = {};
  obj.metadata = created;
  return created;
}

export function metaString(obj: JsonObject, field: string): string | undefined {
  const meta = obj.metadata;
  if (!isJsonObject(meta)) return undefined;
  const value = meta[field];
  return typeof value === 'string' ? value : undefined;
}

export function nameOf(obj: JsonObject): string {
  return metaString(obj, 'name') ?? '';
}

export function namespaceOf(obj: JsonObject): string {
  return metaString(obj, 'namespace') ?? '';
}

/** labels or annotations as a string map (non-string values are dropped). */
export function stringMap(obj: JsonObject, field: 'labels' | 'annotations'): Record<string, string> {
  const meta = obj.metadata;
  const out: Record<string, string> = {};
  if (!isJsonObject(meta)) return out;
  const map = meta[field];
  if (!isJsonObject(map)) return out;
  for (const [k, v] of Object.entries(map)) if (typeof v === 'string') out[k] = v;
  return out;
}

export function finalizersOf(obj: JsonObject): string[] {
  const meta = obj.metadata;
  if (!isJsonObject(meta)) return [];
  const list = meta.finalizers;
  return Array.isArray(list) ? list.filter((f): f is string => typeof f === 'string') : [];
}

/** RFC 3339 with second precision, as metav1.Time marshals. */
export function rfc3339(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/** A JSON deep copy (objects from JSON.parse only hold JSON values). */
export function cloneObject(obj: JsonObject): JsonObject {
  return JSON.parse(JSON.stringify(obj)) as JsonObject;
}

export function asObject(value: JsonValue | undefined): JsonObject | undefined {
  return isJsonObject(value) ? value : undefined;
}
