/**
 * The key layout of a member's LevelDB. Raft owns 'r', the store's own bookkeeping 's'; every other
 * first byte belongs to the application (MVCC uses 'm').
 *
 *   r/e/<index: u64 BE>  one log entry, in data dirs from before the raft WAL (moved to it at open)
 *   r/hs                 hard state
 *   r/snap               metadata of the newest raft snapshot
 *   r/walreset           index of the newest installed snapshot, whose WAL reset may not have happened
 *   s/applied            applied index, written in the same batch as the app records it covers
 *   s/meta/<name>        small server metadata (member id, cluster id, ...)
 */
import { StorageError, StorageErrorCode } from './storage-error.js';

const RAFT_BYTE = 0x72; // 'r'
const STORE_BYTE = 0x73; // 's'

export const ENTRY_PREFIX = Buffer.from('r/e/');
export const ENTRY_KEY_BYTES = ENTRY_PREFIX.length + 8;
export const HARD_STATE_KEY = Buffer.from('r/hs');
export const SNAPSHOT_KEY = Buffer.from('r/snap');
export const WAL_RESET_KEY = Buffer.from('r/walreset');
export const APPLIED_KEY = Buffer.from('s/applied');
export const META_PREFIX = Buffer.from('s/meta/');

/** Never written: compacting the range [FLUSH_KEY, FLUSH_KEY] makes LevelDB flush its memtable. */
export const FLUSH_KEY = Buffer.from('s/\xffflush', 'latin1');

export function entryKey(index: number): Buffer {
  assertIndex(index, 'entry index');
  const key = Buffer.allocUnsafe(ENTRY_KEY_BYTES);
  ENTRY_PREFIX.copy(key, 0);
  key.writeUInt32BE(Math.floor(index / 0x1_0000_0000), ENTRY_PREFIX.length);
  key.writeUInt32BE(index % 0x1_0000_0000, ENTRY_PREFIX.length + 4);
  return key;
}

/** The index in an entry key, or undefined when the key is not a well-formed entry key. */
export function entryKeyIndex(key: Buffer): number | undefined {
  if (key.length !== ENTRY_KEY_BYTES || !key.subarray(0, ENTRY_PREFIX.length).equals(ENTRY_PREFIX)) return undefined;
  const hi = key.readUInt32BE(ENTRY_PREFIX.length);
  const lo = key.readUInt32BE(ENTRY_PREFIX.length + 4);
  const index = hi * 0x1_0000_0000 + lo;
  return Number.isSafeInteger(index) ? index : undefined;
}

export function metaKey(name: string): Buffer {
  if (name.length === 0) throw new StorageError(StorageErrorCode.InvalidArgument, 'meta key must not be empty');
  return Buffer.concat([META_PREFIX, Buffer.from(name, 'utf8')]);
}

/** The smallest key greater than every key starting with prefix, or undefined if there is none. */
export function prefixEnd(prefix: Buffer): Buffer | undefined {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return undefined;
}

/** App keys and prefixes must stay out of the raft and store namespaces. */
export function assertAppKey(key: Buffer, what: string): void {
  if (!Buffer.isBuffer(key) || key.length === 0) {
    throw new StorageError(StorageErrorCode.InvalidArgument, `${what} must be a non-empty Buffer`);
  }
  const first = key[0] as number;
  if (first === RAFT_BYTE || first === STORE_BYTE) {
    throw new StorageError(
      StorageErrorCode.InvalidArgument,
      `${what} ${JSON.stringify(key.toString('latin1'))} starts with a reserved byte ('r' is raft's, 's' the store's)`,
    );
  }
}

export function assertIndex(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new StorageError(StorageErrorCode.InvalidArgument, `${what} must be a non-negative safe integer, got ${n}`);
  }
}
