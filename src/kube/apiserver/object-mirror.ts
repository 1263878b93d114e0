// An in-memory copy of every object of one resource, listed once and then kept current through
// the watch cache (no store traffic of its own), for what must be decided on every request
// without a store read: the RBAC policy, namespace lifecycle. Until it has listed (and after it
// lost its watch, until it re-listed), `synced` is false and callers use their own fallback.

import type { Logger } from 'pino';

import { isJsonObject, type JsonObject } from '../machinery/json.js';
import type { ResourceInfo } from '../machinery/resources.js';
import type { ObjectStore } from './object-store.js';
import type { CachedEvent, CacheWatch, WatchCache } from './watch-cache.js';

export class ObjectMirror {
  /** Key below the resource's prefix ("name" or "namespace/name") → object. */
  private readonly objects = new Map<string, JsonObject>();
  private watch: CacheWatch | undefined;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | undefined;
  synced = false;

  constructor(
    private readonly store: ObjectStore,
    private readonly cache: WatchCache,
    readonly info: ResourceInfo,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.stopped = false;
    const page = await this.store.list(this.info, undefined);
    this.objects.clear();
    const prefix = this.store.listPrefix(this.info, undefined);
    for (const obj of page.items) {
      const meta = obj.metadata as { name?: string; namespace?: string };
      this.objects.set(this.info.namespaced ? `${meta.namespace}/${meta.name}` : String(meta.name), obj);
    }
    const watch = this.cache.watch(prefix, Number(page.resourceVersion), {
      deliver: (event) => {
        this.apply(prefix, event);
        return true;
      },
      progress: () => undefined,
      terminate: (reason) => {
        this.synced = false;
        this.watch = undefined;
        if (this.stopped) return;
        this.log.debug({ resource: this.info.resource, reason }, 'object mirror lost its watch; re-listing');
        this.restartTimer = setTimeout(() => void this.restart(), 500);
      },
    });
    if (watch === undefined) throw new Error(`${this.info.resource} mirror: the watch cache does not hold the list revision`);
    this.watch = watch;
    this.synced = true;
  }

  get(namespace: string, name: string): JsonObject | undefined {
    return this.objects.get(this.info.namespaced ? `${namespace}/${name}` : name);
  }

  /** Every object, or those of one namespace. */
  *values(namespace?: string): Iterable<JsonObject> {
    for (const [key, obj] of this.objects) {
      if (namespace === undefined || key.startsWith(`${namespace}/`)) yield obj;
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.watch?.cancel();
    this.watch = undefined;
    this.synced = false;
  }

  private async restart(): Promise<void> {
    try {
      await this.cache.whenReady();
      await this.start();
    } catch (error) {
      this.log.warn({ err: error, resource: this.info.resource }, 'object mirror restart failed; retrying');
      this.restartTimer = setTimeout(() => void this.restart(), 1000);
    }
  }

  private apply(prefix: string, event: CachedEvent): void {
    const key = event.kv.key.slice(prefix.length);
    if (event.type === 'delete') {
      this.objects.delete(key);
      return;
    }
    try {
      const obj = JSON.parse(Buffer.from(event.kv.value).toString('utf8')) as unknown;
      if (isJsonObject(obj)) this.objects.set(key, obj);
    } catch {
      this.objects.delete(key);
    }
  }
}
