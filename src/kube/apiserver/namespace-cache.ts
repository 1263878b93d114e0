// What namespace lifecycle admission needs to know on every create (does the namespace exist, is
// it terminating), kept in memory from the watch cache, so a create costs no extra store read.
// Like kube's NamespaceLifecycle plugin (informer-backed), a namespace this replica has not seen
// yet is looked up in the store, so one created a moment ago through another replica is found.

import type { Logger } from 'pino';

import { isJsonObject } from '../machinery/json.js';
import type { ObjectStore } from './object-store.js';
import type { ResourceInfo } from '../machinery/resources.js';
import type { CachedEvent, CacheWatch, WatchCache } from './watch-cache.js';

export type NamespaceState = 'active' | 'terminating';

export class NamespaceCache {
  private readonly states = new Map<string, NamespaceState>();
  private watch: CacheWatch | undefined;
  private synced = false;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly objects: ObjectStore,
    private readonly cache: WatchCache,
    private readonly info: ResourceInfo,
    private readonly log: Logger,
  ) {}

  /** Lists the namespaces and follows them through the watch cache. */
  async start(): Promise<void> {
    this.stopped = false;
    const page = await this.objects.list(this.info, undefined);
    this.states.clear();
    for (const ns of page.items) this.states.set(String((ns.metadata as { name?: string }).name), stateOf(ns));
    const prefix = this.objects.listPrefix(this.info, undefined);
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
        this.log.debug({ reason }, 'namespace cache lost its watch; re-listing');
        this.restartTimer = setTimeout(() => void this.restart(), 500);
      },
    });
    if (watch === undefined) throw new Error('namespace cache: the watch cache does not hold the list revision');
    this.watch = watch;
    this.synced = true;
  }

  private async restart(): Promise<void> {
    try {
      await this.cache.whenReady();
      await this.start();
    } catch (error) {
      this.log.warn({ err: error }, 'namespace cache restart failed; retrying');
      this.restartTimer = setTimeout(() => void this.restart(), 1000);
    }
  }

  /** The namespace's state as last seen; undefined when unknown (ask the store). */
  lookup(name: string): NamespaceState | undefined {
    if (!this.synced) return undefined;
    return this.states.get(name);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.watch?.cancel();
    this.watch = undefined;
    this.synced = false;
  }

  private apply(prefix: string, event: CachedEvent): void {
    const name = event.kv.key.slice(prefix.length);
    if (event.type === 'delete') {
      this.states.delete(name);
      return;
    }
    try {
      const obj = JSON.parse(Buffer.from(event.kv.value).toString('utf8')) as unknown;
      if (isJsonObject(obj)) this.states.set(name, stateOf(obj));
    } catch {
      this.states.delete(name);
    }
  }
}

function stateOf(ns: { metadata?: unknown; status?: unknown }): NamespaceState {
  const terminating = (isJsonObject(ns.metadata) && ns.metadata.deletionTimestamp !== undefined) || (isJsonObject(ns.status) && ns.status.phase === 'Terminating');
  return terminating ? 'terminating' : 'active';
}
