// What every REST handler gets: the object store, the watch cache, the per-kind strategies, and
// the request being served.

import type { IncomingMessage, ServerResponse } from 'node:http';

import type { Logger } from 'pino';

import type { JsonObject } from '../machinery/json.js';
import type { ResourceInfo } from '../machinery/resources.js';
import type { ObjectStore } from './object-store.js';
import type { RequestVerb, ResourceRequest } from './request-info.js';
import type { ResourceStrategy } from './resource-strategy.js';
import type { UserInfo } from './user-info.js';
import type { WatchCache } from './watch-cache.js';

export interface ApiContext {
  readonly objects: ObjectStore;
  readonly cache: WatchCache;
  readonly log: Logger;
  readonly now: () => Date;
  strategyFor(info: ResourceInfo): ResourceStrategy;
  /** Starts (or nudges) the removal of a terminating namespace's content. */
  cleanupNamespace(name: string): void;
  /** How often watches that asked for bookmarks get one. */
  readonly bookmarkIntervalMs: number;
  /** A namespace's state from this replica's namespace cache; undefined = unknown, ask the store. */
  namespaceState(name: string): 'active' | 'terminating' | undefined;
  /** Lease for new Event objects (events expire on their own, as kube's --event-ttl). */
  eventLease(): Promise<string>;
  /** Admission on a create body (NodeRestriction); throws a Status to refuse. */
  admitCreate?: (req: ApiRequest, obj: JsonObject) => void;
  /**
   * Admission of the object a create or an update would write, before defaulting and validation
   * (RBAC escalation prevention); `old` is the stored object on an update. Throws a Status to refuse.
   */
  admitWrite?: (req: ApiRequest, obj: JsonObject, old: JsonObject | undefined) => Promise<void>;
}

export interface ApiRequest {
  /** The resource whose form is stored: what the store, strategies and validation work on. */
  readonly info: ResourceInfo;
  /**
   * The resource the client addressed: what bodies are parsed as and answers rendered as. The same
   * as `info` except for views of another version's objects (events.k8s.io/v1 Event).
   */
  readonly view: ResourceInfo;
  readonly target: ResourceRequest;
  readonly verb: RequestVerb;
  readonly query: URLSearchParams;
  readonly http: IncomingMessage;
  readonly res: ServerResponse;
  /** Who asks (undefined for internal calls). */
  readonly user?: UserInfo;
}

/** The namespace a request addresses ('' for cluster-scoped kinds). */
export function requestNamespace(req: ApiRequest): string | undefined {
  return req.info.namespaced ? req.target.namespace : undefined;
}
