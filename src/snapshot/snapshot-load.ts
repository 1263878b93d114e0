// Turns a snapshot file of either format into Ketch's replicated state: the MVCC store (with the
// LevelDB records that persist it) and the leases. Both restore and status start here.

import { canonicalLease, encodeCompactRevision } from '../mvcc/record-codec.js';
import { COMPACT_REVISION_KEY, MvccError, MvccStore, REVISION_PREFIX, type StorageOp } from '../mvcc/index.js';
import { decodeStateSnapshot, type StateSnapshot } from '../server/state-snapshot.js';
import { BoltReader } from './bbolt-reader.js';
import { fileSource } from './byte-source.js';
import { EtcdBackend, etcdProtoTypes, type EtcdProtoTypes } from './etcd-backend.js';
import { corrupt, SnapshotError, SnapshotErrorCode } from './snapshot-error.js';
import { KETCH_LENGTH_BYTES, openSnapshotFile, type OpenOptions, readRange, type SnapshotFile } from './snapshot-file.js';

export interface SnapshotLease {
  /** int64 lease ID, decimal. */
  readonly id: string;
  readonly ttl: number;
}

export interface LoadedSnapshot {
  readonly file: SnapshotFile;
  readonly mvcc: { readonly store: MvccStore; readonly ops: StorageOp[] };
  readonly leases: SnapshotLease[];
  /** What the source had that a restored ketch cluster will not (e.g. etcd auth). */
  readonly warnings: string[];
  /** The ketch state header (ketch format only). */
  readonly ketchState?: Omit<StateSnapshot, 'mvcc'>;
}

/** Opens, verifies and decodes a snapshot file. */
export async function loadSnapshot(path: string, opts: OpenOptions = {}): Promise<LoadedSnapshot> {
  const file = await openSnapshotFile(path, opts);
  return file.format === 'ketch' ? loadKetch(file) : loadEtcd(file);
}

async function loadKetch(file: SnapshotFile): Promise<LoadedSnapshot> {
  const frame = await readRange(file.path, 0, file.dataBytes);
  const bodyBytes = Number(frame.readBigUInt64BE(0));
  const body = frame.subarray(KETCH_LENGTH_BYTES, KETCH_LENGTH_BYTES + bodyBytes);
  let state: StateSnapshot;
  try {
    state = decodeStateSnapshot(body);
  } catch (err) {
    throw corrupt(`snapshot file ${file.path}: the ketch state header does not decode: ${(err as Error).message}`, err);
  }
  // The header is JSON without a checksum of its own (the sha256 trailer covers it), so with
  // skipHashCheck its fields are checked one by one here.
  const leases = checkKetchHeader(file.path, state);
  const mvcc = importMvcc(file.path, () => MvccStore.importSnapshot(state.mvcc));
  const { mvcc: _bytes, ...ketchState } = state;
  return { file, mvcc, leases, warnings: [], ketchState };
}

async function loadEtcd(file: SnapshotFile): Promise<LoadedSnapshot> {
  const types = await etcdProtoTypes();
  return withEtcdBackend(file, types, (backend) => {
    const mvcc = importMvcc(file.path, () => etcdToMvcc(backend));
    const warnings: string[] = [];
    if (backend.authEnabled()) {
      warnings.push(
        "auth was enabled in the etcd cluster; its users, roles and permissions were not imported (ketch does not read etcd's auth buckets); add them again with 'user add' and 'role add'",
      );
    }
    return { file, mvcc, leases: backend.leases(), warnings };
  });
}

/** Opens an etcd snapshot's bbolt database and runs bbolt's integrity check (as etcdctl does) first. */
export function withEtcdBackend<T>(file: SnapshotFile, types: EtcdProtoTypes | undefined, use: (backend: EtcdBackend) => T): T {
  const source = fileSource(file.path, file.dataBytes);
  try {
    const bolt = BoltReader.open(source);
    if (!file.hasChecksum && file.dataBytes !== bolt.dataSize) {
      // A whole database followed by part of a trailer (or by junk): not a file etcdctl wrote.
      throw new SnapshotError(
        SnapshotErrorCode.Truncated,
        `snapshot file ${file.path} is truncated or damaged: ${file.dataBytes - bolt.dataSize} bytes follow its ` +
          `${bolt.dataSize}-byte database where a snapshot has exactly 32 (the sha256 trailer)`,
      );
    }
    const problems = bolt.check();
    if (problems.length > 0) {
      throw corrupt(
        `snapshot file ${file.path}: integrity check failed, ${problems.length} errors found:\n${problems.slice(0, 20).join('\n')}`,
      );
    }
    return use(new EtcdBackend(bolt, types));
  } finally {
    source.close();
  }
}

function checkKetchHeader(path: string, state: StateSnapshot): SnapshotLease[] {
  const bad = (what: string): SnapshotError => corrupt(`snapshot file ${path}: the ketch state header has ${what}`);
  if (!Number.isSafeInteger(state.applied) || state.applied < 0) throw bad(`a bad applied index ${JSON.stringify(state.applied)}`);
  const members = (state.membership as { members?: unknown } | undefined)?.members;
  if (!Array.isArray(members)) throw bad('no member list');
  const leases = state.leases ?? [];
  if (!Array.isArray(leases)) throw bad('a lease list that is not a list');
  return leases.map((l: unknown) => {
    const { id, ttl } = (l ?? {}) as { id?: unknown; ttl?: unknown };
    let canonical: string;
    try {
      canonical = canonicalLease(String(id));
    } catch {
      throw bad(`a bad lease ID ${JSON.stringify(id)}`);
    }
    if (canonical === '0' || typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl < 0) {
      throw bad(`a bad lease ${JSON.stringify(l)}`);
    }
    return { id: canonical, ttl };
  });
}

/** MVCC errors in a snapshot are corruption of the snapshot, reported with the file's name. */
function importMvcc<T>(path: string, run: () => T): T {
  try {
    return run();
  } catch (err) {
    if (err instanceof SnapshotError) throw err;
    if (err instanceof MvccError) throw corrupt(`snapshot file ${path}: ${err.message}`, err);
    throw err;
  }
}

/**
 * etcd's "key" bucket to a Ketch store, the way etcd 3.4 rebuilds its index at startup
 * (mvcc/kvstore.go restore): records are taken byte for byte (Ketch's MVCC records are etcd's);
 * a tombstone of a key with no live generation is skipped (compaction left it orphaned); the
 * current revision is the newest record's or the finished compaction's; a compaction that was
 * scheduled but not finished is finished here.
 */
function etcdToMvcc(backend: EtcdBackend): { store: MvccStore; ops: StorageOp[] } {
  const meta = backend.meta();
  const records: Array<[Buffer, Buffer]> = [];
  if (meta.finishedCompactRevision > 0) {
    records.push([COMPACT_REVISION_KEY, encodeCompactRevision(meta.finishedCompactRevision)]);
  }
  const live = new Map<string, boolean>();
  for (const r of backend.keyRecords()) {
    const key = r.key.toString('latin1');
    if (r.tombstone) {
      if (live.get(key) !== true) continue;
      live.set(key, false);
    } else {
      live.set(key, true);
    }
    records.push([Buffer.concat([REVISION_PREFIX, r.revisionKey]), r.value]);
  }
  const store = MvccStore.load(records);
  if (meta.scheduledCompactRevision > store.compactRevision && meta.scheduledCompactRevision <= store.currentRevision) {
    store.compact(meta.scheduledCompactRevision);
    // Exporting and importing gives the records of exactly the compacted state.
    return MvccStore.importSnapshot(store.exportSnapshot());
  }
  return { store, ops: records.map(([key, value]) => ({ type: 'put', key, value })) };
}
