/** Stable codes for everything the store refuses or cannot do; the server maps them to its own. */
export enum StorageErrorCode {
  /** Another process (or another MemberStore in this one) holds the data dir's LevelDB LOCK. */
  Locked = 'StorageLocked',
  /** The database could not be opened for another reason (permissions, a damaged manifest...). */
  OpenFailed = 'StorageOpenFailed',
  /** Committed log entries are missing or corrupt: the member must be restored from a snapshot. */
  CorruptLog = 'StorageCorruptLog',
  /** A hard state, snapshot, applied-index or meta record failed its CRC or could not be decoded. */
  CorruptRecord = 'StorageCorruptRecord',
  /** The app state on disk is older than the raft snapshot it should contain. */
  AppBehindSnapshot = 'StorageAppBehindSnapshot',
  /** The caller broke the API's contract (reserved key, gap in the log, stale snapshot...). */
  InvalidArgument = 'StorageInvalidArgument',
  Closed = 'StorageClosed',
  /** A write to LevelDB failed earlier; what is on disk is unknown, so the store stops (fail-stop). */
  Failed = 'StorageFailed',
}

export class StorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StorageError';
  }
}
