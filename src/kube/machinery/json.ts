// JSON value types and small helpers shared by the machinery modules (patch, defaults, tables…).
// Kubernetes objects travel as plain JSON here; typed views are a concern of the callers.

export type JsonPrimitive = null | boolean | number | string;
export type JsonValue = JsonPrimitive | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep copy of a JSON value (structuredClone would also copy non-JSON things silently). */
export function cloneJson<T extends JsonValue>(v: T): T {
  if (Array.isArray(v)) return v.map((e) => cloneJson(e)) as T;
  if (isJsonObject(v)) {
    const out: JsonObject = {};
    for (const [k, e] of Object.entries(v)) out[k] = cloneJson(e);
    return out as T;
  }
  return v;
}

/** Structural equality of JSON values; object key order does not matter. */
export function jsonEqual(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((e, i) => jsonEqual(e, b[i]));
  }
  if (isJsonObject(a)) {
    if (!isJsonObject(b)) return false;
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

/** The object at `obj[k1][k2]…`, or undefined when any step is missing or not an object. */
export function getObject(obj: JsonValue | undefined, ...path: string[]): JsonObject | undefined {
  let cur: JsonValue | undefined = obj;
  for (const k of path) {
    if (!isJsonObject(cur)) return undefined;
    cur = cur[k];
  }
  return isJsonObject(cur) ? cur : undefined;
}

/** The value at a path of object keys, or undefined. */
export function getPath(obj: JsonValue | undefined, ...path: string[]): JsonValue | undefined {
  let cur: JsonValue | undefined = obj;
  for (const k of path) {
    if (!isJsonObject(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

export function getString(obj: JsonValue | undefined, ...path: string[]): string | undefined {
  const v = getPath(obj, ...path);
  return typeof v === 'string' ? v : undefined;
}

export function getNumber(obj: JsonValue | undefined, ...path: string[]): number | undefined {
  const v = getPath(obj, ...path);
  return typeof v === 'number' ? v : undefined;
}

export function getArray(obj: JsonValue | undefined, ...path: string[]): JsonValue[] | undefined {
  const v = getPath(obj, ...path);
  return Array.isArray(v) ? v : undefined;
}

/** The object at a path, creating empty objects along the way (replacing non-objects). */
export function ensureObject(obj: JsonObject, ...path: string[]): JsonObject {
  let cur = obj;
  for (const k of path) {
    const next = cur[k];
    if (isJsonObject(next)) cur = next;
    else {
      const created: JsonObject = {};
      cur[k] = created;
      cur = created;
    }
  }
  return cur;
}
