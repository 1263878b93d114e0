// Snapshot status and restore for ketch and etcd 3.4 snapshot files. Status is light to import;
// restore pulls in LevelDB and the server's state types, so a CLI may import it only when needed.
export { snapshotStatus, type SnapshotStatus } from './snapshot-status.js';
export { restoreSnapshot, parseInitialCluster, type RestoreOptions, type RestoreResult, type RestoredMember } from './snapshot-restore.js';
export { SnapshotError, SnapshotErrorCode } from './snapshot-error.js';
export type { SnapshotFormat } from './snapshot-file.js';
