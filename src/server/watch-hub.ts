// Every watcher of one member, kept as etcd 3.4's watchableStore keeps them (mvcc/watchable_store.go):
// - synced: caught up with the hub's revision; each applied batch is matched against them and handed
//   to their streams right away;
// - unsynced: behind (created with an old start revision, or back from being a victim); a sync round
//   reads their missed events from history (recent events, else the MVCC index), at most
//   `batchMaxRevisions` revisions per watcher per round, and moves them to synced once caught up, or
//   cancels them with compact_revision when their next revision was compacted away;
// - victims: their stream refused a batch (its buffer is full); the hub holds that one batch and
//   offers it again later, then the watcher rejoins as unsynced (or synced) and catches up from
//   history. So a consumer that does not read costs one held batch and its stream's bounded buffer,
//   and never slows the apply loop or other watchers.
// Single-threaded: every method runs to completion, so a watcher moves between groups atomically
// with respect to `notify`, which is what makes replay-then-live free of gaps and duplicates.

import type { Event } from '../mvcc/types.js';
import { toLatin1 } from '../mvcc/latin1.js';
import { RecentEvents } from './watch-recent-events.js';

/** What the hub reads from the MVCC store (MvccStore satisfies it). */
export interface WatchHistory {
  /** The last compaction's revision; 0 when never compacted. */
  readonly compactRevision: number;
  readonly currentRevision: number;
  history(
    key: Buffer,
    rangeEnd: Buffer,
    fromRev: number,
    toRev: number,
    opts: { maxRevisions: number; prevKv: boolean },
  ): { events: Event[]; moreRev: number };
}

/** The stream side of a watcher (one gRPC Watch stream serves many watchers). */
export interface WatchTarget {
  /**
   * Offers a batch of events (revision order, already filtered) for `w`; `revision` is what the
   * response header says the watcher has seen up to. Returns false, keeping nothing, when the stream
   * cannot take more now: the watcher then becomes a victim.
   */
  offer(w: Watcher, events: Event[], revision: number): boolean;
  /** The watcher's next revision was compacted away; the hub has dropped it. Always delivered. */
  compacted(w: Watcher, compactRevision: number): void;
  /** The watcher just became synced (for progress requests waiting on it). */
  synced?(w: Watcher): void;
}

export type WatchFilter = 'NOPUT' | 'NODELETE';

export interface WatchParams {
  /** The watch ID on its stream (the hub does not interpret it). */
  id: number;
  key: Buffer;
  /** Empty: the single key. One zero byte: every key >= key. Otherwise [key, rangeEnd). */
  rangeEnd: Buffer;
  /** 0: from the next revision. */
  startRevision: number;
  filters?: readonly WatchFilter[];
  /** History reads fetch prev_kv too (live events always carry it). */
  prevKv?: boolean;
  target: WatchTarget;
}

type WatcherState = 'synced' | 'unsynced' | 'victim' | 'compacted' | 'canceled';

export class Watcher {
  readonly id: number;
  readonly key: Buffer;
  readonly rangeEnd: Buffer;
  /** The key as latin1, and the range end: null for a single key, '' for every key >= key. */
  readonly keyText: string;
  readonly endText: string | null;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly prevKv: boolean;
  readonly target: WatchTarget;
  /** The next revision this watcher accepts: it has been given every matching event below it. */
  minRev: number;
  state: WatcherState = 'synced';
  /** A victim's batch, refused by its stream and offered again. */
  pending: { events: Event[]; revision: number } | undefined;
  /** Set when `restore` moved it to unsynced, where it may wait on a future revision. */
  restored = false;

  constructor(p: WatchParams, minRev: number) {
    this.id = p.id;
    this.key = p.key;
    this.rangeEnd = p.rangeEnd;
    this.keyText = toLatin1(p.key);
    this.endText =
      p.rangeEnd.length === 0 ? null : p.rangeEnd.length === 1 && p.rangeEnd[0] === 0 ? '' : toLatin1(p.rangeEnd);
    this.noPut = p.filters?.includes('NOPUT') ?? false;
    this.noDelete = p.filters?.includes('NODELETE') ?? false;
    this.prevKv = p.prevKv ?? false;
    this.target = p.target;
    this.minRev = minRev;
  }

  contains(key: string): boolean {
    if (this.endText === null) return key === this.keyText;
    return key >= this.keyText && (this.endText === '' || key < this.endText);
  }

  /** etcd's filters: NOPUT drops puts, NODELETE drops deletes. */
  filter(events: Event[]): Event[] {
    if (!this.noPut && !this.noDelete) return events;
    return events.filter((e) => !(e.type === 'PUT' ? this.noPut : this.noDelete));
  }
}

/** Timers, injectable so tests drive sync rounds themselves. */
export interface HubTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface WatchHubOptions {
  /** The store to read history from; a function because a snapshot install replaces it. */
  history: () => WatchHistory;
  /** Delay between sync rounds while watchers are unsynced (etcd: 100 ms). */
  syncIntervalMs?: number;
  /** Delay between offering victims' batches again (etcd: 10 ms). */
  victimRetryMs?: number;
  /** Unsynced watchers handled per round (etcd: 512). */
  maxWatchersPerSync?: number;
  /** Distinct revisions per catch-up batch (etcd's watchBatchMaxRevs: 1000). */
  batchMaxRevisions?: number;
  /** Bounds of the recent-events log. */
  recentEventsMax?: number;
  recentBytesMax?: number;
  /** null: no timers at all (tests call syncWatchers/moveVictims). Default: the real ones. */
  timers?: HubTimers | null;
}

const realTimers: HubTimers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class WatchHub {
  private readonly history: () => WatchHistory;
  private readonly syncIntervalMs: number;
  private readonly victimRetryMs: number;
  private readonly maxWatchersPerSync: number;
  private readonly batchMaxRevisions: number;
  private readonly timers: HubTimers | null;
  /** The last revision handed to `notify` (or restored): every synced watcher has seen up to it. */
  private rev: number;
  private readonly recent: RecentEvents;
  /** Synced single-key watchers by key, and synced range watchers (scanned per event). */
  private readonly syncedByKey = new Map<string, Set<Watcher>>();
  private readonly syncedRanges = new Set<Watcher>();
  private syncedCount = 0;
  /** Insertion-ordered, so rounds take the longest-waiting watchers first. */
  private readonly unsynced = new Set<Watcher>();
  private readonly victims = new Set<Watcher>();
  private syncTimer: unknown;
  /** Whether the last sync round handed anything out or moved a watcher (then the next one comes soon). */
  private roundProgress = false;
  private victimTimer: unknown;
  private closed = false;

  constructor(opts: WatchHubOptions) {
    this.history = opts.history;
    this.syncIntervalMs = opts.syncIntervalMs ?? 100;
    this.victimRetryMs = opts.victimRetryMs ?? 10;
    this.maxWatchersPerSync = opts.maxWatchersPerSync ?? 512;
    this.batchMaxRevisions = opts.batchMaxRevisions ?? 1000;
    this.timers = opts.timers === undefined ? realTimers : opts.timers;
    this.rev = opts.history().currentRevision;
    this.recent = new RecentEvents(this.rev, opts.recentEventsMax ?? 16_384, opts.recentBytesMax ?? 16 * 1024 * 1024);
  }

  /** The revision every synced watcher has been given events up to. */
  get revision(): number {
    return this.rev;
  }

  get stats(): { synced: number; unsynced: number; victims: number; recentEvents: number } {
    return { synced: this.syncedCount, unsynced: this.unsynced.size, victims: this.victims.size, recentEvents: this.recent.size };
  }

  isSynced(w: Watcher): boolean {
    return w.state === 'synced';
  }

  /**
   * Adds a watcher (etcd's watchableStore.watch). A start revision of 0 or after the hub's revision
   * is synced and waits for it; an older one starts unsynced and replays history first.
   */
  watch(p: WatchParams): Watcher {
    const start = p.startRevision;
    if (start === 0 || start > this.rev) {
      const w = new Watcher(p, Math.max(this.rev + 1, start));
      this.addSynced(w);
      return w;
    }
    const w = new Watcher(p, start);
    w.state = 'unsynced';
    this.unsynced.add(w);
    this.scheduleSync(0);
    return w;
  }

  /** Removes a watcher wherever it is; a victim's held batch is dropped. */
  cancel(w: Watcher): void {
    switch (w.state) {
      case 'synced':
        this.removeSynced(w);
        break;
      case 'unsynced':
        this.unsynced.delete(w);
        break;
      case 'victim':
        this.victims.delete(w);
        w.pending = undefined;
        break;
      default:
        break;
    }
    w.state = 'canceled';
  }

  /**
   * The apply loop's hook: the events of one persisted batch of entries, in revision order, and the
   * store's revision after it. Called once per batch.
   */
  notify(events: readonly Event[], revision: number): void {
    if (this.closed) return;
    if (events.length > 0) {
      this.recent.append(events);
      if (this.syncedCount > 0) this.deliver(events, revision);
    }
    if (revision > this.rev) this.rev = revision;
  }

  /** The store was replaced by a snapshot: synced watchers catch up from the new store's history. */
  restore(): void {
    // A synced watcher has been given everything up to the old revision, whatever its minRev says
    // (live delivery does not move minRev): it resumes after that, or it would get those events twice.
    const seenUpTo = this.rev;
    this.rev = this.history().currentRevision;
    this.recent.reset(this.rev);
    for (const set of this.syncedByKey.values()) for (const w of set) this.toUnsyncedAfterRestore(w, seenUpTo);
    for (const w of this.syncedRanges) this.toUnsyncedAfterRestore(w, seenUpTo);
    this.syncedByKey.clear();
    this.syncedRanges.clear();
    this.syncedCount = 0;
    this.scheduleSync(0);
  }

  close(): void {
    this.closed = true;
    if (this.timers !== null) {
      if (this.syncTimer !== undefined) this.timers.clearTimeout(this.syncTimer);
      if (this.victimTimer !== undefined) this.timers.clearTimeout(this.victimTimer);
    }
    this.syncTimer = undefined;
    this.victimTimer = undefined;
  }

  /** A stream has room again: offer the victims' batches soon. */
  kickVictims(): void {
    if (this.victims.size > 0) this.scheduleVictims(0);
  }

  // ---- Synced watchers.

  private addSynced(w: Watcher): void {
    w.state = 'synced';
    if (w.endText === null) {
      let set = this.syncedByKey.get(w.keyText);
      if (set === undefined) {
        set = new Set();
        this.syncedByKey.set(w.keyText, set);
      }
      set.add(w);
    } else {
      this.syncedRanges.add(w);
    }
    this.syncedCount++;
  }

  private removeSynced(w: Watcher): void {
    if (w.endText === null) {
      const set = this.syncedByKey.get(w.keyText);
      if (set?.delete(w) === true) {
        this.syncedCount--;
        if (set.size === 0) this.syncedByKey.delete(w.keyText);
      }
    } else if (this.syncedRanges.delete(w)) {
      this.syncedCount--;
    }
  }

  private toUnsyncedAfterRestore(w: Watcher, seenUpTo: number): void {
    w.minRev = Math.max(w.minRev, seenUpTo + 1);
    w.state = 'unsynced';
    w.restored = true;
    this.unsynced.add(w);
  }

  /** etcd's notify: one batch per synced watcher; a refused batch makes the watcher a victim. */
  private deliver(events: readonly Event[], revision: number): void {
    const batches = new Map<Watcher, Event[]>();
    const add = (w: Watcher, e: Event): void => {
      if (e.kv.modRevision < w.minRev) return; // a watcher on a future revision waits for it
      const list = batches.get(w);
      if (list === undefined) batches.set(w, [e]);
      else list.push(e);
    };
    for (const e of events) {
      const key = toLatin1(e.kv.key);
      const exact = this.syncedByKey.get(key);
      if (exact !== undefined) for (const w of exact) add(w, e);
      for (const w of this.syncedRanges) if (w.contains(key)) add(w, e);
    }
    for (const [w, list] of batches) {
      const evs = w.filter(list);
      if (evs.length === 0) continue;
      if (w.target.offer(w, evs, revision)) continue;
      this.removeSynced(w);
      w.state = 'victim';
      w.minRev = revision + 1;
      w.pending = { events: evs, revision };
      this.victims.add(w);
      this.scheduleVictims(this.victimRetryMs);
    }
  }

  // ---- Victims.

  /** etcd's moveVictims: offers each held batch again; returns how many were taken. */
  moveVictims(): number {
    let moved = 0;
    for (const w of [...this.victims]) {
      const batch = w.pending;
      if (batch === undefined || w.state !== 'victim') {
        this.victims.delete(w);
        continue;
      }
      // The header says what the watcher has seen: everything before minRev.
      if (!w.target.offer(w, batch.events, w.minRev - 1)) continue;
      moved++;
      this.victims.delete(w);
      w.pending = undefined;
      if (w.minRev <= this.rev) {
        w.state = 'unsynced';
        this.unsynced.add(w);
        this.scheduleSync(0);
      } else {
        this.addSynced(w);
        w.target.synced?.(w);
      }
    }
    return moved;
  }

  // ---- Unsynced watchers.

  /**
   * etcd's syncWatchers: for up to maxWatchersPerSync unsynced watchers, cancels the compacted ones,
   * hands each the events it missed (at most batchMaxRevisions revisions) and moves the caught-up
   * ones to synced. Returns how many stay unsynced.
   */
  syncWatchers(): number {
    const curRev = this.rev;
    const store = this.history();
    const compactRev = store.compactRevision;
    let n = 0;
    // Deleting the visited watcher while iterating a Set is safe; nothing here adds to `unsynced`.
    for (const w of this.unsynced) {
      if (n++ >= this.maxWatchersPerSync) break;
      if (w.minRev > curRev) {
        // Only after a restore can a watcher wait on a future revision here.
        this.unsynced.delete(w);
        w.restored = false;
        this.addSynced(w);
        w.target.synced?.(w);
        this.roundProgress = true;
        continue;
      }
      if (w.minRev < compactRev) {
        this.unsynced.delete(w);
        w.state = 'compacted';
        w.target.compacted(w, compactRev);
        continue;
      }
      const { events, moreRev } = this.read(w, store, w.minRev, curRev);
      w.minRev = moreRev !== 0 ? moreRev : curRev + 1;
      const evs = w.filter(events);
      this.roundProgress = true;
      // A capped batch says it has seen up to the revision before the first one left out.
      const revision = moreRev !== 0 ? moreRev - 1 : curRev;
      if (evs.length > 0 && !w.target.offer(w, evs, revision)) {
        this.unsynced.delete(w);
        w.state = 'victim';
        w.pending = { events: evs, revision };
        this.victims.add(w);
        this.scheduleVictims(this.victimRetryMs);
        continue;
      }
      if (moreRev !== 0) continue;
      this.unsynced.delete(w);
      this.addSynced(w);
      w.target.synced?.(w);
    }
    return this.unsynced.size;
  }

  /** Events for `w` in [fromRev, toRev], from the recent-events log when it reaches back far enough. */
  private read(w: Watcher, store: WatchHistory, fromRev: number, toRev: number): { events: Event[]; moreRev: number } {
    if (fromRev < this.recent.coveredFrom) {
      return store.history(w.key, w.rangeEnd, fromRev, toRev, { maxRevisions: this.batchMaxRevisions, prevKv: w.prevKv });
    }
    const events: Event[] = [];
    let revisions = 0;
    let last = -1;
    for (const r of this.recent.between(fromRev, toRev, (key) => w.contains(key))) {
      if (r.revision !== last) {
        if (++revisions > this.batchMaxRevisions) return { events, moreRev: r.revision };
        last = r.revision;
      }
      events.push(r.event);
    }
    return { events, moreRev: 0 };
  }

  // ---- Timers.

  private scheduleSync(delayMs: number): void {
    if (this.timers === null || this.closed) return;
    if (this.syncTimer !== undefined) {
      if (delayMs > 0) return;
      this.timers.clearTimeout(this.syncTimer);
    }
    this.syncTimer = this.timers.setTimeout(() => {
      this.syncTimer = undefined;
      if (this.closed) return;
      this.roundProgress = false;
      const left = this.syncWatchers();
      // More work and progress made: go on soon (yielding to I/O), else at the regular pace.
      if (left > 0) this.scheduleSync(this.roundProgress ? 1 : this.syncIntervalMs);
    }, delayMs);
  }

  private scheduleVictims(delayMs: number): void {
    if (this.timers === null || this.closed) return;
    if (this.victimTimer !== undefined) {
      if (delayMs > 0) return;
      this.timers.clearTimeout(this.victimTimer);
    }
    this.victimTimer = this.timers.setTimeout(() => {
      this.victimTimer = undefined;
      if (this.closed) return;
      this.moveVictims();
      if (this.victims.size > 0) this.scheduleVictims(this.victimRetryMs);
    }, delayMs);
  }
}
