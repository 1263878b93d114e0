// Kubernetes objects over the RegistryStore, as k8s.io/apiserver's storage/etcd3 store does it:
// JSON values under kube-apiserver's keys, resourceVersion = the key's mod revision (never stored),
// a list's resourceVersion = the revision it was read at, continue tokens that pin that revision,
// optimistic concurrency with compare-and-swap retries (GuaranteedUpdate), 410 for compacted reads.

import { etcdKey, type ResourceInfo } from '../machinery/resources.js';
import { isJsonObject, type JsonObject } from '../machinery/json.js';
import { KubeStatusError, alreadyExists, badRequest, conflict, gone, internalError, notFound, resourceExpired, timeout } from '../machinery/status.js';
import { metaOf } from './object-meta.js';
import { StoreCompactedError, StoreUnavailableError, type RegistryStore, type StoredKv } from './registry-store.js';

/** An object filter for lists and watches (label and field selectors combined). */
export type ObjectFilter = (obj: JsonObject) => boolean;

export interface ListParams {
  readonly filter?: ObjectFilter;
  /** Page size; 0 = everything. */
  readonly limit?: number;
  readonly continueToken?: string;
  /** "" = a consistent read at the current revision; "0" = any; otherwise a revision. */
  readonly resourceVersion?: string;
  readonly resourceVersionMatch?: string;
}

export interface ListPage {
  readonly items: JsonObject[];
  readonly resourceVersion: string;
  /** Token for the next page; '' when this was the last. */
  readonly continueToken: string;
  /** Objects after this page, when known exactly (no filter). */
  readonly remainingItemCount?: number;
}

/** What tryUpdate returns to ask for the current object to be deleted instead of updated. */
export const DELETE_OBJECT: unique symbol = Symbol('delete-object');

/** What tryUpdate may return: the new object, or DELETE_OBJECT. */
export type UpdateResult = JsonObject | typeof DELETE_OBJECT;

export interface UpdateOptions {
  /** Called when the object does not exist; returning an object creates it (PUT with create). */
  readonly createIfMissing?: () => JsonObject | undefined | Promise<JsonObject | undefined>;
  /** Lease to attach to a new value (events); absent = none. */
  readonly leaseId?: string;
}

const continueVersion = 'meta.k8s.io/v1';
/** encode's layout: {"apiVersion":"…","kind":"…","metadata":{ with no escapes in the two strings. */
const canonicalHead = /^\{"apiVersion":"[^"\\]*","kind":"[^"\\]*","metadata":\{/;
const maxCasRetries = 100;

export class ObjectStore {
  constructor(
    readonly store: RegistryStore,
    /** The key prefix, '/registry' by default (--etcd-prefix). */
    readonly prefix: string,
  ) {}

  key(info: ResourceInfo, namespace: string | undefined, name: string): string {
    return etcdKey(info, namespace, name, this.prefix);
  }

  /** The prefix listing a namespace of a resource, or all of it (ends in '/'). */
  listPrefix(info: ResourceInfo, namespace: string | undefined): string {
    return etcdKey(info, namespace, undefined, this.prefix);
  }

  /** Store JSON → object with metadata.resourceVersion set to the mod revision. */
  decode(kv: StoredKv, resourceVersion = kv.modRevision): JsonObject {
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(kv.value.buffer, kv.value.byteOffset, kv.value.byteLength).toString('utf8'));
    } catch {
      throw internalError(new Error(`stored object at ${kv.key} is not JSON`));
    }
    if (!isJsonObject(parsed)) throw internalError(new Error(`stored object at ${kv.key} is not a JSON object`));
    metaOf(parsed).resourceVersion = String(resourceVersion);
    return parsed;
  }

  /**
   * Object → store JSON; resourceVersion is never stored (it is the key's revision). The layout
   * is canonical, apiVersion, kind, metadata first (kube's own order), so rawJson can put the
   * resourceVersion in without parsing.
   */
  encode(obj: JsonObject): Buffer {
    const { apiVersion, kind, metadata, ...rest } = obj;
    const meta: JsonObject = isJsonObject(metadata) ? { ...metadata } : {};
    delete meta.resourceVersion;
    const ordered: JsonObject = {};
    if (apiVersion !== undefined) ordered.apiVersion = apiVersion;
    if (kind !== undefined) ordered.kind = kind;
    ordered.metadata = meta;
    return Buffer.from(JSON.stringify(Object.assign(ordered, rest)), 'utf8');
  }

  /**
   * The stored JSON text with metadata.resourceVersion put in, without parsing it; undefined when
   * the value is not in encode's layout (then the caller parses).
   */
  rawJson(kv: StoredKv, resourceVersion = kv.modRevision): string | undefined {
    const text = Buffer.from(kv.value.buffer, kv.value.byteOffset, kv.value.byteLength).toString('utf8');
    const head = canonicalHead.exec(text);
    if (head === null) return undefined;
    const at = head[0].length;
    const rv = `"resourceVersion":"${resourceVersion}"`;
    return text[at] === '}' ? `${text.slice(0, at)}${rv}${text.slice(at)}` : `${text.slice(0, at)}${rv},${text.slice(at)}`;
  }

  async get(info: ResourceInfo, namespace: string | undefined, name: string): Promise<JsonObject> {
    const found = await this.getMaybe(info, namespace, name);
    if (found === undefined) throw notFound(info, name);
    return found;
  }

  async getMaybe(info: ResourceInfo, namespace: string | undefined, name: string): Promise<JsonObject | undefined> {
    const { kv } = await guard(() => this.store.get(this.key(info, namespace, name)));
    return kv === undefined ? undefined : this.decode(kv);
  }

  async list(info: ResourceInfo, namespace: string | undefined, params: ListParams = {}): Promise<ListPage> {
    return this.listUnder(this.listPrefix(info, namespace), params);
  }

  /** A (paged, filtered) list of every object under a key prefix. */
  async listUnder(prefix: string, params: ListParams = {}): Promise<ListPage> {
    const filter = params.filter;
    const scan = await this.scan(prefix, params, (kv) => {
      const obj = this.decode(kv);
      return filter === undefined || filter(obj) ? obj : undefined;
    });
    return { items: scan.items, resourceVersion: scan.resourceVersion, continueToken: scan.continueToken };
  }

  /**
   * The same list as JSON texts of the items, without the parse/serialise round trip where the
   * stored layout allows it (see encode): what a plain JSON list answer needs, and the bulk of a
   * 10,000-pod list's cost otherwise.
   */
  async listRawUnder(prefix: string, params: ListParams = {}): Promise<{ items: string[]; resourceVersion: string; continueToken: string }> {
    const filter = params.filter;
    return this.scan(prefix, params, (kv) => {
      if (filter !== undefined && !filter(this.decode(kv))) return undefined;
      return this.rawJson(kv) ?? JSON.stringify(this.decode(kv));
    });
  }

  private async scan<T>(prefix: string, params: ListParams, map: (kv: StoredKv) => T | undefined): Promise<{ items: T[]; resourceVersion: string; continueToken: string }> {
    const limit = params.limit ?? 0;
    let revision = 0;
    let startKey = prefix;
    const rv = params.resourceVersion ?? '';
    if (params.continueToken !== undefined && params.continueToken !== '') {
      if (rv !== '' && rv !== '0') throw badRequest('specifying resource version is not allowed when using continue');
      const token = decodeContinue(params.continueToken, prefix);
      revision = token.revision;
      startKey = token.startKey;
    } else if (rv !== '' && rv !== '0') {
      const parsed = parseResourceVersion(rv);
      if (params.resourceVersionMatch === 'Exact') revision = parsed;
    } else if (params.resourceVersionMatch !== undefined && params.resourceVersionMatch !== '' && rv === '') {
      throw badRequest('resourceVersionMatch is forbidden unless resourceVersion is provided');
    }
    const items: T[] = [];
    // Filtered pages keep reading at the pinned revision until the page is full, as kube does.
    const batch = limit > 0 ? Math.max(limit, params.filter === undefined ? limit : 500) : 0;
    for (;;) {
      let result;
      try {
        result = await guard(() => this.store.list(prefix, { startKey, limit: batch, revision }));
      } catch (error) {
        if (error instanceof StoreCompactedError || isExpired(error)) {
          throw params.continueToken
            ? resourceExpired('The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.')
            : gone(revision, error instanceof StoreCompactedError ? error.compactRevision : 0);
        }
        throw error;
      }
      if (revision === 0) revision = result.revision;
      let lastKey: string | undefined;
      for (const kv of result.kvs) {
        lastKey = kv.key;
        const item = map(kv);
        if (item === undefined) continue;
        items.push(item);
        if (limit > 0 && items.length >= limit) {
          const more = result.more || kv !== result.kvs[result.kvs.length - 1];
          return { items, resourceVersion: String(revision), continueToken: more ? encodeContinue(revision, kv.key + '\0', prefix) : '' };
        }
      }
      if (!result.more || lastKey === undefined) return { items, resourceVersion: String(revision), continueToken: '' };
      startKey = lastKey + '\0';
    }
  }

  /** Txn(MOD == 0): the object must not exist. Returns it with its resourceVersion. */
  async create(info: ResourceInfo, obj: JsonObject, leaseId?: string): Promise<JsonObject> {
    const meta = metaOf(obj);
    const name = typeof meta.name === 'string' ? meta.name : '';
    const namespace = typeof meta.namespace === 'string' ? meta.namespace : undefined;
    const key = this.key(info, namespace, name);
    const outcome = await guard(() => this.store.create(key, this.encode(obj), leaseId));
    if (!outcome.ok) throw alreadyExists(info, name);
    meta.resourceVersion = String(outcome.revision);
    return obj;
  }

  /**
   * kube's GuaranteedUpdate: read, let tryUpdate compute the next object from the current one,
   * compare-and-swap on the mod revision, and on a lost race read again and retry. tryUpdate
   * enforces the caller's preconditions (a stale resourceVersion throws 409 there). An unchanged
   * object is not written, so no-op updates keep their resourceVersion, as in Kubernetes.
   */
  async guaranteedUpdate(
    info: ResourceInfo,
    namespace: string | undefined,
    name: string,
    tryUpdate: (current: JsonObject) => UpdateResult | Promise<UpdateResult>,
    opts: UpdateOptions = {},
  ): Promise<{ object: JsonObject; created: boolean; deleted: boolean }> {
    const key = this.key(info, namespace, name);
    let { kv } = await guard(() => this.store.get(key));
    for (let attempt = 0; attempt < maxCasRetries; attempt++) {
      if (kv === undefined) {
        const fresh = await opts.createIfMissing?.();
        if (fresh === undefined) throw notFound(info, name);
        const outcome = await guard(() => this.store.create(key, this.encode(fresh), opts.leaseId));
        if (outcome.ok) {
          metaOf(fresh).resourceVersion = String(outcome.revision);
          return { object: fresh, created: true, deleted: false };
        }
        kv = outcome.current;
        continue;
      }
      const current = this.decode(kv);
      const currentJson = Buffer.from(kv.value).toString('utf8');
      const next = await tryUpdate(this.decode(kv));
      if (next === DELETE_OBJECT) {
        const outcome = await guard(() => this.store.delete(key, kv === undefined ? 0 : kv.modRevision));
        // The response carries the object as it last was (its own resourceVersion), as kube's does.
        if (outcome.ok) return { object: this.decode(outcome.deleted), created: false, deleted: true };
        kv = outcome.current;
        continue;
      }
      const nextObj = next;
      const encoded = this.encode(nextObj);
      if (encoded.toString('utf8') === currentJson) return { object: current, created: false, deleted: false };
      const outcome = await guard(() => this.store.update(key, encoded, kv === undefined ? 0 : kv.modRevision, opts.leaseId));
      if (outcome.ok) {
        metaOf(nextObj).resourceVersion = String(outcome.revision);
        return { object: nextObj, created: false, deleted: false };
      }
      kv = outcome.current;
    }
    throw conflict(info, name, 'too many concurrent updates, please retry');
  }

  /**
   * Deletes the object (after `check` approves the current state, e.g. preconditions) with a
   * compare-and-swap on its mod revision. Returns the object as it was.
   */
  async deleteNow(info: ResourceInfo, namespace: string | undefined, name: string, check?: (current: JsonObject) => void): Promise<JsonObject> {
    const result = await this.guaranteedUpdate(info, namespace, name, (current) => {
      check?.(current);
      return DELETE_OBJECT;
    });
    return result.object;
  }
}

/** Wraps store calls: store outages become 504 Timeout / 500, compactions stay typed. */
async function guard<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof StoreCompactedError) throw error;
    if (error instanceof StoreUnavailableError) throw timeout(error.message, 1);
    throw error;
  }
}

function isExpired(error: unknown): boolean {
  return error instanceof KubeStatusError && error.code === 410;
}

export function parseResourceVersion(rv: string): number {
  if (!/^\d+$/.test(rv)) throw badRequest(`Invalid value: "${rv}": resourceVersion must be an integer`);
  const n = Number(rv);
  if (!Number.isSafeInteger(n)) throw badRequest(`Invalid value: "${rv}": resourceVersion is out of range`);
  return n;
}

// Continue tokens as kube encodes them: base64(JSON{v, rv, start}), start relative to the prefix.
function encodeContinue(revision: number, nextKey: string, prefix: string): string {
  const start = nextKey.startsWith(prefix) ? nextKey.slice(prefix.length) : nextKey;
  return Buffer.from(JSON.stringify({ v: continueVersion, rv: revision, start }), 'utf8').toString('base64url');
}

function decodeContinue(token: string, prefix: string): { revision: number; startKey: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw badRequest('continue key is not valid: illegal base64 data or JSON');
  }
  if (!isJsonObject(parsed) || parsed.v !== continueVersion) throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  const { rv, start } = parsed;
  if (typeof rv !== 'number' || !Number.isSafeInteger(rv) || rv <= 0) throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  if (typeof start !== 'string' || start.includes('..') || start.startsWith('/')) throw badRequest('continue key is not valid: invalid start key');
  return { revision: rv, startKey: prefix + start };
}
