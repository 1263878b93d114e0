// A list+watch cache of one resource (client-go's reflector + store + shared informer, small):
// list every page, then watch from the list's resourceVersion; a watch that ends is resumed from
// the last resourceVersion seen (events and bookmarks move it); 410 Gone means that version was
// compacted away, so the cache is rebuilt by a fresh list and the differences are delivered as
// add/update/delete events. Handlers run synchronously, in event order.

import type { Logger } from 'pino';
import { describeError, isGone } from '../client/api-error.js';
import type { Clock } from '../client/clock.js';
import type { KubeClient } from '../client/kube-client.js';
import type { KubeObject } from '../client/meta-types.js';
import type { ResourceRef } from '../client/resource-ref.js';

export interface EventHandlers<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export interface InformerOptions {
  client: KubeClient;
  resource: ResourceRef;
  /** Restrict to one namespace; default all. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  clock: Clock;
  logger?: Logger;
  /** Deliver every cached object as an update this often (0: never). */
  resyncMs?: number;
  pageSize?: number;
  /** Watches are re-opened after a random 5-10 min, as the reflector does. */
  minWatchTimeoutSeconds?: number;
  random?: () => number;
}

/** "namespace/name", or "name" for cluster-scoped objects (client-go's MetaNamespaceKeyFunc). */
export function objectKey(obj: KubeObject): string {
  const ns = obj.metadata.namespace;
  const name = obj.metadata.name ?? '';
  return ns === undefined || ns === '' ? name : `${ns}/${name}`;
}

export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

type IndexFunc<T> = (obj: T) => string[];

export class Informer<T extends KubeObject> {
  private readonly items = new Map<string, T>();
  private readonly handlers: EventHandlers<T>[] = [];
  private readonly indexers = new Map<string, { fn: IndexFunc<T>; index: Map<string, Set<string>> }>();
  private resourceVersion = '';
  private synced = false;
  private readonly syncWaiters: (() => void)[] = [];
  private readonly log: Logger | undefined;
  private readonly random: () => number;
  /** Counters for tests and logs. */
  readonly stats = { lists: 0, watches: 0, relistsAfterGone: 0, events: 0 };

  constructor(private readonly opts: InformerOptions) {
    this.log = opts.logger?.child({ informer: opts.resource.resource });
    this.random = opts.random ?? Math.random;
  }

  get resource(): ResourceRef {
    return this.opts.resource;
  }

  /** The resourceVersion the cache reflects. */
  get lastSyncResourceVersion(): string {
    return this.resourceVersion;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true after the first complete list, false if `signal` aborts first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    return new Promise((resolve) => {
      if (signal?.aborted === true) return resolve(false);
      const onAbort = (): void => resolve(false);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.syncWaiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve(true);
      });
    });
  }

  /** Registers handlers; objects already cached are delivered to them as adds at once. */
  addHandlers(h: EventHandlers<T>): void {
    this.handlers.push(h);
    if (h.onAdd !== undefined) for (const obj of this.items.values()) h.onAdd(obj);
  }

  /** A secondary index, e.g. pods by spec.nodeName; adding a name twice keeps the first. */
  addIndex(name: string, fn: IndexFunc<T>): void {
    if (this.indexers.has(name)) return;
    const index = new Map<string, Set<string>>();
    for (const [key, obj] of this.items) for (const v of fn(obj)) addTo(index, v, key);
    this.indexers.set(name, { fn, index });
  }

  byIndex(name: string, value: string): T[] {
    const idx = this.indexers.get(name);
    if (idx === undefined) throw new Error(`informer ${this.opts.resource.resource}: no index "${name}"`);
    const out: T[] = [];
    for (const key of idx.index.get(value) ?? []) {
      const obj = this.items.get(key);
      if (obj !== undefined) out.push(obj);
    }
    return out;
  }

  getByKey(key: string): T | undefined {
    return this.items.get(key);
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.items.get(namespace === undefined || namespace === '' ? name : `${namespace}/${name}`);
  }

  list(): T[] {
    return [...this.items.values()];
  }

  keys(): string[] {
    return [...this.items.keys()];
  }

  get size(): number {
    return this.items.size;
  }

  /** Lists and watches until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const { client, resource, namespace, labelSelector, fieldSelector, clock } = this.opts;
    if (this.opts.resyncMs !== undefined && this.opts.resyncMs > 0) void this.resyncLoop(this.opts.resyncMs, signal);
    let needList = true;
    let backoffMs = 0;
    while (!signal.aborted) {
      try {
        if (needList) {
          this.stats.lists++;
          const list = await client.listAll<T>(resource, namespace, { labelSelector, fieldSelector }, this.opts.pageSize ?? 500, signal);
          this.replace(list.items, list.metadata.resourceVersion ?? '');
          needList = false;
        }
        this.stats.watches++;
        const minTimeout = this.opts.minWatchTimeoutSeconds ?? 300;
        const timeoutSeconds = Math.floor(minTimeout * (1 + this.random()));
        const opened = clock.nowMs();
        let events = 0;
        for await (const event of client.watch<T>(resource, namespace, { labelSelector, fieldSelector, resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds, signal })) {
          events++;
          this.apply(event.type, event.object);
        }
        // A watch that ends at once without news is a failure in disguise (e.g. an apiserver
        // that closes streams): back off instead of spinning.
        if (events === 0 && clock.nowMs() - opened < 1000) backoffMs = nextBackoff(backoffMs);
        else backoffMs = 0;
      } catch (err) {
        if (signal.aborted) break;
        if (isGone(err)) {
          this.log?.info({ rv: this.resourceVersion, err: describeError(err) }, 'watch expired (410), relisting');
          this.stats.relistsAfterGone++;
          needList = true;
          backoffMs = 0;
          continue;
        }
        backoffMs = nextBackoff(backoffMs);
        this.log?.warn({ err: describeError(err), retryInMs: backoffMs }, needList ? 'list failed' : 'watch failed');
      }
      if (backoffMs > 0) await clock.sleep(backoffMs * (0.5 + this.random()), signal);
    }
  }

  private apply(type: string, obj: T): void {
    const rv = obj.metadata?.resourceVersion;
    switch (type) {
      case 'ADDED':
      case 'MODIFIED':
        this.stats.events++;
        this.upsert(obj);
        break;
      case 'DELETED':
        this.stats.events++;
        this.remove(obj);
        break;
      case 'BOOKMARK':
        break;
      default:
        this.log?.warn({ type }, 'unknown watch event type');
        return;
    }
    if (rv !== undefined && rv !== '') this.resourceVersion = rv;
  }

  /** A fresh list: deliver what changed since the cache was last right. */
  private replace(items: T[], rv: string): void {
    const fresh = new Map<string, T>();
    for (const obj of items) fresh.set(objectKey(obj), obj);
    for (const [key, old] of [...this.items]) {
      if (!fresh.has(key)) this.removeKey(key, old);
    }
    for (const obj of fresh.values()) this.upsert(obj);
    this.resourceVersion = rv;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private upsert(obj: T): void {
    const key = objectKey(obj);
    const old = this.items.get(key);
    this.unindex(key, old);
    this.items.set(key, obj);
    this.index(key, obj);
    for (const h of this.handlers) {
      try {
        if (old === undefined) h.onAdd?.(obj);
        else h.onUpdate?.(old, obj);
      } catch (err) {
        this.log?.error({ err }, 'event handler failed');
      }
    }
  }

  private remove(obj: T): void {
    const key = objectKey(obj);
    // Deliver the final state the server sent (it carries the deletion's resourceVersion).
    if (this.items.has(key)) this.removeKey(key, obj);
  }

  private removeKey(key: string, lastState: T): void {
    this.unindex(key, this.items.get(key));
    this.items.delete(key);
    for (const h of this.handlers) {
      try {
        h.onDelete?.(lastState);
      } catch (err) {
        this.log?.error({ err }, 'event handler failed');
      }
    }
  }

  private index(key: string, obj: T): void {
    for (const { fn, index } of this.indexers.values()) for (const v of fn(obj)) addTo(index, v, key);
  }

  private unindex(key: string, obj: T | undefined): void {
    if (obj === undefined) return;
    for (const { fn, index } of this.indexers.values()) {
      for (const v of fn(obj)) {
        const set = index.get(v);
        set?.delete(key);
        if (set?.size === 0) index.delete(v);
      }
    }
  }

  private async resyncLoop(everyMs: number, signal: AbortSignal): Promise<void> {
    while (await this.opts.clock.sleep(everyMs, signal)) {
      if (!this.synced) continue;
      for (const obj of this.items.values()) {
        for (const h of this.handlers) {
          try {
            h.onUpdate?.(obj, obj);
          } catch (err) {
            this.log?.error({ err }, 'event handler failed');
          }
        }
      }
    }
  }
}

function addTo(index: Map<string, Set<string>>, value: string, key: string): void {
  let set = index.get(value);
  if (set === undefined) {
    set = new Set();
    index.set(value, set);
  }
  set.add(key);
}

/** The reflector's backoff: 800 ms doubling to 30 s. */
function nextBackoff(current: number): number {
  return current === 0 ? 800 : Math.min(current * 2, 30_000);
}
