// Test access to a member's raft WAL files, to damage them as a disk would (layout:
// src/storage/raft-wal.ts: a 17-byte header frame, then frames [u32 length][kind 2][entry record]).
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';

export const WAL_HEADER_BYTES = 17;
/** Length field and kind byte before each entry record. */
export const WAL_FRAME_HEAD = 5;

export function walDir(dataDir: string): string {
  return path.join(dataDir, 'member', 'wal');
}

/** The WAL segment files, oldest first. */
export function walSegments(dataDir: string): string[] {
  const dir = walDir(dataDir);
  return readdirSync(dir)
    .filter((n) => /^[0-9a-f]{16}\.wal$/.test(n))
    .sort()
    .map((n) => path.join(dir, n));
}

/** Each entry frame of a segment, in file order: its index and [start, end). */
export function entryFrames(file: string): Array<{ index: number; start: number; end: number }> {
  const buf = readFileSync(file);
  const out: Array<{ index: number; start: number; end: number }> = [];
  for (let pos = WAL_HEADER_BYTES; pos + 4 <= buf.length && buf.readUInt32BE(pos) !== 0; ) {
    const end = pos + 4 + buf.readUInt32BE(pos);
    out.push({ index: Number(buf.readBigUInt64BE(pos + WAL_FRAME_HEAD + 2)), start: pos, end });
    pos = end;
  }
  return out;
}

/** The newest frame of entry `index` (or of the last entry), across all segments; undefined if none. */
export function findEntryFrame(dataDir: string, index: number | 'last'): { file: string; index: number; start: number; end: number } | undefined {
  const segments = walSegments(dataDir);
  for (let i = segments.length - 1; i >= 0; i--) {
    const file = segments[i] as string;
    const frames = entryFrames(file);
    const frame = index === 'last' ? frames[frames.length - 1] : frames.filter((f) => f.index === index).pop();
    if (frame !== undefined) return { file, ...frame };
  }
  return undefined;
}

/** XORs the middle byte of an entry's record with 0xff and fsyncs: its CRC then fails. */
export function flipEntryByte(frame: { file: string; start: number; end: number }): void {
  const at = frame.start + WAL_FRAME_HEAD + Math.floor((frame.end - frame.start - WAL_FRAME_HEAD) / 2);
  const fd = openSync(frame.file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    byte[0] = (readFileSync(frame.file)[at] as number) ^ 0xff;
    writeSync(fd, byte, 0, 1, at);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Overwrites an entry's whole frame with zeros, as an append that never reached the disk leaves it. */
export function zeroEntryFrame(frame: { file: string; start: number; end: number }): void {
  const fd = openSync(frame.file, 'r+');
  try {
    writeSync(fd, Buffer.alloc(frame.end - frame.start), 0, frame.end - frame.start, frame.start);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
