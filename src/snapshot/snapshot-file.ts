// A snapshot file on disk, in either of the two formats `snapshot save` writes:
//
//   ketch  the Maintenance.Snapshot stream of a ketch member: body length (u64 BE), the state
//          snapshot (src/server/state-snapshot.ts, magic KETCHST1), zero padding to a multiple of
//          512 bytes, then the SHA-256 of everything before it (32 bytes)
//   etcd   etcd 3.4's bbolt database, followed by its SHA-256 (32 bytes); the database is a whole
//          number of pages, so a file with the hash is 32 bytes past a multiple of 512
//
// etcdctl's rule for the trailer is the same for both: it is there iff size % 512 == 32.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';

import { looksLikeBolt } from './bbolt-reader.js';
import { SnapshotError, SnapshotErrorCode } from './snapshot-error.js';

export type SnapshotFormat = 'ketch' | 'etcd';

const SHA256_BYTES = 32;
const ALIGN_BYTES = 512;
const HEAD_BYTES = 64;
export const KETCH_MAGIC = Buffer.from('KETCHST1');
/** The ketch frame's length prefix. */
export const KETCH_LENGTH_BYTES = 8;

export interface SnapshotFile {
  readonly path: string;
  readonly format: SnapshotFormat;
  readonly fileBytes: number;
  /** Bytes before the SHA-256 trailer (the whole file when there is none). */
  readonly dataBytes: number;
  /** Whether the file ends with a SHA-256 trailer (and, unless skipped, whether it was verified). */
  readonly hasChecksum: boolean;
  readonly checksumVerified: boolean;
}

export interface OpenOptions {
  /** Do not verify the SHA-256 trailer (etcdctl's --skip-hash-check). */
  readonly skipHashCheck?: boolean;
  /** Refuse a file without a trailer unless skipHashCheck (etcdctl snapshot restore does). */
  readonly requireChecksum?: boolean;
}

/** The padded length of a ketch frame holding `bodyBytes`. */
export function ketchFrameBytes(bodyBytes: number): number {
  return Math.ceil((bodyBytes + KETCH_LENGTH_BYTES) / ALIGN_BYTES) * ALIGN_BYTES;
}

/** Finds the format, checks the length and, unless told not to, the SHA-256 trailer. */
export async function openSnapshotFile(path: string, opts: OpenOptions = {}): Promise<SnapshotFile> {
  let fileBytes: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new Error('not a regular file');
    fileBytes = st.size;
  } catch (err) {
    throw new SnapshotError(SnapshotErrorCode.NotFound, `snapshot file ${path}: ${(err as Error).message}`, { cause: err });
  }
  const head = await readRange(path, 0, Math.min(HEAD_BYTES, fileBytes));
  const format = detectFormat(head);
  if (format === undefined) {
    throw new SnapshotError(
      SnapshotErrorCode.UnknownFormat,
      `snapshot file ${path} (${fileBytes} bytes) is neither a ketch snapshot nor an etcd (bbolt) database`,
    );
  }
  const hasChecksum = fileBytes >= ALIGN_BYTES + SHA256_BYTES && fileBytes % ALIGN_BYTES === SHA256_BYTES;
  const dataBytes = hasChecksum ? fileBytes - SHA256_BYTES : fileBytes;

  if (format === 'ketch') {
    // The frame announces its own length, so a cut file is recognised as such before hashing.
    const bodyBytes = Number(head.readBigUInt64BE(0));
    const frame = ketchFrameBytes(bodyBytes);
    if (fileBytes !== frame + SHA256_BYTES && !(opts.skipHashCheck === true && fileBytes === frame)) {
      throw new SnapshotError(
        SnapshotErrorCode.Truncated,
        `snapshot file ${path} is truncated or damaged: it holds ${fileBytes} bytes but its ${bodyBytes}-byte ` +
          `ketch snapshot needs ${frame + SHA256_BYTES} (padded to ${frame}, plus the 32-byte sha256)`,
      );
    }
  } else if (!hasChecksum && opts.requireChecksum === true && opts.skipHashCheck !== true) {
    throw new SnapshotError(
      SnapshotErrorCode.MissingChecksum,
      `snapshot file ${path} has no sha256 trailer (its size ${fileBytes} is not a multiple of 512 plus 32): ` +
        'it is truncated, or a database copied from a data dir; restore it with --skip-hash-check only if you trust it',
    );
  }

  let checksumVerified = false;
  if (hasChecksum && opts.skipHashCheck !== true) {
    const [want, got] = await Promise.all([readRange(path, dataBytes, SHA256_BYTES), sha256(path, dataBytes)]);
    if (!want.equals(got)) {
      throw new SnapshotError(
        SnapshotErrorCode.ChecksumMismatch,
        `snapshot file ${path} is corrupt: its sha256 trailer is ${want.toString('hex')} but the data hashes to ` +
          `${got.toString('hex')}`,
      );
    }
    checksumVerified = true;
  }
  return { path, format, fileBytes, dataBytes, hasChecksum, checksumVerified };
}

function detectFormat(head: Buffer): SnapshotFormat | undefined {
  const magicAt = KETCH_LENGTH_BYTES;
  if (head.length >= magicAt + KETCH_MAGIC.length && head.subarray(magicAt, magicAt + KETCH_MAGIC.length).equals(KETCH_MAGIC)) {
    return 'ketch';
  }
  return looksLikeBolt(head) ? 'etcd' : undefined;
}

export async function readRange(path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    if (done !== length) {
      throw new SnapshotError(SnapshotErrorCode.Truncated, `snapshot file ${path} ended at ${offset + done} while reading ${length} bytes at ${offset}`);
    }
    return buf;
  } finally {
    await fh.close();
  }
}

async function sha256(path: string, bytes: number): Promise<Buffer> {
  const h = createHash('sha256');
  if (bytes === 0) return h.digest();
  for await (const chunk of createReadStream(path, { start: 0, end: bytes - 1, highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
  }
  return h.digest();
}
