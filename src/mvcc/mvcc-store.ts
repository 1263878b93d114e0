// The MVCC key-value store with etcd 3.4's semantics (mvcc/kvstore_txn.go, key_index.go,
// etcdserver/apply.go), synchronous and in memory. Every Raft member applies the same requests in
// the same order and must end in the same state, so nothing here reads a clock, draws a random
// number or depends on anything but its input. Each write returns the LevelDB batch that makes it
// durable; `load` rebuilds the identical store from those records.

import { ColdValues } from './cold-values.js';
import { Crc32c } from './crc32c.js';
import { goSort } from './go-sort.js';
import type { KeptRevision, KeyIndex, KeyRevision } from './key-index.js';
import { fromLatin1, toLatin1 } from './latin1.js';
import {
  COMPACT_REVISION_KEY,
  REVISION_PREFIX,
  canonicalLease,
  compareLease,
  decodeCompactRevision,
  decodeKeyValue,
  decodeRevisionKey,
  encodeCompactRevision,
  encodeKeyValue,
  encodeRevisionKey,
  viewKeyValue,
} from './record-codec.js';
import { decodeSnapshot, encodeSnapshotOfRevisions, type Reserve } from './snapshot-format.js';
import { TreeIndex } from './tree-index.js';
import {
  MvccError,
  type Compare,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type Event,
  type HashKVResult,
  type KeyValue,
  type MvccStats,
  type MvccStoreOptions,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type RangeRevisions,
  type RequestOp,
  type ResponseOp,
  type StorageOp,
  type TxnRequest,
  type TxnResponse,
  type WriteResult,
} from './types.js';

const EMPTY = Buffer.alloc(0);

type Writable<T> = { -readonly [K in keyof T]: T[K] };
/**
 * The message of the KeyNotFound a txn gets when a put with ignore_value/ignore_lease follows a
 * delete of its key in the same txn. etcd 3.4's pre-check passes such a txn and its apply then
 * panics (the member crashes); the duplicate-key check misses it when the delete's range end is
 * "\0". We refuse the txn instead and leave the store as it was.
 */
export const DELETED_IN_TXN = 'key not found: an earlier operation of the txn deleted it';
/** Counted per kept revision in stats().approximateBytes, besides its key and value bytes. */
const REVISION_OVERHEAD_BYTES = 64;

/** A write in progress: every change gets main revision `main` and the next sub revision. */
interface Write {
  readonly beginRev: number;
  readonly main: number;
  /** Next sub revision; also the number of changes so far. */
  sub: number;
  readonly events: Event[];
  readonly ops: StorageOp[];
  /** Keys changed by this write, each once: for lease bookkeeping at commit and for undo. */
  readonly touched: KeyIndex[];
}

/**
 * Values shorter than this stay on the heap: a cold value costs 12 bytes of handle table plus a
 * pread to read back, a short string little more than its bytes.
 */
const DEFAULT_COLD_MIN_BYTES = 48;
/**
 * A key's current value goes cold at once if at least this long, else when a later write
 * supersedes it. Reading a cold value back is a pread: for the previous value every put reports
 * to watchers, and for every value a range returns. Measured with 256-byte values (issue 9), all
 * values cold cut 26 MiB of heap at 100k keys but range 1,000 keys ran at half the rate and puts
 * at 256 clients 20% slower; at a kilobyte and more the pread is small beside the request's other
 * work, and the heap saved grows with the value.
 */
const DEFAULT_COLD_CURRENT_MIN_BYTES = 1024;

/** Where a range goes: a single key (end null), [key, end), or every key >= key (end ''). */
function rangeEndOf(rangeEnd: Buffer): string | null {
  if (rangeEnd.length === 0) return null;
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return '';
  return toLatin1(rangeEnd);
}

function assertRevision(n: number, what: string): void {
  if (!Number.isSafeInteger(n)) throw new RangeError(`${what} ${String(n)} is not a safe integer`);
}

function compareNumbers(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function toKeyValue(r: KeyRevision, keysOnly = false): KeyValue {
  return {
    key: fromLatin1(r.key),
    createRevision: r.createRevision,
    modRevision: r.main,
    version: r.version,
    value: keysOnly || r.value === null || r.value.length === 0 ? EMPTY : fromLatin1(r.value),
    lease: r.lease,
  };
}

/** etcd's kvSortBy*.Less (etcdserver/apply.go). */
const sortLess: Record<Exclude<RangeRequest['sortTarget'], 'KEY'>, (a: KeyRevision, b: KeyRevision) => boolean> = {
  VERSION: (a, b) => a.version < b.version,
  CREATE: (a, b) => a.createRevision < b.createRevision,
  MOD: (a, b) => a.main < b.main,
  VALUE: (a, b) => (a.value ?? '') < (b.value ?? ''),
};

/**
 * Operations seen by this store since it started, counted as etcd's metricsTxnWrite does
 * (etcd_mvcc_range_total, put_total, delete_total, txn_total, and
 * etcd_debugging_mvcc_total_put_size_in_bytes): every range, put and delete, inside txns too; a
 * txn counts when it ran more than one of them. Compares are not counted.
 */
export interface MvccOpCounts {
  ranges: number;
  puts: number;
  deletes: number;
  txns: number;
  /** Sum of key + value bytes of every put. */
  putBytes: number;
}

export class MvccStore {
  /** Plain counters, read by the metrics when scraped. */
  readonly ops: MvccOpCounts = { ranges: 0, puts: 0, deletes: 0, txns: 0, putBytes: 0 };
  private readonly index = new TreeIndex();
  /** Lease ID -> keys (latin1) whose current put carries it. Only current puts count. */
  private readonly leaseKeys = new Map<string, Set<string>>();
  private readonly leaseExists: (id: string) => boolean;
  /** The last main revision written; 1 for a fresh store (etcd's first write makes 2). */
  private rev = 1;
  /**
   * etcd's compactMainRev: revisions below it were compacted away. -1 until the first compaction,
   * as in etcd, which is observable: Compact(0) succeeds once, a txn range at revision -1 is fine
   * only before it, and HashKV reports -1.
   */
  private compactRev = -1;
  private liveKeyCount = 0;
  private revisionCount = 0;
  private keptBytes = 0;
  /** Where values go off the heap (see spillWritten); undefined keeps every value on the heap. */
  private readonly cold: ColdValues | undefined;
  private readonly coldMinBytes: number;
  private readonly coldCurrentMinBytes: number;
  /** Set when a cold file could not be written: values stay on the heap from then on. */
  private coldFailure: Error | undefined;

  /**
   * `leaseExists` is the lessor's lookup. Without it every lease is taken to exist (a store used
   * without leases, as in tests).
   */
  constructor(opts: MvccStoreOptions = {}) {
    this.leaseExists = opts.leaseExists ?? (() => true);
    const cold = opts.coldValues;
    this.coldMinBytes = cold?.minBytes ?? DEFAULT_COLD_MIN_BYTES;
    this.coldCurrentMinBytes = Math.max(this.coldMinBytes, cold?.currentMinBytes ?? DEFAULT_COLD_CURRENT_MIN_BYTES);
    try {
      this.cold = cold === undefined ? undefined : new ColdValues(cold.dir, { segmentBytes: cold.segmentBytes });
    } catch (err) {
      // No folder for cold values (read-only, full disk): everything stays on the heap, as without.
      this.cold = undefined;
      this.coldFailure = err as Error;
    }
  }

  /** Deletes the cold value files; the store must not be used afterwards. */
  close(): void {
    this.cold?.close();
  }

  /** Bytes of values kept in files rather than on the heap; why spilling stopped, if it did. */
  get coldValues(): { bytes: number; failure: string | undefined } {
    return { bytes: this.cold?.bytes ?? 0, failure: this.coldFailure?.message };
  }

  get currentRevision(): number {
    return this.rev;
  }

  /** Keys in the index, deleted ones included until compaction drops them (etcd's keys_total). */
  get indexedKeys(): number {
    return this.index.size;
  }

  /** The last compaction's revision; 0 when never compacted. */
  get compactRevision(): number {
    return Math.max(0, this.compactRev);
  }

  // ---- Reads.

  /** Throws MvccError FutureRevision or Compacted for a revision out of reach. */
  range(req: RangeRequest): RangeResponse {
    return this.rangeAt(req, this.rev);
  }

  /**
   * As range, but the kvs stay the store's own immutable revisions (no KeyValue objects, no copies
   * of keys and values): for encoders that write the response straight from them.
   */
  rangeRevisions(req: RangeRequest): RangeRevisions {
    return this.collectRange(req, this.rev);
  }

  /** etcd's applierV3backend.Range over storeTxnRead.rangeKeys, as of `curRev`. */
  private rangeAt(req: RangeRequest, curRev: number): RangeResponse {
    const { revs, more, count } = this.collectRange(req, curRev);
    const kvs = new Array<KeyValue>(revs.length);
    for (let i = 0; i < revs.length; i++) kvs[i] = toKeyValue(revs[i] as KeyRevision, req.keysOnly);
    return { kvs, more, count, revision: curRev };
  }

  private collectRange(req: RangeRequest, curRev: number): RangeRevisions {
    this.ops.ranges++;
    assertRevision(req.revision, 'range revision');
    assertRevision(req.limit, 'range limit');
    let rev = req.revision;
    if (rev > curRev) throw new MvccError('FutureRevision');
    if (rev <= 0) rev = curRev;
    if (rev < this.compactRev) throw new MvccError('Compacted');

    // etcd fetches everything when it will sort or filter, else limit+1 to know `more`.
    const filtered =
      req.minModRevision !== 0 ||
      req.maxModRevision !== 0 ||
      req.minCreateRevision !== 0 ||
      req.maxCreateRevision !== 0;
    const fetchLimit = req.sortOrder !== 'NONE' || filtered ? 0 : req.limit > 0 ? req.limit + 1 : 0;

    let count = 0;
    let found: KeptRevision[] = [];
    const key = toLatin1(req.key);
    const end = rangeEndOf(req.rangeEnd);
    if (end === null) {
      const ki = this.index.get(key);
      const i = ki === undefined ? -1 : ki.indexAt(rev);
      if (i >= 0) {
        count = 1;
        if (!req.countOnly) found.push((ki as KeyIndex).revisionAt(i));
      }
    } else {
      this.index.forRange(key, end, (ki) => {
        const i = ki.indexAt(rev);
        if (i < 0) return;
        count++;
        if (!req.countOnly && (fetchLimit === 0 || found.length < fetchLimit)) found.push(ki.revisionAt(i));
      });
    }

    if (filtered) {
      found = found.filter(
        (r) =>
          !(req.maxModRevision !== 0 && r.main > req.maxModRevision) &&
          !(req.minModRevision !== 0 && r.main < req.minModRevision) &&
          !(req.maxCreateRevision !== 0 && r.createRevision > req.maxCreateRevision) &&
          !(req.minCreateRevision !== 0 && r.createRevision < req.minCreateRevision),
      );
    }

    const resolved = found.length > 1 ? this.resolveMany(found) : this.resolveAll(found);
    // etcd: results come in key order; any other target with order NONE sorts ascending. Go's
    // sort.Sort is not stable, so equal kvs are ordered exactly as it would (keys are unique, so
    // by key a reverse is all it takes).
    let order = req.sortOrder;
    if (req.sortTarget !== 'KEY' && order === 'NONE') order = 'ASCEND';
    if (req.sortTarget === 'KEY') {
      if (order === 'DESCEND') resolved.reverse();
    } else if (order === 'ASCEND' || order === 'DESCEND') {
      const less = sortLess[req.sortTarget];
      goSort(resolved, order === 'ASCEND' ? less : (a, b) => less(b, a));
    }

    let more = false;
    if (req.limit > 0 && resolved.length > req.limit) {
      resolved.length = req.limit;
      more = true;
    }
    return { revs: resolved, keysOnly: req.keysOnly, more, count, revision: curRev };
  }

  /** Current keys (bytewise ascending) attached to a lease: what revoking it deletes. */
  keysWithLease(leaseId: string): Buffer[] {
    const keys = this.leaseKeys.get(canonicalLease(leaseId));
    if (keys === undefined) return [];
    return [...keys].sort().map(fromLatin1);
  }

  /**
   * For watchers catching up (src/server/watch-hub.ts; etcd's syncWatchers): the events of keys in
   * [key, rangeEnd) (rangeEnd as in RangeRequest) with main revision in [fromRev, toRev], in revision
   * order, as the writes emitted them, with at most `maxRevisions` distinct revisions; `moreRev` is
   * the first revision left out (0: none). `prevKv` adds each non-create event's previous put when it
   * is still kept (etcd's Range at modRevision-1). The caller checks compactRevision first.
   */
  history(
    key: Buffer,
    rangeEnd: Buffer,
    fromRev: number,
    toRev: number,
    opts: { maxRevisions: number; prevKv: boolean },
  ): { events: Event[]; moreRev: number } {
    // Each picked revision with the one before it (for prev_kv).
    const picked: Array<{ r: KeptRevision; before: KeptRevision | undefined }> = [];
    const visit = (ki: KeyIndex): void => {
      const first = ki.firstAtOrAfter(fromRev);
      let before = first > 0 ? ki.revisionAt(first - 1) : undefined;
      for (let i = first; i < ki.length && ki.mainAt(i) <= toRev; i++) {
        const r = ki.revisionAt(i);
        picked.push({ r, before });
        before = r;
      }
    };
    const end = rangeEndOf(rangeEnd);
    if (end === null) {
      const ki = this.index.get(toLatin1(key));
      if (ki !== undefined) visit(ki);
    } else {
      this.index.forRange(toLatin1(key), end, visit);
    }
    picked.sort((a, b) => a.r.main - b.r.main || a.r.sub - b.r.sub);
    const events: Event[] = [];
    let revisions = 0;
    let lastMain = -1;
    for (const { r, before } of picked) {
      if (r.main !== lastMain) {
        if (++revisions > opts.maxRevisions) return { events, moreRev: r.main };
        lastMain = r.main;
      }
      const kv: KeyValue =
        r.value === null
          ? { key: fromLatin1(r.key), createRevision: 0, modRevision: r.main, version: 0, value: EMPTY, lease: '0' }
          : toKeyValue(this.resolve(r));
      const isCreate = r.value !== null && r.createRevision === r.main;
      if (opts.prevKv && !isCreate && before !== undefined && before.value !== null && r.main - 1 >= this.compactRev) {
        events.push({ type: r.value === null ? 'DELETE' : 'PUT', kv, prevKv: toKeyValue(this.resolve(before)) });
      } else {
        events.push({ type: r.value === null ? 'DELETE' : 'PUT', kv });
      }
    }
    return { events, moreRev: 0 };
  }

  // ---- Writes.

  put(req: PutRequest): WriteResult<PutResponse> {
    if (req.key.length === 0) throw new MvccError('KeyNotProvided');
    // etcd checks the lease before looking at the key (applierV3backend.Put outside a txn).
    const lease = canonicalLease(req.lease);
    if (lease !== '0' && !this.leaseExists(lease)) throw new MvccError('LeaseNotFound');
    const w = this.beginWrite();
    const response = this.putIn(w, req, lease, false);
    return this.commit(w, response);
  }

  deleteRange(req: DeleteRangeRequest): WriteResult<DeleteRangeResponse> {
    if (req.key.length === 0) throw new MvccError('KeyNotProvided');
    const w = this.beginWrite();
    const response = this.deleteIn(w, req);
    return this.commit(w, response);
  }

  /**
   * etcd's applierV3backend.Txn: every compare, nested ones on the taken branches included, sees the
   * store as it was before the txn; then the branch's puts and ranges are checked (errors leave the
   * store untouched); then the ops run in order, each seeing the previous ones' writes, all at one
   * main revision. Duplicate-key rejection is the API layer's (see checkTxnDuplicateKeys).
   */
  txn(req: TxnRequest): WriteResult<TxnResponse> {
    const path: boolean[] = [];
    this.comparePath(req, path);
    this.checkTxn(req, path, { next: 0 });
    const w = this.beginWrite();
    const opsBefore = this.ops.ranges + this.ops.puts + this.ops.deletes;
    let response: TxnResponse;
    try {
      response = this.applyTxn(w, req, path, { next: 0 });
      if (this.ops.ranges + this.ops.puts + this.ops.deletes - opsBefore > 1) this.ops.txns++;
    } catch (err) {
      // Only a put whose key an earlier op of the same txn deleted gets here (etcd would panic).
      this.undo(w);
      throw err;
    }
    response.revision = w.sub > 0 ? w.main : w.beginRev;
    return this.commit(w, response);
  }

  /**
   * Deletes every current key attached to the lease in one write, in key order, as etcd's lessor
   * does on revoke and expiry. No keys: nothing is written and the revision stays.
   */
  deleteLeaseKeys(leaseId: string): WriteResult<DeleteRangeResponse> {
    const keys = [...(this.leaseKeys.get(canonicalLease(leaseId)) ?? [])].sort();
    const w = this.beginWrite();
    for (const key of keys) {
      const ki = this.index.get(key);
      if (ki?.isLive() === true) this.tombstone(w, ki);
    }
    const response: DeleteRangeResponse = { deleted: w.sub, prevKvs: [], revision: w.sub > 0 ? w.main : w.beginRev };
    return this.commit(w, response);
  }

  /**
   * Drops, per key, every revision older than the newest one <= revision, and that one too when it
   * is a tombstone (etcd's treeIndex.Compact plus the backend delete). Reads below `revision` fail
   * with Compacted from now on; a read at it still works.
   */
  compact(revision: number): WriteResult<Record<string, never>> {
    assertRevision(revision, 'compact revision');
    if (revision <= this.compactRev) throw new MvccError('Compacted');
    if (revision > this.rev) throw new MvccError('FutureRevision');
    const ops: StorageOp[] = [];
    const emptied: string[] = [];
    this.index.forEach((ki) => {
      for (const r of ki.compact(revision)) {
        ops.push({ type: 'del', key: encodeRevisionKey(r.main, r.sub, r.value === null) });
        this.revisionCount--;
        this.keptBytes -= this.revisionBytes(r);
        if (typeof r.value === 'number') this.cold?.free(r.value);
      }
      if (ki.length === 0) emptied.push(ki.key);
    });
    for (const key of emptied) this.index.remove(key);
    this.cold?.rewriteSparse();
    ops.push({ type: 'put', key: COMPACT_REVISION_KEY, value: encodeCompactRevision(revision) });
    this.compactRev = revision;
    return { response: {}, revision: this.rev, events: [], ops };
  }

  // ---- Write internals.

  private beginWrite(): Write {
    return { beginRev: this.rev, main: this.rev + 1, sub: 0, events: [], ops: [], touched: [] };
  }

  private commit<R>(w: Write, response: R): WriteResult<R> {
    if (w.sub > 0) {
      this.rev = w.main;
      for (const ki of w.touched) {
        this.updateLease(ki, w.beginRev);
        this.spillWritten(ki, w.main);
      }
    }
    return { response, revision: this.rev, events: w.events, ops: w.ops };
  }

  /** Moves a touched key between lease sets: from its lease before the write to its lease now. */
  private updateLease(ki: KeyIndex, beginRev: number): void {
    const i = ki.indexAt(beginRev);
    const before = i < 0 ? '0' : ki.leaseAt(i);
    const after = ki.currentLease();
    if (before === after) return;
    if (before !== '0') {
      const keys = this.leaseKeys.get(before);
      keys?.delete(ki.key);
      if (keys?.size === 0) this.leaseKeys.delete(before);
    }
    if (after !== '0') this.attachLease(after, ki.key);
  }

  private attachLease(lease: string, key: string): void {
    let keys = this.leaseKeys.get(lease);
    if (keys === undefined) {
      keys = new Set();
      this.leaseKeys.set(lease, keys);
    }
    keys.add(key);
  }

  /** Reverts every change of an unfinished write. */
  private undo(w: Write): void {
    for (const ki of w.touched) {
      while (ki.length > 0 && ki.mainAt(ki.length - 1) === w.main) this.popRevision(ki);
      ki.touchedAt = 0;
      if (ki.length === 0) this.index.remove(ki.key);
    }
  }

  private pushRevision(ki: KeyIndex, r: KeptRevision): void {
    const wasLive = ki.isLive();
    ki.push(r);
    this.liveKeyCount += (r.value !== null ? 1 : 0) - (wasLive ? 1 : 0);
    this.revisionCount++;
    this.keptBytes += this.revisionBytes(r);
  }

  private popRevision(ki: KeyIndex): void {
    const r = ki.pop();
    const isLive = ki.isLive();
    this.liveKeyCount += (isLive ? 1 : 0) - (r.value !== null ? 1 : 0);
    this.revisionCount--;
    this.keptBytes -= this.revisionBytes(r);
  }

  private revisionBytes(r: KeptRevision): number {
    const v = r.value;
    const valueBytes = v === null ? 0 : typeof v === 'number' ? (this.cold as ColdValues).length(v) : v.length;
    return r.key.length + valueBytes + REVISION_OVERHEAD_BYTES;
  }

  // ---- Cold values.

  /**
   * `r` with its value read back from the cold files if it is there. KeyIndex makes a fresh object
   * for every revision it hands out, so the value is set in place.
   */
  private resolve(r: KeptRevision): KeyRevision {
    const v = r.value;
    if (typeof v === 'number') (r as Writable<KeptRevision>).value = (this.cold as ColdValues).read(v);
    return r as KeyRevision;
  }

  /** resolveAll for walks over much of the history: the cold values are read in file order. */
  private resolveMany(revs: KeptRevision[]): KeyRevision[] {
    if (this.cold === undefined) return revs as KeyRevision[];
    const at: number[] = [];
    const handles: number[] = [];
    for (let i = 0; i < revs.length; i++) {
      const v = (revs[i] as KeptRevision).value;
      if (typeof v === 'number') {
        at.push(i);
        handles.push(v);
      }
    }
    const values = this.cold.readMany(handles);
    for (let j = 0; j < at.length; j++) (revs[at[j] as number] as Writable<KeptRevision>).value = values[j] as string;
    return revs as KeyRevision[];
  }

  /** A revision's value, read back from the cold files if it is there; null for a tombstone. */
  private readValue(r: KeptRevision): string | null {
    const v = r.value;
    return typeof v === 'number' ? (this.cold as ColdValues).read(v) : v;
  }

  /** resolve over an array. */
  private resolveAll(revs: KeptRevision[]): KeyRevision[] {
    for (const r of revs) this.resolve(r);
    return revs as KeyRevision[];
  }

  /** Moves the value of the key's revision i to the cold files, if there are any and it is `minBytes` long. */
  private spill(ki: KeyIndex, i: number, minBytes: number): void {
    const v = ki.valueAt(i);
    if (this.cold === undefined || typeof v !== 'string' || v.length < minBytes || this.coldFailure !== undefined) return;
    let value: number;
    try {
      value = this.cold.add(v);
    } catch (err) {
      // A full or failing disk must not fail a write whose data LevelDB already holds.
      this.coldFailure = err as Error;
      return;
    }
    ki.setValue(i, value);
  }

  /**
   * After write `main`: the revisions it superseded on this key (the put that was current before it,
   * and any of its own but the last) go cold, and the last if long enough (see
   * DEFAULT_COLD_CURRENT_MIN_BYTES). Older ones went when they were superseded.
   */
  private spillWritten(ki: KeyIndex, main: number): void {
    const last = ki.length - 1;
    this.spill(ki, last, this.coldCurrentMinBytes);
    for (let i = last - 1; i >= 0; i--) {
      this.spill(ki, i, this.coldMinBytes);
      if (ki.mainAt(i) < main) break;
    }
  }

  private touch(w: Write, ki: KeyIndex): void {
    if (ki.touchedAt !== w.main) {
      ki.touchedAt = w.main;
      w.touched.push(ki);
    }
  }

  /** The revision reads inside a write see: the write's own changes once it has any. */
  private static readRev(w: Write): number {
    return w.sub > 0 ? w.main : w.beginRev;
  }

  /** etcd's applierV3backend.Put inside a write; `lease` is canonical and already checked. */
  private putIn(w: Write, req: PutRequest, lease: string, inTxn: boolean): PutResponse {
    this.ops.puts++;
    this.ops.putBytes += req.key.length + (req.ignoreValue ? 0 : req.value.length);
    const key = toLatin1(req.key);
    let ki = this.index.get(key);
    const prev = ki?.current();
    if ((req.ignoreValue || req.ignoreLease) && prev === undefined) {
      // In a txn the check before it saw the key, so an earlier op of the txn deleted it.
      throw inTxn ? new MvccError('KeyNotFound', DELETED_IN_TXN) : new MvccError('KeyNotFound');
    }
    const prevValue = prev === undefined ? null : this.readValue(prev);
    const value = req.ignoreValue ? (prevValue as string) : toLatin1(req.value);
    const newLease = req.ignoreLease ? (prev as KeyRevision).lease : lease;

    if (ki === undefined) ki = this.index.insert(key);
    const r: KeptRevision = {
      key: ki.key,
      main: w.main,
      sub: w.sub++,
      createRevision: prev !== undefined ? prev.createRevision : w.main,
      version: prev !== undefined ? prev.version + 1 : 1,
      lease: newLease,
      value,
    };
    this.touch(w, ki);
    this.pushRevision(ki, r);
    const data = encodeKeyValue(key, r.createRevision, r.main, r.version, value, newLease);
    w.ops.push({ type: 'put', key: encodeRevisionKey(r.main, r.sub, false), value: data });
    // The event's kv views the record's bytes, and the prevKv shares its key: no copies.
    const kv = viewKeyValue(data, r as KeyRevision);
    if (prev === undefined) {
      w.events.push({ type: 'PUT', kv });
      return { revision: w.main };
    }
    const prevKv: KeyValue = {
      key: kv.key,
      createRevision: prev.createRevision,
      modRevision: prev.main,
      version: prev.version,
      value: prevValue === null || prevValue.length === 0 ? EMPTY : fromLatin1(prevValue),
      lease: prev.lease,
    };
    w.events.push({ type: 'PUT', kv, prevKv });
    return req.prevKv ? { prevKv, revision: w.main } : { revision: w.main };
  }

  /** etcd's applierV3backend.DeleteRange inside a write. */
  private deleteIn(w: Write, req: DeleteRangeRequest): DeleteRangeResponse {
    this.ops.deletes++;
    const doomed: KeyIndex[] = [];
    const key = toLatin1(req.key);
    const end = rangeEndOf(req.rangeEnd);
    if (end === null) {
      const ki = this.index.get(key);
      if (ki?.isLive() === true) doomed.push(ki);
    } else {
      this.index.forRange(key, end, (ki) => {
        if (ki.isLive()) doomed.push(ki);
      });
    }
    const prevKvs: KeyValue[] = [];
    for (const ki of doomed) {
      const prevKv = this.tombstone(w, ki);
      if (req.prevKv) prevKvs.push(prevKv);
    }
    // etcd: a delete of nothing leaves the revision unless the txn already changed something.
    const revision = doomed.length !== 0 || w.sub > 0 ? w.main : w.beginRev;
    return { deleted: doomed.length, prevKvs, revision };
  }

  /** Ends a current key's generation; returns the kv it deleted. */
  private tombstone(w: Write, ki: KeyIndex): KeyValue {
    const prev = this.resolve(ki.current() as KeptRevision);
    const r: KeyRevision = { key: ki.key, main: w.main, sub: w.sub++, createRevision: 0, version: 0, lease: '0', value: null };
    this.touch(w, ki);
    this.pushRevision(ki, r);
    w.ops.push({
      type: 'put',
      key: encodeRevisionKey(r.main, r.sub, true),
      value: encodeKeyValue(ki.key, 0, 0, 0, null, '0'),
    });
    const prevKv = toKeyValue(prev);
    w.events.push({
      type: 'DELETE',
      kv: { key: prevKv.key, createRevision: 0, modRevision: w.main, version: 0, value: EMPTY, lease: '0' },
      prevKv,
    });
    return prevKv;
  }

  // ---- Txn internals. The three walks below visit nested txns in the same order (etcd's txnPath):
  // a txn's own compare result, then its taken branch's nested txns depth first.

  private comparePath(t: TxnRequest, path: boolean[]): void {
    let ok = true;
    for (const c of t.compare) {
      if (!this.applyCompare(c)) {
        ok = false;
        break;
      }
    }
    path.push(ok);
    for (const op of ok ? t.success : t.failure) {
      if ('txn' in op) this.comparePath(op.txn, path);
    }
  }

  /** etcd's applyCompare: every key in the range must satisfy it; no key compares as a zero kv. */
  private applyCompare(c: Compare): boolean {
    const key = toLatin1(c.key);
    const end = rangeEndOf(c.rangeEnd);
    if (end === null) {
      const r = this.index.get(key)?.current();
      if (r === undefined && c.target === 'VALUE') return false;
      return compareKV(c, r === undefined ? undefined : this.resolve(r));
    }
    let any = false;
    let ok = true;
    this.index.forRange(key, end, (ki) => {
      if (!ok) return;
      const r = ki.current();
      if (r === undefined) return;
      any = true;
      ok = compareKV(c, this.resolve(r));
    });
    if (!any) return c.target === 'VALUE' ? false : compareKV(c, undefined);
    return ok;
  }

  /** etcd's checkRequests: first every put on the taken path, then every range. */
  private checkTxn(t: TxnRequest, path: readonly boolean[], cursor: { next: number }): void {
    const start = cursor.next;
    this.walkPath(t, path, cursor, (op) => {
      if ('put' in op) this.checkPut(op.put);
    });
    cursor.next = start;
    this.walkPath(t, path, cursor, (op) => {
      if ('range' in op) this.checkRange(op.range);
    });
  }

  private walkPath(t: TxnRequest, path: readonly boolean[], cursor: { next: number }, f: (op: RequestOp) => void): void {
    const ok = path[cursor.next++] as boolean;
    for (const op of ok ? t.success : t.failure) {
      if ('txn' in op) this.walkPath(op.txn, path, cursor, f);
      else f(op);
    }
  }

  private checkPut(req: PutRequest): void {
    if (req.key.length === 0) throw new MvccError('KeyNotProvided');
    if ((req.ignoreValue || req.ignoreLease) && this.index.get(toLatin1(req.key))?.isLive() !== true) {
      throw new MvccError('KeyNotFound');
    }
    const lease = canonicalLease(req.lease);
    if (lease !== '0' && !this.leaseExists(lease)) throw new MvccError('LeaseNotFound');
  }

  /** etcd's checkRequestRange: only 0 means "current" here; below the compact revision is Compacted. */
  private checkRange(req: RangeRequest): void {
    assertRevision(req.revision, 'range revision');
    if (req.revision === 0) return;
    if (req.revision > this.rev) throw new MvccError('FutureRevision');
    if (req.revision < this.compactRev) throw new MvccError('Compacted');
  }

  private applyTxn(w: Write, t: TxnRequest, path: readonly boolean[], cursor: { next: number }): TxnResponse {
    const succeeded = path[cursor.next++] as boolean;
    const ops = succeeded ? t.success : t.failure;
    const responses: ResponseOp[] = [];
    for (const op of ops) {
      if ('range' in op) responses.push({ range: this.rangeAt(op.range, MvccStore.readRev(w)) });
      else if ('put' in op) responses.push({ put: this.putIn(w, op.put, canonicalLease(op.put.lease), true) });
      else if ('deleteRange' in op) responses.push({ deleteRange: this.deleteIn(w, op.deleteRange) });
      else responses.push({ txn: this.applyTxn(w, op.txn, path, cursor) });
    }
    return { succeeded, responses, revision: 0 };
  }

  // ---- Hash, snapshots, persistence.

  /**
   * etcd 3.4's HashByRev: CRC-32C of "key" then every kept record (etcd's revision key and KeyValue
   * bytes) up to `revision` in revision order, leaving out records at or below the compact revision
   * unless the key's put at `revision` is that record. Identical histories give identical hashes,
   * here and in etcd. 0 hashes at the current revision.
   */
  hashKV(revision: number): HashKVResult {
    assertRevision(revision, 'hash revision');
    if (revision > 0 && revision <= this.compactRev) throw new MvccError('Compacted');
    if (revision > 0 && revision > this.rev) throw new MvccError('FutureRevision');
    const rev = revision === 0 ? this.rev : revision;

    let anyKept = false;
    this.index.forEach((ki) => {
      if (!anyKept && ki.indexAt(rev) >= 0) anyKept = true;
    });
    const picked: KeptRevision[] = [];
    this.index.forEach((ki) => {
      const kept = ki.indexAt(rev);
      for (let i = 0; i < ki.length && ki.mainAt(i) <= rev; i++) {
        if (ki.mainAt(i) <= this.compactRev && anyKept && i !== kept) continue;
        picked.push(ki.revisionAt(i));
      }
    });
    picked.sort((a, b) => a.main - b.main || a.sub - b.sub);
    const h = new Crc32c().update(Buffer.from('key', 'latin1'));
    for (const r of this.resolveMany(picked)) {
      h.update(encodeRevisionKey(r.main, r.sub, r.value === null).subarray(REVISION_PREFIX.length));
      h.update(encodeRecordValue(r));
    }
    return { hash: h.digest(), compactRevision: this.compactRev, hashRevision: rev };
  }

  /**
   * The whole state (every kept revision, current and compact revision) as bytes; with `reserve`,
   * at [before, length - after) of the buffer returned (see encodeSnapshotOfRevisions).
   */
  exportSnapshot(reserve?: Reserve): Buffer {
    const all: KeptRevision[] = [];
    this.index.forEach((ki) => {
      for (let i = 0; i < ki.length; i++) all.push(ki.revisionAt(i));
    });
    return encodeSnapshotOfRevisions(this.rev, this.compactRev, all, this.cold, reserve);
  }

  /** The store a snapshot describes, and the batch that persists it into an empty 'm' keyspace. */
  static importSnapshot(data: Buffer, opts: MvccStoreOptions = {}): { store: MvccStore; ops: StorageOp[] } {
    const snapshot = decodeSnapshot(data);
    const store = MvccStore.load(snapshot.records, opts);
    if (store.rev !== snapshot.currentRevision || store.compactRev !== snapshot.compactRevision) {
      throw new MvccError(
        'Corrupt',
        `mvcc: snapshot says revision ${snapshot.currentRevision} compacted at ${snapshot.compactRevision}, ` +
          `its records give ${store.rev} and ${store.compactRev}`,
      );
    }
    const ops: StorageOp[] = snapshot.records.map(([key, value]) => ({ type: 'put', key, value }));
    return { store, ops };
  }

  /**
   * Rebuilds a store from the records its writes emitted (all keys under 'm', in LevelDB key order;
   * what matters is that each key's revisions come oldest first). The current revision is the
   * newest record's, or the compact revision if compaction removed that record.
   */
  static load(records: Iterable<[Buffer, Buffer]>, opts: MvccStoreOptions = {}): MvccStore {
    const loader = MvccStore.loader(opts);
    for (const [key, value] of records) loader.add(key, value);
    return loader.finish();
  }

  /**
   * load, one record at a time: recovery feeds it straight from LevelDB batches, so the records
   * never sit in memory all at once. `finish` once, after the last record.
   */
  static loader(opts: MvccStoreOptions = {}): MvccLoader {
    const store = new MvccStore(opts);
    let newest = 0;
    const add = (key: Buffer, value: Buffer): void => {
      if (key.equals(COMPACT_REVISION_KEY)) {
        store.compactRev = decodeCompactRevision(value);
        return;
      }
      const rk = decodeRevisionKey(key);
      const kv = decodeKeyValue(value);
      if (kv.key.length === 0) throw new MvccError('Corrupt', `mvcc: record ${rk.main}/${rk.sub} has no key`);
      const ki = store.index.get(kv.key) ?? store.index.insert(kv.key);
      const n = ki.length;
      // Records come oldest first: the one before this is superseded now.
      if (n > 0) store.spill(ki, n - 1, store.coldMinBytes);
      if (n > 0 && (ki.mainAt(n - 1) > rk.main || (ki.mainAt(n - 1) === rk.main && ki.subAt(n - 1) >= rk.sub))) {
        throw new MvccError('Corrupt', `mvcc: records of a key out of revision order at ${rk.main}/${rk.sub}`);
      }
      if (!rk.tombstone && kv.modRevision !== rk.main) {
        throw new MvccError('Corrupt', `mvcc: record ${rk.main}/${rk.sub} has mod revision ${kv.modRevision}`);
      }
      store.pushRevision(
        ki,
        rk.tombstone
          ? { key: ki.key, main: rk.main, sub: rk.sub, createRevision: 0, version: 0, lease: '0', value: null }
          : {
              key: ki.key,
              main: rk.main,
              sub: rk.sub,
              createRevision: kv.createRevision,
              version: kv.version,
              lease: canonicalLease(kv.lease),
              value: kv.value,
            },
      );
      store.spill(ki, ki.length - 1, store.coldCurrentMinBytes);
      if (rk.main > newest) newest = rk.main;
    };
    const finish = (): MvccStore => {
      store.rev = Math.max(1, newest, store.compactRev);
      store.index.forEach((ki) => {
        const lease = ki.currentLease();
        if (lease !== '0') store.attachLease(lease, ki.key);
      });
      return store;
    };
    return { add, finish };
  }

  stats(): MvccStats {
    return { keys: this.liveKeyCount, revisions: this.revisionCount, approximateBytes: this.keptBytes };
  }
}

/** Builds a store from its records (see MvccStore.loader). */
export interface MvccLoader {
  add(key: Buffer, value: Buffer): void;
  finish(): MvccStore;
}

/** The KeyValue bytes etcd stores for a revision. */
function encodeRecordValue(r: KeyRevision): Buffer {
  return encodeKeyValue(r.key, r.createRevision, r.main, r.version, r.value, r.lease);
}

/** etcd's compareKV; `r` undefined compares as the zero KeyValue. */
function compareKV(c: Compare, r: KeyRevision | undefined): boolean {
  let result: number;
  switch (c.target) {
    case 'VALUE':
      result = compareStrings(r?.value ?? '', toLatin1(c.value));
      break;
    case 'CREATE':
      result = compareNumbers(r?.createRevision ?? 0, c.createRevision);
      break;
    case 'MOD':
      result = compareNumbers(r?.main ?? 0, c.modRevision);
      break;
    case 'VERSION':
      result = compareNumbers(r?.version ?? 0, c.version);
      break;
    case 'LEASE':
      result = compareLease(r?.lease ?? '0', canonicalLease(c.lease));
      break;
    default:
      result = 0;
  }
  switch (c.result) {
    case 'EQUAL':
      return result === 0;
    case 'NOT_EQUAL':
      return result !== 0;
    case 'GREATER':
      return result > 0;
    case 'LESS':
      return result < 0;
    default:
      return true;
  }
}
export { checkTxnDuplicateKeys } from './txn-check.js';
