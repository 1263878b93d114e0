import { openSnapshotFile, type OpenOptions, type SnapshotFormat } from './snapshot-file.js';
import { loadSnapshot, withEtcdBackend } from './snapshot-load.js';

export interface SnapshotStatus {
  /**
   * etcd format: etcdctl 3.4's hash (CRC-32C over every bucket's name, keys and values), equal to
   * what `etcdctl snapshot status` prints. Ketch format: the MVCC hash at the snapshot's revision,
   * equal to what `etcdctl endpoint hashkv` printed for the source cluster at that revision.
   */
  hash: number;
  /** etcd: the main revision of the last record (as etcdctl); ketch: the store's current revision. */
  revision: number;
  /** etcd: the keys of all buckets (as etcdctl); ketch: MVCC revision records, leases and members. */
  totalKey: number;
  /** etcd: the database size (bbolt Tx.Size); ketch: the padded state, without the sha256 trailer. */
  totalSize: number;
  format: SnapshotFormat;
}

/**
 * `snapshot status` for a ketch or etcd 3.4 snapshot file. Verifies the SHA-256 trailer when the
 * file has one (unless skipHashCheck) and, for etcd, runs bbolt's integrity check as etcdctl
 * does. Throws SnapshotError (not found, truncated, checksum mismatch, corrupt, unknown format).
 */
export async function snapshotStatus(path: string, opts: Pick<OpenOptions, 'skipHashCheck'> = {}): Promise<SnapshotStatus> {
  const file = await openSnapshotFile(path, opts);
  if (file.format === 'etcd') {
    return { ...withEtcdBackend(file, undefined, (backend) => backend.status()), format: 'etcd' };
  }
  const loaded = await loadSnapshot(path, { ...opts, skipHashCheck: true }); // verified just above
  const store = loaded.mvcc.store;
  const records = loaded.mvcc.ops.filter((op) => op.key[1] === 0x6b).length; // 'mk': revision records
  return {
    hash: store.hashKV(0).hash >>> 0,
    revision: store.currentRevision,
    totalKey: records + loaded.leases.length + (loaded.ketchState?.membership.members.length ?? 0),
    totalSize: loaded.file.dataBytes,
    format: 'ketch',
  };
}
