// What namespace lifecycle admission needs to know on every create (does the namespace exist, is
// it terminating), kept in memory from the watch cache, so a create costs no extra store read.
// Like kube's NamespaceLifecycle plugin (informer-backed), a namespace this replica has not seen
// yet is looked up in the store, so one created a moment ago through another replica is found.

import type { Logger } from 'pino';

import { isJsonObject, type JsonObject } from '../machinery/json.js';
import type { ResourceInfo } from '../machinery/resources.js';
import { ObjectMirror } from './object-mirror.js';
import type { ObjectStore } from './object-store.js';
import type { WatchCache } from './watch-cache.js';

export type NamespaceState = 'active' | 'terminating';

export class NamespaceCache {
  private readonly mirror: ObjectMirror;

  constructor(objects: ObjectStore, cache: WatchCache, info: ResourceInfo, log: Logger) {
    this.mirror = new ObjectMirror(objects, cache, info, log);
  }

  /** Lists the namespaces and follows them through the watch cache. */
  start(): Promise<void> {
    return this.mirror.start();
  }

  /** The namespace's state as last seen; undefined when unknown (ask the store). */
  lookup(name: string): NamespaceState | undefined {
    if (!this.mirror.synced) return undefined;
    const ns = this.mirror.get('', name);
    return ns === undefined ? undefined : stateOf(ns);
  }

  stop(): void {
    this.mirror.stop();
  }
}

function stateOf(ns: JsonObject): NamespaceState {
  const terminating = (isJsonObject(ns.metadata) && ns.metadata.deletionTimestamp !== undefined) || (isJsonObject(ns.status) && ns.status.phase === 'Terminating');
  return terminating ? 'terminating' : 'active';
}
