// The per-replica watch cache: ONE store watch on the whole registry prefix feeds a ring of recent
// events, and every client watch is served from that ring, so N kubectl/informer watches cost one
// store watch (kube-apiserver's cacher does the same per resource). A client watch from a
// revision older than the ring's window falls back to its own store watch, which the store answers
// with "compacted" when the revision is gone: that is what becomes 410 Gone.

import type { Logger } from 'pino';

import type { RegistryStore, StoreWatch, StoreWatchEvent, StoredKv } from './registry-store.js';

/** One change as the cache keeps it; decoded objects are memoised on it by the watch layer. */
export interface CachedEvent {
  readonly revision: number;
  readonly type: 'put' | 'delete';
  readonly kv: StoredKv;
  readonly prevKv: StoredKv | undefined;
  /** Free slot for the watch layer's per-event memo (decoded objects, encoded lines). */
  memo?: unknown;
}

/** Where a cache watch delivers. deliver() returning false means "too far behind": the cache drops it. */
export interface CacheWatchSink {
  deliver(event: CachedEvent): boolean;
  /** No event for the sink's keys up to `revision` is pending. */
  progress(revision: number): void;
  /** The cache was reset or stopped; the client must re-list (stream ends). */
  terminate(reason: string): void;
}

export interface CacheWatch {
  cancel(): void;
}

export interface WatchCacheOptions {
  /** Events kept for catch-up; older revisions use a direct store watch. */
  readonly capacity?: number;
  /** How often the cache asks the store for a progress notification (keeps its revision fresh). */
  readonly progressIntervalMs?: number;
  /** Delay before re-opening the store watch after it failed. */
  readonly restartDelayMs?: number;
}

interface Registered {
  readonly keyPrefix: string;
  readonly sink: CacheWatchSink;
  /** Events at or below this revision are never delivered (the client has them). */
  after: number;
}

export class WatchCache {
  private readonly capacity: number;
  private readonly ring: CachedEvent[] = [];
  /** Index in `ring` of the oldest event (the ring is an array used circularly once full). */
  private head = 0;
  /** Every event with a revision above this is in the ring (or not yet received). */
  private windowStart = 0;
  /** Highest revision the cache knows all events up to (events and progress notifications). */
  private current = 0;
  private readonly watchers = new Set<Registered>();
  private storeWatch: StoreWatch | undefined;
  private progressTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readyResolve: (() => void) | undefined;
  private ready: Promise<void>;

  constructor(
    private readonly store: RegistryStore,
    /** The whole registry, e.g. '/registry/'. */
    private readonly prefix: string,
    private readonly log: Logger,
    opts: WatchCacheOptions = {},
  ) {
    this.capacity = opts.capacity ?? 50_000;
    this.progressIntervalMs = opts.progressIntervalMs ?? 5_000;
    this.restartDelayMs = opts.restartDelayMs ?? 1_000;
    this.ready = new Promise((resolve) => (this.readyResolve = resolve));
  }

  private readonly progressIntervalMs: number;
  private readonly restartDelayMs: number;

  /** Opens the store watch at the current revision; resolves once it is open. */
  async start(): Promise<void> {
    this.stopped = false;
    clearInterval(this.progressTimer);
    await this.open();
    this.progressTimer = setInterval(() => this.store.requestProgress(), this.progressIntervalMs);
    this.progressTimer.unref();
  }

  /** Resolves when the cache is serving (after start, or after a reset re-opened it). */
  whenReady(): Promise<void> {
    return this.ready;
  }

  get revision(): number {
    return this.current;
  }

  /** Client watches served from the cache right now. */
  get watcherCount(): number {
    return this.watchers.size;
  }

  /**
   * Registers a watch on keys under `keyPrefix` for events after revision `after`. Returns
   * undefined when `after` is older than the ring's window (the caller watches the store itself).
   * Events already in the ring are delivered before this returns.
   */
  watch(keyPrefix: string, after: number, sink: CacheWatchSink): CacheWatch | undefined {
    if (after < this.windowStart) return undefined;
    const entry: Registered = { keyPrefix, sink, after };
    const size = this.ring.length;
    // Replay from the first ring event above `after` (ring revisions ascend from head).
    let lo = 0;
    let hi = size;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const ev = this.ring[(this.head + mid) % size] as CachedEvent;
      if (ev.revision <= after) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < size; i++) {
      const ev = this.ring[(this.head + i) % size] as CachedEvent;
      if (!ev.kv.key.startsWith(keyPrefix)) continue;
      if (!sink.deliver(ev)) {
        sink.terminate('watch client too slow');
        return { cancel: () => undefined };
      }
      entry.after = ev.revision;
    }
    this.watchers.add(entry);
    return { cancel: () => this.watchers.delete(entry) };
  }

  /**
   * Waits until the cache has seen every event up to `revision` (asking the store for progress
   * notifications meanwhile); false after timeoutMs.
   */
  async waitForRevision(revision: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.current < revision) {
      if (Date.now() >= deadline) return false;
      this.store.requestProgress();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return true;
  }

  /** Tells every watcher the cache is complete up to its current revision (bookmarks). */
  notifyProgress(): void {
    for (const entry of this.watchers) {
      entry.sink.progress(Math.max(this.current, entry.after));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.progressTimer);
    clearTimeout(this.restartTimer);
    this.storeWatch?.cancel();
    this.storeWatch = undefined;
    for (const entry of this.watchers) entry.sink.terminate('apiserver is shutting down');
    this.watchers.clear();
  }

  private async open(): Promise<void> {
    // The current revision, read linearizably: the window starts there.
    const head = await this.store.list(this.prefix, { limit: 1 });
    this.ring.length = 0;
    this.head = 0;
    this.windowStart = head.revision;
    this.current = head.revision;
    this.storeWatch = this.store.watch(this.prefix, head.revision + 1, {
      onEvents: (events) => this.append(events),
      onProgress: (revision) => {
        if (revision > this.current) this.current = revision;
      },
      onError: (error) => this.reset(error),
    });
    this.log.debug({ revision: head.revision }, 'watch cache open');
    this.readyResolve?.();
    this.readyResolve = undefined;
  }

  private append(events: readonly StoreWatchEvent[]): void {
    for (const event of events) {
      const cached: CachedEvent = { revision: event.kv.modRevision, type: event.type, kv: event.kv, prevKv: event.prevKv };
      this.push(cached);
      if (cached.revision > this.current) this.current = cached.revision;
      for (const entry of this.watchers) {
        if (cached.revision <= entry.after || !cached.kv.key.startsWith(entry.keyPrefix)) continue;
        entry.after = cached.revision;
        if (!entry.sink.deliver(cached)) {
          this.watchers.delete(entry);
          entry.sink.terminate('watch client too slow');
        }
      }
    }
  }

  private push(event: CachedEvent): void {
    if (this.ring.length < this.capacity) {
      this.ring.push(event);
      return;
    }
    const evicted = this.ring[this.head] as CachedEvent;
    this.ring[this.head] = event;
    this.head = (this.head + 1) % this.capacity;
    // Everything above the evicted event's revision is still held, except other events of the
    // same revision (one txn) that may have been evicted before it: stay conservative.
    this.windowStart = evicted.revision;
  }

  /** The store watch failed (compaction outran us, store gone): drop watchers and reopen. */
  private reset(error: Error): void {
    if (this.stopped) return;
    this.log.warn({ err: error }, 'watch cache lost its store watch; clients must re-list');
    this.storeWatch = undefined;
    for (const entry of this.watchers) entry.sink.terminate('watch cache reset');
    this.watchers.clear();
    this.ready = new Promise((resolve) => (this.readyResolve = resolve));
    const retry = (): void => {
      if (this.stopped) return;
      this.open().catch((openError: unknown) => {
        this.log.warn({ err: openError }, 'watch cache reopen failed; retrying');
        this.restartTimer = setTimeout(retry, this.restartDelayMs);
      });
    };
    this.restartTimer = setTimeout(retry, this.restartDelayMs);
  }
}
