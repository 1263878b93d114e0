/** Stable codes for what snapshot status and restore refuse; ketchctl prints the message as is. */
export enum SnapshotErrorCode {
  /** The file is missing or cannot be read. */
  NotFound = 'SnapshotNotFound',
  /** The file ends before the data it announces (a partial copy or an interrupted save). */
  Truncated = 'SnapshotTruncated',
  /** The SHA-256 trailer does not match the data before it. */
  ChecksumMismatch = 'SnapshotChecksumMismatch',
  /** No SHA-256 trailer, and the caller did not say to skip the check (etcdctl's rule). */
  MissingChecksum = 'SnapshotMissingChecksum',
  /** Neither a ketch snapshot nor an etcd (bbolt) database. */
  UnknownFormat = 'SnapshotUnknownFormat',
  /** The structure inside the file is damaged (bad page, bad record, failed integrity check). */
  Corrupt = 'SnapshotCorrupt',
  /** The caller's options are wrong (initial cluster, names, URLs). */
  InvalidArgument = 'SnapshotInvalidArgument',
  /** The target data dir exists and is not empty. */
  DataDirExists = 'SnapshotDataDirExists',
}

export class SnapshotError extends Error {
  constructor(
    readonly code: SnapshotErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SnapshotError';
  }
}

export function corrupt(message: string, cause?: unknown): SnapshotError {
  return new SnapshotError(SnapshotErrorCode.Corrupt, message, cause === undefined ? undefined : { cause });
}
