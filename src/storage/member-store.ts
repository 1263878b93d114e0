import { access, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

import { Level } from 'level';

import { type Entry, EntryType, type HardState, NONE, type SnapshotMetadata } from '../raft/types.js';
import {
  decodeApplied,
  decodeEntry,
  decodeHardState,
  decodeMeta,
  decodeSnapshotMetadata,
  encodeApplied,
  encodeHardState,
  encodeMeta,
  encodeSnapshotMetadata,
  openAppValue,
  RecordError,
  sealAppValue,
} from './codec.js';
import {
  APPLIED_KEY,
  assertAppKey,
  assertIndex,
  ENTRY_PREFIX,
  entryKey,
  FLUSH_KEY,
  HARD_STATE_KEY,
  metaKey,
  prefixEnd,
  SNAPSHOT_KEY,
  WAL_RESET_KEY,
} from './keys.js';
import { fsyncDir, RaftWal, WalDamage, type WalContents } from './raft-wal.js';
import { SerialLane } from './serial-lane.js';
import { StorageError, StorageErrorCode } from './storage-error.js';
import { scanBatches } from './batched-scan.js';

export type StorageOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

export interface Recovered {
  /** {term: 0, vote: '', commit: 0} when new. */
  hardState: HardState;
  /** The newest raft snapshot's metadata; its data is the app records (applied >= snapshot.index). */
  snapshot?: SnapshotMetadata;
  /** Raft entries after snapshot.index: contiguous, CRC-checked, terms non-decreasing. */
  entries: Entry[];
  /** Applied index stored atomically with the app records. */
  applied: number;
}

/** The raft part of a Ready. */
export interface RaftWrite {
  hardState?: HardState;
  entries: readonly Entry[];
  snapshot?: SnapshotMetadata;
}

/** The subset of a pino logger the store uses. */
export interface StorageLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

type Db = Level<Buffer, Buffer>;

/** Readies merged into one batch by saveReady. */
interface PendingReady {
  hardState?: HardState;
  entries: Entry[];
  ops: StorageOp[];
  applied?: number;
  /** A term or vote changed: the LevelDB batch is fsynced too (entries always are, in the WAL). */
  syncHardState: boolean;
  /** The lanes' job counts right after this batch was queued: it can take more only while unchanged. */
  raftQueued: number;
  appQueued: number;
  done: Promise<void>;
}
type BatchOp = StorageOp;

interface RaftPlan {
  ops: BatchOp[];
  entries: readonly Entry[];
  /** A snapshot empties the WAL: no entry at or below this index remains. */
  reset: number | undefined;
  commit: () => void;
}

/** classic-level has compactRange; the `level` typings (shared with browsers) do not declare it. */
interface RangeCompactor {
  compactRange(start: Buffer, end: Buffer): Promise<void>;
}

const NEW_HARD_STATE: HardState = { term: 0, vote: NONE, commit: 0 };
const ENTRY_END = prefixEnd(ENTRY_PREFIX) as Buffer;
/** Legacy entries deleted from LevelDB per batch once moved to the WAL. */
const ENTRY_DELETE_CHUNK = 4096;
/** Upper bound for a whole-database compaction; app keys sorting above it are not compacted. */
const COMPACT_ALL_END = Buffer.alloc(64, 0xff);

const silentLogger: StorageLogger = { info() {}, warn() {}, error() {} };

/**
 * The durable store of one member: the raft log in a write-ahead log of its own (src/storage/raft-wal.ts,
 * <data-dir>/member/wal), and one LevelDB database (<data-dir>/member/db) holding the hard state,
 * snapshot metadata, the app records (each sealed with a CRC) and the applied index. Raft writes are
 * fsynced before their promise resolves; apply batches need not be, because the log replays them,
 * until saveSnapshot drops that log (it makes the app state durable first). A write that has both
 * puts its entries in the WAL first and its LevelDB batch after, so neither a commit index nor app
 * state reaches the disk ahead of the entries it covers.
 *
 * Writes go through two lanes so each lands in the order it was issued: the raft lane (saveRaft,
 * saveSnapshot, recover) and the app lane (applyBatch, replaceApp, setMeta). The lanes run side by
 * side, as etcd persists and applies concurrently; jobs that touch both hold both.
 */
export class MemberStore {
  private readonly raftLane = new SerialLane();
  private readonly appLane = new SerialLane();
  private readonly background = new Set<Promise<unknown>>();
  private closed = false;
  /** Set when a LevelDB write failed: the in-memory bounds may no longer match the disk. */
  private failure: StorageError | undefined;

  // Raft-lane state: the snapshot index, and the last entry on disk (undefined when there is none
  // above the snapshot, as far as the store knows).
  private snapIndex: number;
  private lastEntry: number | undefined;
  /** Term and vote of the newest hard state issued (every write changing them is fsynced). */
  private hardTerm = -1;
  private hardVote: string | undefined;

  /** What the WAL held at open, for recover(); dropped once used or once a raft write makes it stale. */
  private walContents: WalContents | undefined;

  /** Readies queued for one batch whose write has not started (saveReady merges into it). */
  private pendingReady: PendingReady | undefined;

  /** Applied index of the newest app write issued (call time), and of the newest one finished. */
  private appliedIssued: number;
  private appliedWritten: number;

  private constructor(
    private readonly db: Db,
    private readonly wal: RaftWal,
    walContents: WalContents,
    readonly dataDir: string,
    private readonly dbDir: string,
    private readonly log: StorageLogger,
    /** True if nothing was on disk when the store was opened. */
    readonly isNew: boolean,
    applied: number,
    snapIndex: number,
  ) {
    this.walContents = walContents;
    const bounds = walContents.entries;
    this.appliedIssued = applied;
    this.appliedWritten = applied;
    this.snapIndex = snapIndex;
    this.lastEntry = bounds[bounds.length - 1]?.index;
  }

  /** Opens (creating if needed) <dataDir>/member/db and member/wal. Fails with StorageLocked if it is in use. */
  static async open(dataDir: string, opts: { logger?: StorageLogger; walSegmentBytes?: number } = {}): Promise<MemberStore> {
    const dbDir = path.join(dataDir, 'member', 'db');
    await mkdir(dbDir, { recursive: true });
    const db: Db = new Level<Buffer, Buffer>(dbDir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    try {
      await db.open();
    } catch (err) {
      throw openError(err, dataDir, dbDir);
    }
    try {
      await refuseSilentLogDrops(dataDir, dbDir);
      // LevelDB fsyncs its own directory only for the MANIFEST; make the path to it durable too, so
      // a power cut cannot make a member that already voted come back as a brand-new one.
      for (const d of [dbDir, path.dirname(dbDir), dataDir]) await fsyncDir(d);
      const logger = opts.logger ?? silentLogger;
      const walDir = path.join(dataDir, 'member', 'wal');
      await moveLegacyEntries(db, walDir, dataDir, logger);
      let isNew = true;
      for await (const _ of db.keys({ limit: 1 })) isNew = false;
      const applied = (await readRecord(db, APPLIED_KEY, decodeApplied, 'applied index', dataDir)) ?? 0;
      const snapshot = await readRecord(db, SNAPSHOT_KEY, decodeSnapshotMetadata, 'snapshot metadata', dataDir);
      const snapIndex = snapshot?.index ?? 0;
      const walOpts = opts.walSegmentBytes === undefined ? { logger } : { logger, segmentBytes: opts.walSegmentBytes };
      const { wal, contents } = await RaftWal.open(walDir, walOpts).catch(async (err: unknown) => {
        if (!(err instanceof WalDamage)) throw err instanceof StorageError ? err : openError(err, dataDir, walDir);
        const hs = await readRecord(db, HARD_STATE_KEY, decodeHardState, 'hard state', dataDir);
        throw corruptLogError(dataDir, err.index, hs?.commit ?? 0, err.detail);
      });
      if (contents.entries.length > 0) isNew = false;
      return new MemberStore(db, wal, contents, dataDir, dbDir, logger, isNew, applied, snapIndex);
    } catch (err) {
      await db.close();
      throw err instanceof StorageError ? err : openError(err, dataDir, dbDir);
    }
  }

  /**
   * Reads and verifies everything raft needs to restart. Any bad entry, hard state or snapshot record
   * is fatal: the WAL cuts off only a write torn by a crash (never acknowledged), and an entry above
   * the commit index may already have been acknowledged to the leader and counted towards a commit,
   * so losing it could lose an acknowledged write (etcd likewise refuses a WAL whose CRC fails before
   * its last record). It must come before the first raft write (a brand-new member need not call it).
   */
  async recover(): Promise<Recovered> {
    this.assertUsable();
    return this.raftLane.run(() => this.appLane.run(() => this.recoverNow()));
  }

  private async recoverNow(): Promise<Recovered> {
    const contents = this.walContents;
    if (contents === undefined) throw invalid('recover() must come before the first raft write');
    this.walContents = undefined;
    const hardState =
      (await readRecord(this.db, HARD_STATE_KEY, decodeHardState, 'hard state', this.dataDir)) ?? NEW_HARD_STATE;
    const snapshot = await readRecord(this.db, SNAPSHOT_KEY, decodeSnapshotMetadata, 'snapshot metadata', this.dataDir);
    const walReset = (await readRecord(this.db, WAL_RESET_KEY, decodeApplied, 'WAL reset', this.dataDir)) ?? 0;
    const applied = this.appliedWritten;
    const base = snapshot?.index ?? 0;
    if (applied < base) {
      throw new StorageError(
        StorageErrorCode.AppBehindSnapshot,
        `data dir ${this.dataDir}: app state is at applied index ${applied} but the raft snapshot is at ${base} ` +
          'and the log before it is gone; restore this member from a snapshot',
      );
    }

    let logged = contents.entries;
    if (contents.resetIndex < walReset) {
      // A crash came between recording an installed snapshot and emptying the WAL: what the WAL
      // holds predates the snapshot (and may conflict with the log after it). Finish the reset.
      logged = [];
      await this.walWrite(() => this.wal.reset(walReset));
    }
    const entries: Entry[] = [];
    let expected = base + 1;
    let prevTerm = snapshot?.term ?? 0;
    for (const e of logged) {
      if (e.index < expected) continue; // at or below the snapshot: compacted, never read again
      if (e.index !== expected) {
        throw this.corruptLog(expected, hardState.commit, `entry ${expected} is missing (the next one in the WAL is ${e.index})`);
      }
      if (e.term < prevTerm) {
        throw this.corruptLog(e.index, hardState.commit, `entry ${e.index} has term ${e.term}, lower than ${prevTerm} before it`);
      }
      entries.push(e);
      prevTerm = e.term;
      expected++;
    }
    const lastIndex = expected - 1;
    if (hardState.commit > lastIndex) {
      throw this.corruptLog(lastIndex + 1, hardState.commit, `the log ends at ${lastIndex}`);
    }

    this.snapIndex = base;
    this.hardTerm = hardState.term;
    this.hardVote = hardState.vote;
    this.lastEntry = entries.length > 0 ? lastIndex : undefined;
    this.log.info(
      { dataDir: this.dataDir, term: hardState.term, commit: hardState.commit, snapshotIndex: base, lastIndex, applied },
      'recovered member store',
    );
    const out: Recovered = { hardState, entries, applied };
    if (snapshot !== undefined) out.snapshot = snapshot;
    return out;
  }

  /** App records whose key starts with prefix, in key order, from a consistent LevelDB snapshot. */
  async *appRecords(prefix: Buffer): AsyncIterable<[Buffer, Buffer]> {
    assertAppKey(prefix, 'app prefix');
    this.assertUsable();
    const end = prefixEnd(prefix);
    const range = end === undefined ? { gte: prefix } : { gte: prefix, lt: end };
    for await (const batch of scanBatches(this.db, range)) yield* this.openAppRecords(batch);
  }

  /** As appRecords, a batch at a time (much cheaper per record for whole keyspaces). */
  async *appRecordBatches(prefix: Buffer): AsyncIterable<Array<[Buffer, Buffer]>> {
    assertAppKey(prefix, 'app prefix');
    this.assertUsable();
    const end = prefixEnd(prefix);
    for await (const batch of scanBatches(this.db, end === undefined ? { gte: prefix } : { gte: prefix, lt: end })) {
      yield this.openAppRecords(batch);
    }
  }

  /** Strips each record's CRC in place; a record that fails it is damage, never data to serve. */
  private openAppRecords(batch: Array<[Buffer, Buffer]>): Array<[Buffer, Buffer]> {
    for (const record of batch) {
      try {
        record[1] = openAppValue(record[0], record[1]);
      } catch (err) {
        if (!(err instanceof RecordError)) throw err;
        throw new StorageError(
          StorageErrorCode.CorruptRecord,
          `data dir ${this.dataDir}: app record ${JSON.stringify(record[0].toString('latin1'))}: ${err.message}; ` +
            'the data dir is damaged (or was written by a Ketch whose app records had no CRC): ' +
            'remove this member and add it back with an empty data dir, or restore it from a snapshot',
        );
      }
    }
    return batch;
  }

  /**
   * Persists a Ready's raft part in one fsynced batch. A snapshot replaces the whole log (as
   * RaftLog.restore does in memory); entries then overwrite any suffix from their first index on.
   */
  async saveRaft(r: RaftWrite): Promise<void> {
    this.assertUsable();
    validateRaftWrite(r);
    if (r.hardState === undefined && r.entries.length === 0 && r.snapshot === undefined) return;
    this.noteHardState(r.hardState);
    this.walContents = undefined;
    return this.raftLane.run(async () => {
      const plan = this.planRaft(r);
      await this.persist(plan, plan.ops, true);
    });
  }

  /**
   * Persists one Ready: its entries in the WAL (fdatasynced), then one LevelDB batch with its hard
   * state, the app records of the committed entries applied with it and the applied index. The
   * LevelDB batch starts only once the entries are on disk, so the app state never reaches the disk
   * ahead of the log entries it came from (the entries applied may be in this very Ready). Readies
   * issued while an earlier write runs are merged into one write (group commit), in issue order,
   * unless another write was issued in between.
   *
   * The LevelDB batch is fsynced only for a new term or vote (as etcd-io/raft's MustSync). A hard
   * state whose commit alone moved needs no fsync: commit is recoverable from the quorum, and it is
   * written after the entries below it are synced.
   */
  async saveReady(r: RaftWrite, app: { ops: readonly StorageOp[]; applied: number } | undefined): Promise<void> {
    this.assertUsable();
    validateRaftWrite(r);
    if (r.snapshot !== undefined) throw invalid('saveReady does not take a snapshot; use installSnapshot');
    if (app !== undefined) {
      validateAppOps(app.ops);
      assertIndex(app.applied, 'applied');
      if (app.applied < this.appliedIssued) {
        throw invalid(`applied ${app.applied} is below the applied index ${this.appliedIssued} already written`);
      }
    }
    // Nothing to write: still resolve only after the writes before it, whose entries the caller's
    // acks may promise (a resent append acknowledges entries an earlier write is still syncing).
    if (app === undefined && r.hardState === undefined && r.entries.length === 0) return this.raftLane.drain();
    let p = this.pendingReady;
    if (p !== undefined && (p.raftQueued !== this.raftLane.queued || p.appQueued !== this.appLane.queued)) p = undefined;
    const first = r.entries[0];
    if (p !== undefined && first !== undefined) {
      const last = p.entries[p.entries.length - 1];
      if (last !== undefined && first.index > last.index + 1) {
        throw invalid(`entry ${first.index} leaves a gap after ${last.index}`);
      }
    }
    // Checked, so the write below cannot be refused: now record what it changes.
    const syncHardState = this.hardStateNeedsSync(r.hardState);
    this.noteHardState(r.hardState);
    if (r.entries.length > 0 || r.hardState !== undefined) this.walContents = undefined;
    if (app !== undefined) this.appliedIssued = app.applied;
    if (p === undefined) p = this.queueReady();
    if (first !== undefined) {
      // Later entries replace an earlier Ready's from their first index on, as on disk.
      while (p.entries.length > 0 && (p.entries[p.entries.length - 1] as Entry).index >= first.index) p.entries.pop();
      for (const e of r.entries) p.entries.push(e);
    }
    if (r.hardState !== undefined) p.hardState = r.hardState;
    if (app !== undefined) {
      for (const op of app.ops) p.ops.push(sealAppOp(op));
      p.applied = app.applied;
    }
    p.syncHardState ||= syncHardState;
    return p.done;
  }

  /** A new group-commit batch at the end of both lanes. */
  private queueReady(): PendingReady {
    const p: PendingReady = { entries: [], ops: [], syncHardState: false, raftQueued: 0, appQueued: 0, done: Promise.resolve() };
    p.done = this.raftLane.run(() =>
      this.appLane.run(async () => {
        if (this.pendingReady === p) this.pendingReady = undefined;
        const plan = this.planRaft({ hardState: p.hardState, entries: p.entries });
        for (const op of p.ops) plan.ops.push(op);
        if (p.applied !== undefined) plan.ops.push({ type: 'put', key: APPLIED_KEY, value: encodeApplied(p.applied) });
        await this.persist(plan, plan.ops, p.syncHardState);
        if (p.applied !== undefined) this.appliedWritten = p.applied;
      }),
    );
    p.raftQueued = this.raftLane.queued;
    p.appQueued = this.appLane.queued;
    this.pendingReady = p;
    return p;
  }

  /**
   * Whether saveReady(r) fsyncs: r has entries or a snapshot, or a term or vote other than the last
   * hard state issued. A caller may skip waiting for a write that does not (acks sent meanwhile
   * promise only what earlier fsynced writes hold).
   */
  readyNeedsSync(r: RaftWrite): boolean {
    return r.entries.length > 0 || r.snapshot !== undefined || this.hardStateNeedsSync(r.hardState);
  }

  private hardStateNeedsSync(hs: HardState | undefined): boolean {
    return hs !== undefined && (hs.term !== this.hardTerm || hs.vote !== this.hardVote);
  }

  private noteHardState(hs: HardState | undefined): void {
    if (hs === undefined) return;
    this.hardTerm = hs.term;
    this.hardVote = hs.vote;
  }

  /**
   * Installs a leader's snapshot atomically: the raft part of the Ready (as saveRaft) plus all app
   * records under `prefixes` replaced by `ops`, with `applied` (>= snapshot.index: the leader may
   * export state newer than the snapshot's index), in one fsynced LevelDB batch, then the WAL
   * emptied. saveRaft followed by replaceApp would leave a window where a crash finds the snapshot
   * recorded, the log before it gone, and the app state still old (recover() then fails with
   * StorageAppBehindSnapshot). A crash before the WAL is emptied is finished by recover() (the batch
   * records the reset it owes).
   */
  async installSnapshot(
    r: RaftWrite & { snapshot: SnapshotMetadata },
    app: { prefixes: Buffer[]; ops: readonly StorageOp[]; applied: number },
  ): Promise<void> {
    this.assertUsable();
    validateRaftWrite(r);
    for (const p of app.prefixes) assertAppKey(p, 'app prefix');
    validateAppOps(app.ops);
    assertIndex(app.applied, 'applied');
    if (app.applied < r.snapshot.index) {
      throw invalid(`applied ${app.applied} is below the snapshot index ${r.snapshot.index}`);
    }
    this.appliedIssued = app.applied;
    this.noteHardState(r.hardState);
    this.walContents = undefined;
    return this.raftLane.run(() =>
      this.appLane.run(async () => {
        const plan = this.planRaft(r);
        const ops = [...plan.ops, ...(await this.replaceOps(app.prefixes, app.ops, app.applied))];
        await this.persist(plan, ops, true);
        this.appliedWritten = app.applied;
      }),
    );
  }

  /** Apply app records plus the new applied index in one batch (not fsynced unless asked). */
  async applyBatch(ops: readonly StorageOp[], applied: number, opts: { sync?: boolean } = {}): Promise<void> {
    this.assertUsable();
    validateAppOps(ops);
    assertIndex(applied, 'applied');
    if (applied < this.appliedIssued) {
      throw invalid(`applied ${applied} is below the applied index ${this.appliedIssued} already written`);
    }
    this.appliedIssued = applied;
    const batch: BatchOp[] = [...ops.map(sealAppOp), { type: 'put', key: APPLIED_KEY, value: encodeApplied(applied) }];
    return this.appLane.run(async () => {
      await this.write(batch, opts.sync ?? false);
      this.appliedWritten = applied;
    });
  }

  /** Replaces all app records under `prefixes` by `ops` and sets applied, in one fsynced batch. */
  async replaceApp(prefixes: Buffer[], ops: readonly StorageOp[], applied: number): Promise<void> {
    this.assertUsable();
    for (const p of prefixes) assertAppKey(p, 'app prefix');
    validateAppOps(ops);
    assertIndex(applied, 'applied');
    this.appliedIssued = applied;
    return this.appLane.run(async () => {
      await this.write(await this.replaceOps(prefixes, ops, applied), true);
      this.appliedWritten = applied;
    });
  }

  /**
   * Records a snapshot the app took of its own state and drops entries <= compactTo. The app state
   * is made durable first: a sync write plus a memtable flush, because LevelDB 1.20 does not fsync a
   * write-ahead log file when it switches to a new one, so a sync write alone covers only the
   * current file.
   */
  async saveSnapshot(meta: SnapshotMetadata, compactTo: number): Promise<void> {
    this.assertUsable();
    validateSnapshotMetadata(meta);
    assertIndex(compactTo, 'compactTo');
    if (compactTo > meta.index) {
      throw invalid(`compactTo ${compactTo} is beyond the snapshot index ${meta.index}`);
    }
    if (meta.index > this.appliedIssued) {
      throw invalid(`snapshot index ${meta.index} is beyond the applied index ${this.appliedIssued}`);
    }
    return this.raftLane.run(async () => {
      if (meta.index < this.snapIndex) {
        throw invalid(`snapshot ${meta.index} is older than the one on disk (${this.snapIndex})`);
      }
      await this.appLane.run(() => this.makeAppDurable());
      await this.write([{ type: 'put', key: SNAPSHOT_KEY, value: encodeSnapshotMetadata(meta) }], true);
      this.snapIndex = meta.index;
      await this.walWrite(() => this.wal.dropThrough(compactTo));
    });
  }

  async getMeta(key: string): Promise<Buffer | undefined> {
    this.assertUsable();
    const value = await this.db.get(metaKey(key));
    return value === undefined ? undefined : decodeRecord(value, decodeMeta, `meta ${key}`, this.dataDir);
  }

  /** Small server metadata; fsynced unless told otherwise (a member's identity must survive a crash). */
  async setMeta(key: string, value: Buffer, opts: { sync?: boolean } = {}): Promise<void> {
    this.assertUsable();
    const op: BatchOp = { type: 'put', key: metaKey(key), value: encodeMeta(value) };
    return this.appLane.run(() => this.write([op], opts.sync ?? true));
  }

  /** Sum of the files in the database directory (for Status dbSize and the quota). */
  async approximateSizeBytes(): Promise<number> {
    this.assertUsable();
    const sizes = await Promise.all(
      (await readdir(this.dbDir)).map(async (name) => {
        try {
          return (await stat(path.join(this.dbDir, name))).size;
        } catch (err) {
          // LevelDB deletes obsolete files while compacting.
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          return 0;
        }
      }),
    );
    return sizes.reduce((a, b) => a + b, 0);
  }

  /** Compacts the whole key range (defrag). Writes keep flowing meanwhile. */
  async compact(): Promise<void> {
    this.assertUsable();
    const compactor = this.compactor();
    if (compactor === undefined) return;
    return this.track(compactor.compactRange(Buffer.alloc(0), COMPACT_ALL_END));
  }

  /** Waits for every write already issued, then closes LevelDB. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([this.raftLane.drain(), this.appLane.drain(), ...this.background]);
    await this.wal.close();
    await this.db.close();
  }

  // ---- internals --------------------------------------------------------------------------------

  /** A raft write: its LevelDB ops, its WAL part, and the bounds update to make once it is on disk. */
  private planRaft(r: RaftWrite): RaftPlan {
    const ops: BatchOp[] = [];
    let snapIndex = this.snapIndex;
    let last = this.lastEntry;
    let reset: number | undefined;
    if (r.snapshot !== undefined) {
      if (r.snapshot.index < this.snapIndex) {
        throw invalid(`snapshot ${r.snapshot.index} is older than the one on disk (${this.snapIndex})`);
      }
      ops.push({ type: 'put', key: SNAPSHOT_KEY, value: encodeSnapshotMetadata(r.snapshot) });
      ops.push({ type: 'put', key: WAL_RESET_KEY, value: encodeApplied(r.snapshot.index) });
      reset = r.snapshot.index;
      snapIndex = r.snapshot.index;
      last = undefined;
    }
    if (r.entries.length > 0) {
      const lo = (r.entries[0] as Entry).index;
      if (lo <= snapIndex) {
        throw invalid(`entry ${lo} is at or below the snapshot index ${snapIndex}`);
      }
      const end = Math.max(last ?? 0, snapIndex);
      if (lo > end + 1) throw invalid(`entry ${lo} leaves a gap after ${end}`);
      // Entries from lo on replace the ones on disk (the WAL keeps the suffix rule on replay).
      last = (r.entries[r.entries.length - 1] as Entry).index;
    }
    if (r.hardState !== undefined) ops.push({ type: 'put', key: HARD_STATE_KEY, value: encodeHardState(r.hardState) });
    return {
      ops,
      entries: r.entries,
      reset,
      commit: () => {
        this.snapIndex = snapIndex;
        this.lastEntry = last;
      },
    };
  }

  /**
   * Writes a plan. A snapshot's LevelDB batch (with `ops`) goes first and fsynced, then the WAL is
   * emptied and gets the entries after it; otherwise the entries go to the WAL first and `ops` after
   * them, fsynced if `syncOps`.
   */
  private async persist(plan: RaftPlan, ops: BatchOp[], syncOps: boolean): Promise<void> {
    const reset = plan.reset;
    if (reset !== undefined) {
      await this.write(ops, true);
      await this.walWrite(() => this.wal.reset(reset));
      await this.walWrite(() => this.wal.append(plan.entries));
    } else {
      await this.walWrite(() => this.wal.append(plan.entries));
      await this.write(ops, syncOps);
    }
    plan.commit();
  }

  private async walWrite(job: () => Promise<void>): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    try {
      await job();
    } catch (err) {
      if (err instanceof StorageError) throw err;
      const message = `data dir ${this.dataDir}: raft WAL write failed: ${(err as Error).message}`;
      this.failure = new StorageError(StorageErrorCode.Failed, message, { cause: err });
      this.log.error({ dataDir: this.dataDir, err }, 'raft WAL write failed; refusing further writes');
      throw this.failure;
    }
  }

  private async replaceOps(prefixes: Buffer[], ops: readonly StorageOp[], applied: number): Promise<BatchOp[]> {
    const out: BatchOp[] = [];
    for (const prefix of prefixes) {
      const end = prefixEnd(prefix);
      const range = end === undefined ? { gte: prefix } : { gte: prefix, lt: end };
      for await (const key of this.db.keys(range)) out.push({ type: 'del', key });
    }
    // Deletes come first, so a put of a key that also existed before wins.
    for (const op of ops) out.push(sealAppOp(op));
    out.push({ type: 'put', key: APPLIED_KEY, value: encodeApplied(applied) });
    return out;
  }

  /** Runs on the app lane, so every app write issued before it is in LevelDB. */
  private async makeAppDurable(): Promise<void> {
    await this.write([{ type: 'put', key: APPLIED_KEY, value: encodeApplied(this.appliedWritten) }], true);
    const compactor = this.compactor();
    // An empty range: LevelDB flushes the memtable to an fsynced table and compacts nothing else.
    if (compactor !== undefined) await compactor.compactRange(FLUSH_KEY, FLUSH_KEY);
  }

  private async write(ops: BatchOp[], sync: boolean): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (ops.length === 0) return;
    try {
      // A chained batch: abstract-level's array form costs ~4x more CPU per op (measured).
      const batch = this.db.batch();
      for (const op of ops) {
        if (op.type === 'put') batch.put(op.key, op.value);
        else batch.del(op.key);
      }
      await batch.write({ sync });
    } catch (err) {
      const message = `data dir ${this.dataDir}: write failed: ${(err as Error).message}`;
      this.failure = new StorageError(StorageErrorCode.Failed, message, { cause: err });
      this.log.error({ dataDir: this.dataDir, err }, 'member store write failed; refusing further writes');
      throw this.failure;
    }
  }

  private compactor(): RangeCompactor | undefined {
    const c = this.db as unknown as Partial<RangeCompactor>;
    return typeof c.compactRange === 'function' ? (this.db as unknown as RangeCompactor) : undefined;
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.background.add(p);
    const forget = (): void => {
      this.background.delete(p);
    };
    p.then(forget, forget);
    return p;
  }

  private assertUsable(): void {
    if (this.closed) throw new StorageError(StorageErrorCode.Closed, `member store at ${this.dataDir} is closed`);
    if (this.failure !== undefined) throw this.failure;
  }

  private corruptLog(index: number, commit: number, reason: string): StorageError {
    return corruptLogError(this.dataDir, index, commit, reason);
  }
}

function corruptLogError(dataDir: string, index: number, commit: number, reason: string): StorageError {
  return new StorageError(
    StorageErrorCode.CorruptLog,
    `data dir ${dataDir}: ${index <= commit ? 'committed' : 'possibly acknowledged'} raft log entry ${index} ` +
      `(commit is ${commit}) is missing or corrupt: ${reason}. ` +
      'Refusing to start; restore this member from a snapshot, or remove it from the cluster and add it back empty.',
  );
}

/**
 * Data dirs from before the raft WAL kept the log in LevelDB (r/e/<index>): the first open moves it
 * into the WAL, built aside and renamed into place, then deletes it from LevelDB. A crash in
 * between repeats the move (no WAL yet) or only the deletion (the WAL is there).
 */
async function moveLegacyEntries(db: Db, walDir: string, dataDir: string, log: StorageLogger): Promise<void> {
  let any = false;
  for await (const _ of db.keys({ gte: ENTRY_PREFIX, lt: ENTRY_END, limit: 1 })) any = true;
  if (!any) return;
  const walExists = await access(walDir).then(
    () => true,
    () => false,
  );
  if (!walExists) {
    const snapshot = await readRecord(db, SNAPSHOT_KEY, decodeSnapshotMetadata, 'snapshot metadata', dataDir);
    const aside = `${walDir}.moving`;
    await rm(aside, { recursive: true, force: true });
    const { wal } = await RaftWal.open(aside);
    let moved = 0;
    try {
      for await (const batch of scanBatches(db, { gte: entryKey((snapshot?.index ?? 0) + 1), lt: ENTRY_END })) {
        const entries = batch.map(([key, value]) => {
          try {
            return decodeEntry(value);
          } catch (err) {
            throw new StorageError(
              StorageErrorCode.CorruptLog,
              `data dir ${dataDir}: raft log entry ${key.toString('hex')} is corrupt (${(err as Error).message}); ` +
                'restore this member from a snapshot, or remove it from the cluster and add it back empty.',
            );
          }
        });
        await wal.append(entries);
        moved += entries.length;
      }
    } finally {
      await wal.close();
    }
    await rename(aside, walDir);
    await fsyncDir(path.dirname(walDir));
    log.info({ dataDir, entries: moved }, 'moved the raft log from LevelDB to the raft WAL');
  }
  for (;;) {
    const batch = db.batch();
    let n = 0;
    for await (const key of db.keys({ gte: ENTRY_PREFIX, lt: ENTRY_END, limit: ENTRY_DELETE_CHUNK })) {
      batch.del(key);
      n++;
    }
    if (n === 0) {
      await batch.close();
      break;
    }
    await batch.write({ sync: true });
  }
}

/**
 * LevelDB (without paranoid checks, which classic-level cannot turn on) recovers a write-ahead log
 * with a checksum mismatch by dropping the damaged records and going on, silently losing writes we
 * fsynced and acknowledged: a member could come back with an older vote and log. LevelDB does write
 * what it dropped to its info log (<db>/LOG, new at every open), so read it and refuse to start.
 */
async function refuseSilentLogDrops(dataDir: string, dbDir: string): Promise<void> {
  let info: string;
  try {
    info = await readFile(path.join(dbDir, 'LOG'), 'utf8');
  } catch {
    return;
  }
  const dropped = info.split('\n').filter((line) => /dropping \d+ bytes|corruption/i.test(line));
  if (dropped.length === 0) return;
  throw new StorageError(
    StorageErrorCode.CorruptLog,
    `data dir ${dataDir}: LevelDB found damaged records in its write-ahead log and dropped them ` +
      `(${dropped[0]?.trim()}); acknowledged writes may be lost, so this member will not start. ` +
      'Remove this member (etcdctl member remove), wipe the data dir, and add it back to copy the data from the others.',
  );
}

function openError(err: unknown, dataDir: string, dbDir: string): StorageError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code === 'LEVEL_LOCKED') {
    return new StorageError(
      StorageErrorCode.Locked,
      `data dir ${dataDir} is in use: another ketch process (or another open store in this one) holds ${path.join(dbDir, 'LOCK')}`,
      { cause: err },
    );
  }
  const detail = cause?.message ?? (err as Error).message;
  const message = `cannot open the database in data dir ${dataDir}: ${detail}`;
  return new StorageError(StorageErrorCode.OpenFailed, message, { cause: err });
}

async function readRecord<T>(
  db: Db,
  key: Buffer,
  decode: (v: Buffer) => T,
  what: string,
  dataDir: string,
): Promise<T | undefined> {
  const value = await db.get(key);
  return value === undefined ? undefined : decodeRecord(value, decode, what, dataDir);
}

function decodeRecord<T>(value: Buffer, decode: (v: Buffer) => T, what: string, dataDir: string): T {
  try {
    return decode(value);
  } catch (err) {
    throw new StorageError(
      StorageErrorCode.CorruptRecord,
      `data dir ${dataDir}: the ${what} record is corrupt (${(err as Error).message}); restore this member from a snapshot`,
      { cause: err },
    );
  }
}

function invalid(message: string): StorageError {
  return new StorageError(StorageErrorCode.InvalidArgument, message);
}

function validateRaftWrite(r: RaftWrite): void {
  if (r.hardState !== undefined) {
    assertIndex(r.hardState.term, 'hard state term');
    assertIndex(r.hardState.commit, 'hard state commit');
    if (typeof r.hardState.vote !== 'string') throw invalid('hard state vote must be a string');
  }
  if (r.snapshot !== undefined) validateSnapshotMetadata(r.snapshot);
  let prev: Entry | undefined;
  for (const e of r.entries) {
    assertIndex(e.index, 'entry index');
    assertIndex(e.term, 'entry term');
    if (e.type !== EntryType.Normal && e.type !== EntryType.ConfChange) {
      throw invalid(`entry ${e.index} has unknown type ${e.type}`);
    }
    if (!(e.data instanceof Uint8Array)) throw invalid(`entry ${e.index} data must be a Uint8Array`);
    if (prev !== undefined) {
      if (e.index !== prev.index + 1) throw invalid(`entries are not contiguous: ${e.index} follows ${prev.index}`);
      if (e.term < prev.term) throw invalid(`entry ${e.index} has term ${e.term}, lower than ${prev.term} before it`);
    }
    prev = e;
  }
  const first = r.entries[0];
  if (r.snapshot !== undefined && first !== undefined && first.index !== r.snapshot.index + 1) {
    throw invalid(`entries after snapshot ${r.snapshot.index} must start at ${r.snapshot.index + 1}, not ${first.index}`);
  }
}

function validateSnapshotMetadata(m: SnapshotMetadata): void {
  assertIndex(m.index, 'snapshot index');
  assertIndex(m.term, 'snapshot term');
  if (!Array.isArray(m.confState.voters) || !Array.isArray(m.confState.learners)) {
    throw invalid('snapshot confState needs voters and learners arrays');
  }
}

/** App puts are stored sealed with a CRC (see sealAppValue); appRecords opens them. */
function sealAppOp(op: StorageOp): StorageOp {
  return op.type === 'put' ? { type: 'put', key: op.key, value: sealAppValue(op.key, op.value) } : op;
}

function validateAppOps(ops: readonly StorageOp[]): void {
  for (const op of ops) {
    assertAppKey(op.key, 'app key');
    if (op.type === 'put' && !Buffer.isBuffer(op.value)) throw invalid('app value must be a Buffer');
    if (op.type !== 'put' && op.type !== 'del') throw invalid(`unknown op type ${(op as { type: string }).type}`);
  }
}
